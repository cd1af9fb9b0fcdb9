import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { isPonderError } from '../../src/errors.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { assertSameBits, tuneEvents } from '../helpers/tune-run.js';

/**
 * `kind: dpo` through the Tuner on a tiny scratch byte model: 16 plain-text pairs (a + b = the sum
 * chosen, a wrong sum rejected). DPO must raise the preference accuracy and the margin on its own
 * training pairs; a stage stopped mid-way and resumed (its reference log-probs read back from the
 * run directory, its pair cursor from the checkpoint) ends bit-identical to an uninterrupted run; a
 * prompt longer than the rows is one line naming the pairs file and the line.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-stages-dpo-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const pairsFile = join(tmp, 'pairs.jsonl');
const lines: string[] = [];
for (let a = 1; a <= 4; a++) for (let b = 1; b <= 4; b++) lines.push(JSON.stringify({ prompt: `${a}+${b}=`, chosen: `${a + b}`, rejected: `${(a + b + 3) % 10}` }));
writeFileSync(pairsFile, `${lines.join('\n')}\n`);

function recipe(name: string, stage: string): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(
    path,
    `model:
  init: scratch
  config: {vocab: bytes, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64}
output: ${join(tmp, name)}
seed: 5
checkpoint_every: 0
stages:
  - name: prefs
    kind: dpo
    data: ${pairsFile}
${stage}
`,
  );
  return path;
}

const stepMetrics = (evs: TuneEvent[]) => evs.filter((e) => e.type === 'step').map((e) => (e.type === 'step' ? e.metrics : {}));

describe('dpo stage', () => {
  it('raises the preference accuracy and margin on its training pairs, with TRL metric names', async () => {
    const evs = await tuneEvents(recipe('learn', '    steps: 10\n    batch_size: 16\n    seq_len: 12\n    beta: 0.5\n    optimizer: {lr: 1.0e-2, schedule: constant, grad_clip: 0}'));
    assert.equal(evs.at(-1)!.type, 'done');
    const m = stepMetrics(evs);
    assert.equal(m.length, 10);
    for (const k of ['loss', 'rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies', 'logps/chosen', 'logps/rejected']) assert.ok(k in m[0]!, `metric ${k}`);
    // step 1 sees the starting model, which IS the reference: every reward is 0, loss log 2
    assert.ok(Math.abs(m[0]!['rewards/margins']!) < 1e-3, JSON.stringify(m[0]));
    assert.ok(Math.abs(m[0]!.loss - Math.log(2)) < 1e-3, JSON.stringify(m[0]));
    const last = m.at(-1)!;
    assert.ok(last['rewards/accuracies']! >= 0.9, JSON.stringify(last));
    assert.ok(last['rewards/margins']! > 0.5, JSON.stringify(last));
    assert.ok(last.loss < m[0]!.loss - 0.2, JSON.stringify(last));
    assert.ok(existsSync(join(tmp, 'learn', 'prefs-ref-logps.json')));
  });

  it('stopped mid-stage and resumed, ends bit-identical to an uninterrupted run', async () => {
    const stage = '    steps: 6\n    batch_size: 4\n    seq_len: 12\n    loss: robust\n    label_smoothing: 0.1\n    sft_weight: 0.2\n    optimizer: {lr: 1.0e-2, warmup: 1}';
    await tuneEvents(recipe('whole', stage));
    const part = await tuneEvents(recipe('resumed', stage), { stopAfterStep: 3 });
    assert.equal(part.at(-1)!.type, 'interrupted');
    const ref = readFileSync(join(tmp, 'resumed', 'prefs-ref-logps.json'), 'utf8');
    const rest = await tuneEvents(recipe('resumed', stage), { resume: true });
    assert.equal(rest.at(-1)!.type, 'done');
    assert.equal(stepMetrics(rest).length, 3);
    assert.ok('nll_loss' in stepMetrics(rest)[0]!);
    // the resumed stage kept the stage-start reference rather than recomputing it from moved weights
    assert.equal(readFileSync(join(tmp, 'resumed', 'prefs-ref-logps.json'), 'utf8'), ref);
    assertSameBits(loadModelDir(join(tmp, 'whole', 'final')).weights, loadModelDir(join(tmp, 'resumed', 'final')).weights, 'dpo stopped + resumed vs whole');
  });

  it('a prompt longer than the rows is one line naming the file and the line', async () => {
    await assert.rejects(
      tuneEvents(recipe('long', '    steps: 1\n    batch_size: 2\n    seq_len: 4\n    optimizer: {lr: 1.0e-3}')),
      (e: unknown) => isPonderError(e) && /pairs\.jsonl:1: the prompt is \d+ tokens/.test(e.message) && !e.message.includes('\n'),
    );
  });
});
