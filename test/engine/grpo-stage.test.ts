/**
 * The grpo stage through the tuner shell, on the tiny-grpo fixture (a scratch byte model, 4 SFT steps,
 * then 4 GRPO steps with every mechanism on: 2 iterations per batch of samples, dynamic sampling, the
 * easy pool, KL against the stage's starting weights, a format reward and the overlong penalty):
 * TRL's metric names reach metrics.jsonl, each rollout is logged under completions/, and a run stopped
 * inside the GRPO stage (between the two iterations over one batch of samples, so the buffered samples
 * and old log-probs must come from the checkpoint) and resumed ends bit-identical to an uninterrupted
 * run. Bad settings fail with one line before the GPU works.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTuner } from '../../src/engine/tuner.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { parseRecipe } from '../../src/recipe/load.js';
import type { Weights } from '../../src/model/config.js';
import { testGpu } from '../helpers/gpu.js';
import { assertSameBits, tuneEvents } from '../helpers/tune-run.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = readFileSync(join(ROOT, 'test/fixtures/recipes/tiny-grpo.yaml'), 'utf8');
const tmp = mkdtempSync(join(tmpdir(), 'ponder-grpo-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function recipeIn(name: string, edit: (text: string) => string = (t) => t): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(path, edit(FIXTURE.replace(/^output: .*$/m, `output: ${join(tmp, name)}`)));
  return path;
}

const TRL_METRICS = [
  'reward',
  'reward_std',
  'rewards/accuracy/mean',
  'rewards/format/mean',
  'frac_reward_zero_std',
  'completions/mean_length',
  'completions/clipped_ratio',
  'kl',
  'entropy',
  'clip_ratio/low_mean',
  'clip_ratio/high_mean',
];

describe('kind: grpo', () => {
  let uninterrupted: Weights | undefined;

  it('runs after SFT: TRL metrics per step, rollouts logged, the KL reference kept, a report', async () => {
    const events = await tuneEvents(recipeIn('full'));
    const steps = events.filter((e) => e.type === 'step' && e.stage === 1);
    assert.equal(steps.length, 4);
    const stage = events.find((e) => e.type === 'stage' && e.index === 1);
    assert.ok(stage?.type === 'stage' && stage.kind === 'grpo' && stage.headline === 'reward');
    const out = join(tmp, 'full');
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const rl = lines.filter((l) => l.stage === 1 && 'loss' in l);
    assert.equal(rl.length, 4);
    for (const l of rl) {
      for (const m of TRL_METRICS) assert.ok(Number.isFinite(l[m]), `step ${l.step}: ${m} = ${l[m]}`);
      assert.ok(l.reward >= -1.1 && l.reward <= 1.1, `reward ${l.reward} (accuracy + 0.1 format - overlong)`);
      assert.ok(l.frac_reward_zero_std >= 0 && l.frac_reward_zero_std <= 1);
    }
    // the second iteration over a batch trains against the first pass's log-probs: the ratio moves and
    // the KL against the starting weights is positive
    assert.ok(rl.some((l) => l['clip_ratio/region_mean'] > 0 || l.kl > 0), 'no ratio or KL signal in 4 steps');
    assert.equal(rl[0].kl, 0, 'the first step is at the reference');
    // the sampler's and the trainer's log-probs of the same tokens agree to f32 rounding (logged on
    // the steps that sample: 1 and 3)
    for (const l of [rl[0], rl[2]]) {
      assert.ok(l['sampling/sampling_logp_difference/max'] < 1e-3, `sampler/trainer gap ${l['sampling/sampling_logp_difference/max']}`);
      assert.ok(l['sampling/sampling_logp_difference/mean'] <= l['sampling/sampling_logp_difference/max']);
    }
    // sampling happens on steps 1 and 3 (iterations: 2); each rollout is a JSONL file of TRL's columns
    const logs = readdirSync(join(out, 'completions')).sort();
    assert.deepEqual(logs, ['rl-step_00001.jsonl', 'rl-step_00003.jsonl']);
    const rows = readFileSync(join(out, 'completions', logs[0]!), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length % 4, 0, 'whole groups of group_size 4');
    for (const r of rows) for (const k of ['step', 'prompt', 'completion', 'reward', 'advantage']) assert.ok(k in r, `completion row without ${k}`);
    for (let g = 0; g < rows.length; g += 4) {
      const group = rows.slice(g, g + 4);
      assert.ok(group.every((r) => r.prompt === group[0].prompt), 'a group shares its prompt');
      const mean = group.reduce((a, r) => a + r.advantage, 0) / 4;
      assert.ok(Math.abs(mean) < 1e-9, 'advantages are centred within each group');
    }
    assert.ok(existsSync(join(out, 'reference', 'rl', 'config.json')), 'kl_coef > 0 keeps the starting weights');
    assert.ok(existsSync(join(out, 'report.md')));
    uninterrupted = loadModelDir(join(out, 'final')).weights;
  });

  it('stopped between two iterations over one batch, resumed: bit-identical final weights', async () => {
    assert.ok(uninterrupted, 'needs the previous test');
    const path = recipeIn('resumed');
    // global step 5 = GRPO step 1: the samples of step 1 are reused by step 2
    const part = await tuneEvents(path, { stopAfterStep: 5 });
    assert.equal(part.at(-1)!.type, 'interrupted');
    const rest = await tuneEvents(path, { resume: true });
    assert.equal(rest.at(-1)!.type, 'done');
    const resumed = loadModelDir(join(tmp, 'resumed', 'final')).weights;
    assertSameBits(uninterrupted, resumed, 'resumed grpo run');
    // and the rollout of step 3 (after the resume) is the same as the uninterrupted run's
    assert.equal(readFileSync(join(tmp, 'resumed/completions/rl-step_00003.jsonl'), 'utf8'), readFileSync(join(tmp, 'full/completions/rl-step_00003.jsonl'), 'utf8'));
  });

  for (const [what, edit, pattern] of [
    ['group_size 1', (t: string) => t.replace('group_size: 4', 'group_size: 1'), /stages\[1\]\.group_size: must be >= 2/],
    ['no verifier for a reward', (t: string) => t.replace('{name: format, weight: 0.1}', '{name: curiosity, weight: 0.1}'), /unknown reward "curiosity"|reward "curiosity"/],
    ['temperature 0', (t: string) => t.replace('temperature: {from: 1.2, to: 0.8, steps: 3}', 'temperature: 0'), /stages\[1\]\.temperature/],
    ['max_new_tokens over the context', (t: string) => t.replace('max_new_tokens: 8', 'max_new_tokens: 64').replace('overlong: {max: 8, buffer: 2}', ''), /max_new_tokens/],
  ] as [string, (t: string) => string, RegExp][]) {
    it(`${what}: one line naming the field`, async () => {
      const path = recipeIn(`bad-${what.replace(/\W+/g, '-')}`, edit);
      await assert.rejects(async () => {
        const loaded = parseRecipe(readFileSync(path, 'utf8'), path);
        const gpu = await testGpu();
        for await (const _ of runTuner(gpu, loaded)) void _;
      }, (e: Error) => pattern.test(e.message) && !e.message.includes('\n'));
    });
  }

  it('prompts that leave no room for max_new_tokens are refused before sampling', async () => {
    // a one-digit prompt is ~30 tokens in the byte chat format; 30 + 40 > 64
    const path = recipeIn('too-long', (t) => t.replace('max_new_tokens: 8', 'max_new_tokens: 40').replace('overlong: {max: 8, buffer: 2}', ''));
    await assert.rejects(tuneEvents(path), /prompts of up to \d+ tokens \+ max_new_tokens 40 exceed the model's context of 64/);
  });
});
