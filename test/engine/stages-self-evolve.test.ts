import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEvolvePairs, isDegenerate, type ScoredRollout } from '../../src/engine/stages/self-evolve.js';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { assertSameBits, tuneEvents } from '../helpers/tune-run.js';

/**
 * `kind: self_evolve` (SPHERE-style rounds): the pruning and prefix-sharing pair rule on hand-made
 * chains, then rounds through the Tuner on the bundled chat model (two prompt variations x two
 * temperatures): each round reports its pairs and DPO metrics, an eval every round gives its
 * held-out score, and a stage stopped mid-round resumes (the round's pairs and reference read back
 * from the run directory) bit-identical to an uninterrupted run.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-stages-evolve-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const chain = (problem: number, ids: number[], correct: boolean, opts: { firstWrong?: number; finished?: boolean; text?: string } = {}): ScoredRollout => ({
  problem,
  promptIds: [1],
  ids,
  text: opts.text ?? ids.join(' '),
  finished: opts.finished ?? true,
  correct,
  ...(opts.firstWrong !== undefined ? { firstWrong: opts.firstWrong } : {}),
});

function recipe(name: string): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(
    path,
    `model: {init: default, mtp_layers: 0}
output: ${join(tmp, name)}
seed: 4
stages:
  - name: evolve
    kind: self_evolve
    data: {task: arithmetic, n: 16, digits: 1, ops: ['+']}
    rounds: 2
    steps_per_round: 2
    prompts_per_round: 2
    samples: 3
    temperatures: [0.8, 1.3]
    variations: ['{prompt}', 'Compute {prompt}']
    max_new_tokens: 16
    think: false
    batch_size: 2
    beta: 0.5
    optimizer: {lr: 1.0e-3, schedule: constant}
    eval: {task: arithmetic, n: 2, digits: 1, ops: ['+'], every: 2, max_tokens: 16}
`,
  );
  return path;
}

const steps = (evs: TuneEvent[]) => evs.flatMap((e) => (e.type === 'step' ? [e] : []));

describe('self_evolve stage', () => {
  it('prunes duplicates and degenerate chains; pairs share the longest start; a correct answer with a wrong step is flawed', () => {
    assert.equal(isDegenerate(chain(0, [1], true, { finished: false })), true);
    assert.equal(isDegenerate(chain(0, [1, 2], true, { text: 'a\nb\nb\nb' })), true);
    assert.equal(isDegenerate(chain(0, [1, 2], true, { text: 'a\nb\na\nb' })), false);
    const b = buildEvolvePairs(
      [
        chain(0, [1, 2, 3, 4], true),
        chain(0, [9, 9], true),
        chain(0, [1, 2, 3, 7], false, { firstWrong: 2 }),
        chain(0, [1, 2, 3, 7], false), // duplicate
        chain(0, [9, 8], true, { firstWrong: 0 }), // right answer, wrong step: flawed
        chain(0, [5], false),
        chain(0, [6], false, { finished: false }), // degenerate
        chain(1, [1], true), // problem 1: good only
      ],
      2,
    );
    assert.equal(b.pruned, 2);
    assert.equal(b.good, 3);
    assert.equal(b.flawed, 3);
    assert.equal(b.noPair, 1);
    assert.deepEqual(
      b.pairs.map((p) => [p.chosen.ids, p.rejected.ids, p.shared]),
      [
        [[1, 2, 3, 4], [1, 2, 3, 7], 3],
        [[9, 9], [9, 8], 1],
      ],
    );
  });

  it('rounds build pairs and train, report per round with a held-out eval each, and resume mid-round exactly', async () => {
    const whole = await tuneEvents(recipe('whole'));
    assert.equal(whole.at(-1)!.type, 'done');
    const s = steps(whole);
    assert.deepEqual(s.map((e) => e.metrics.round), [1, 1, 2, 2]);
    for (const e of s) {
      const m = e.metrics;
      assert.ok(m.pairs! >= 0 && m.pairs! <= 4 && m.pass_rate! >= 0 && m.pass_rate! <= 1, JSON.stringify(m));
      assert.equal(m.good! + m.flawed! + m.pruned!, 2 * 3 * 2 * 2, JSON.stringify(m));
      if (m.pairs! > 0) assert.ok('rewards/accuracies' in m && Number.isFinite(m.loss), JSON.stringify(m));
    }
    assert.ok(s.some((e) => e.metrics.pairs! > 0), `the rounds built pairs: ${JSON.stringify(s.map((e) => e.metrics))}`);
    // a round's first step sees the round's reference model itself (steps without pairs do not update)
    for (const e of s.filter((_, k) => k % 2 === 0 && s[k]!.metrics.pairs! > 0)) assert.equal(e.metrics['rewards/margins'], 0, JSON.stringify(e.metrics));
    assert.deepEqual(whole.filter((e) => e.type === 'eval').map((e) => e.type === 'eval' && e.step), [2, 4]);
    assert.ok(existsSync(join(tmp, 'whole', 'evolve-round-1.json')) && existsSync(join(tmp, 'whole', 'evolve-round-2.json')));

    await tuneEvents(recipe('resumed'), { stopAfterStep: 3 });
    const rest = await tuneEvents(recipe('resumed'), { resume: true });
    assert.deepEqual(steps(rest).map((e) => e.metrics), s.slice(3).map((e) => e.metrics));
    assertSameBits(loadModelDir(join(tmp, 'whole', 'final')).weights, loadModelDir(join(tmp, 'resumed', 'final')).weights, 'self_evolve resumed mid-round');
  });
});
