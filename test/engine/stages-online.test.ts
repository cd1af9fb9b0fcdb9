import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRolloutPairs } from '../../src/engine/stages/rollout-dpo.js';
import { keepVerified } from '../../src/engine/stages/rft.js';
import type { Rollout } from '../../src/engine/stages/rollouts.js';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { assertSameBits, tuneEvents } from '../helpers/tune-run.js';

/**
 * The online preference stages (rft, rollout_dpo) through the Tuner, on the bundled chat model
 * (models/default: it answers one-digit arithmetic right often but not always at temperature 1, so
 * its samples hold both verdicts). RFT trains only on verified, finished, distinct completions;
 * rollout DPO builds correct-vs-incorrect pairs of one prompt, counts the prompts that give none,
 * and trains (reference = the stage's start: margins exactly 0 at the first step); each stage
 * stopped mid-way and resumed ends bit-identical to an uninterrupted run. The pairing and keeping
 * rules are checked on hand-made rollouts.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-stages-online-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function recipe(name: string, stage: string): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(
    path,
    `model: {init: default, mtp_layers: 0}
output: ${join(tmp, name)}
seed: 2
stages:
  - name: online
    data: {task: arithmetic, n: 16, digits: 1, ops: ['+']}
    batch_size: 2
    samples: 4
    max_new_tokens: 16
    think: false
${stage}
`,
  );
  return path;
}

const steps = (evs: TuneEvent[]) => evs.flatMap((e) => (e.type === 'step' ? [e] : []));

const roll = (problem: number, ids: number[], correct: boolean, finished = true): Rollout => ({ problem, promptIds: [1], ids, text: '', finished, correct });

describe('rft and rollout_dpo stages', () => {
  it('keepVerified keeps distinct verified finished completions only', () => {
    const { kept, duplicates } = keepVerified([roll(0, [1], true), roll(0, [1], true), roll(0, [2], false), roll(0, [3], true, false), roll(1, [1], true)]);
    assert.deepEqual(kept.map((r) => [r.problem, r.ids]), [[0, [1]], [1, [1]]]);
    assert.equal(duplicates, 1);
  });

  it('buildRolloutPairs: shortest correct vs distinct incorrect of the same prompt; all/none-correct prompts counted', () => {
    const rs = [
      // prompt 0: two correct (the shorter is chosen first), three incorrect of which two are the same
      roll(0, [5, 5, 5], true), roll(0, [5], true), roll(0, [7], false), roll(0, [7], false), roll(0, [8, 8], false), roll(0, [9], false),
      // prompt 1: all correct; prompt 2: none correct (a correct one cut off does not count)
      roll(1, [1], true), roll(1, [2], true), roll(1, [3], true), roll(1, [4], true), roll(1, [1], true), roll(1, [1], true),
      roll(2, [1], false), roll(2, [2], true, false), roll(2, [3], false), roll(2, [4], false), roll(2, [5], false), roll(2, [6], false),
    ];
    const b = buildRolloutPairs(rs, 6, 5, 1, 0);
    assert.equal(b.allCorrect, 1);
    assert.equal(b.noneCorrect, 1);
    assert.equal(b.pairs.length, 3, 'capped by the 3 distinct incorrect completions');
    assert.deepEqual(b.pairs.map((p) => p.chosen.ids), [[5], [5, 5, 5], [5]]);
    assert.deepEqual(b.pairs.map((p) => p.rejected.ids.join()).sort(), ['7', '8,8', '9']);
    for (const p of b.pairs) assert.ok(p.chosen.problem === 0 && p.rejected.problem === 0);
    assert.equal(buildRolloutPairs(rs, 6, 1, 1, 0).pairs.length, 1);
  });

  it('rft trains only on verified samples, and resumes bit-exactly', async () => {
    const stage = '    kind: rft\n    steps: 4\n    optimizer: {lr: 1.0e-3, schedule: constant}';
    const whole = await tuneEvents(recipe('rft', stage));
    assert.equal(whole.at(-1)!.type, 'done');
    const s = steps(whole);
    assert.equal(s.length, 4);
    let kept = 0;
    for (const e of s) {
      const m = e.metrics;
      assert.ok(m.kept! <= 8 && m.pass_rate! >= 0 && m.pass_rate! <= 1, JSON.stringify(m));
      // kept completions are at most the verified ones (distinct ones of them)
      assert.ok(m.kept! <= Math.round(m.pass_rate! * 8), JSON.stringify(m));
      if (m.kept! === 0) assert.equal(e.skipped, true);
      else assert.ok(m.loss > 0 && Number.isFinite(m.loss));
      kept += m.kept!;
    }
    assert.ok(kept > 0, 'the bundled model solves some one-digit sums');
    await tuneEvents(recipe('rft-resumed', stage), { stopAfterStep: 2 });
    const rest = await tuneEvents(recipe('rft-resumed', stage), { resume: true });
    assert.deepEqual(steps(rest).map((e) => e.metrics), s.slice(2).map((e) => e.metrics));
    assertSameBits(loadModelDir(join(tmp, 'rft', 'final')).weights, loadModelDir(join(tmp, 'rft-resumed', 'final')).weights, 'rft resumed');
  });

  it('rollout_dpo builds pairs and trains against the stage-start reference, and resumes bit-exactly', async () => {
    const stage = '    kind: rollout_dpo\n    steps: 4\n    pairs_per_prompt: 2\n    beta: 0.5\n    optimizer: {lr: 1.0e-3, schedule: constant}';
    const whole = await tuneEvents(recipe('rdpo', stage));
    assert.equal(whole.at(-1)!.type, 'done');
    const s = steps(whole);
    let pairs = 0;
    for (const e of s) {
      const m = e.metrics;
      assert.ok(m.pairs! <= 4 && m.all_correct! + m.none_correct! <= 2, JSON.stringify(m));
      if (m.pairs! > 0) assert.ok('rewards/margins' in m && 'logps/chosen' in m, JSON.stringify(m));
      pairs += m.pairs!;
    }
    assert.ok(pairs > 0, 'some prompts have both correct and incorrect samples');
    const first = s.find((e) => e.metrics.pairs! > 0)!;
    // steps without a pair do not update, so the first step with pairs still has the stage-start
    // weights: policy and reference give identical log-probs
    assert.equal(first.metrics['rewards/margins'], 0, 'the first update compares the reference with itself');
    assert.equal(first.metrics['rewards/chosen'], 0);
    assert.ok(existsSync(join(tmp, 'rdpo', 'reference', 'online', 'config.json')));
    await tuneEvents(recipe('rdpo-resumed', stage), { stopAfterStep: 2 });
    const refBefore = readFileSync(join(tmp, 'rdpo-resumed', 'reference', 'online', 'weights.msgpack'));
    const rest = await tuneEvents(recipe('rdpo-resumed', stage), { resume: true });
    assert.ok(refBefore.equals(readFileSync(join(tmp, 'rdpo-resumed', 'reference', 'online', 'weights.msgpack'))), 'the resumed stage keeps the stage-start reference');
    assert.deepEqual(steps(rest).map((e) => e.metrics), s.slice(2).map((e) => e.metrics));
    assertSameBits(loadModelDir(join(tmp, 'rdpo', 'final')).weights, loadModelDir(join(tmp, 'rdpo-resumed', 'final')).weights, 'rollout_dpo resumed');
  });
});
