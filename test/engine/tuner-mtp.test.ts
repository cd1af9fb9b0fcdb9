import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTuner, type TunerOptions } from '../../src/engine/tuner.js';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { isPonderError } from '../../src/errors.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { isMtpWeight, type Weights } from '../../src/model/config.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { testGpu } from '../helpers/gpu.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * MTP modules in `ponder tune`: model.mtp_layers keeps, drops or adds them; a stage with mtp: trains
 * them (with freeze_trunk, only them); a stage without leaves them untouched, with a warning.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-tuner-mtp-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const withMtp = tinyConfig('mimo', { num_nextn_predict_layers: 1 });
const withMtpWeights = randomWeights(withMtp, 2);
writeHfModel(join(tmp, 'hf-mtp'), withMtp, withMtpWeights);
writeFileSync(join(tmp, 'hf-mtp', 'generation_config.json'), '{"do_sample": false}\n');
const plain = tinyConfig('qwen2');
const plainWeights = randomWeights(plain, 3);
writeHfModel(join(tmp, 'hf-plain'), plain, plainWeights);

function recipe(name: string, model: string, stage: string): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(
    path,
    [
      `model: ${model}`,
      `output: ${join(tmp, name)}`,
      'stages:',
      `  - {name: a, kind: sft, data: {task: arithmetic, n: 8, digits: 1}, steps: 3, batch_size: 2, seq_len: 40, optimizer: {lr: 1.0e-3}${stage}}`,
      '',
    ].join('\n'),
  );
  return path;
}

async function run(path: string, opts: TunerOptions = {}): Promise<{ events: TuneEvent[]; final: Weights; layers: number }> {
  const gpu = await testGpu();
  const events: TuneEvent[] = [];
  for await (const e of runTuner(gpu, loadRecipe(path), opts)) events.push(e);
  if (opts.stopAfterStep) return { events, final: new Map(), layers: -1 };
  assert.ok(events.some((e) => e.type === 'done'), JSON.stringify(events.filter((e) => e.type === 'warning')));
  const out = loadModelDir(join(tmp, path.replace(/^.*\//, '').replace('.yaml', ''), 'final'));
  return { events, final: out.weights, layers: out.config.num_nextn_predict_layers };
}

function same(a: Weights, b: Weights, names: string[]): boolean {
  return names.every((n) => {
    const x = a.get(n)!.data;
    const y = b.get(n)!.data;
    return x.length === y.length && x.every((v, i) => v === y[i]);
  });
}

describe('tuning with MTP modules', () => {
  it('a stage without mtp: trains the trunk and keeps the MTP layers as they were, with a warning', async () => {
    const { events, final, layers } = await run(recipe('keep', '{init: hf-mtp}', ''));
    assert.ok(events.some((e) => e.type === 'warning' && /no stage trains the model's 1 MTP layers/.test(e.message)));
    assert.equal(layers, 1);
    const mtpNames = [...final.keys()].filter(isMtpWeight);
    assert.ok(mtpNames.length > 0 && same(final, withMtpWeights, mtpNames), 'MTP weights untouched');
    assert.ok(!same(final, withMtpWeights, ['model.layers.0.mlp.up_proj.weight']), 'the trunk trained');
    assert.ok(events.every((e) => e.type !== 'step' || e.mtp_loss === undefined));
  });

  it('mtp_layers: 0 drops them; the starting model\'s generation_config.json comes along', async () => {
    const { events, final, layers } = await run(recipe('drop', '{init: hf-mtp, mtp_layers: 0}', ''));
    assert.equal(layers, 0);
    assert.equal(readFileSync(join(tmp, 'drop', 'final', 'generation_config.json'), 'utf8'), '{"do_sample": false}\n');
    assert.ok(![...final.keys()].some(isMtpWeight));
    assert.ok(!events.some((e) => e.type === 'warning'));
  });

  it('fresh modules on a frozen trunk: only they change; steps report mtp_loss and evals the acceptance', async () => {
    const path = recipe('fresh', '{init: hf-plain, mtp_layers: 1}', ', mtp: {weight: 1, freeze_trunk: true}, eval: {task: arithmetic, n: 2}');
    const { events, final, layers } = await run(path);
    assert.equal(layers, 1);
    assert.ok(same(final, plainWeights, [...plainWeights.keys()]), 'the trunk is bit-identical');
    const steps = events.filter((e) => e.type === 'step');
    assert.equal(steps.length, 3);
    for (const s of steps) assert.ok(s.type === 'step' && s.mtp_loss! > 0 && Number.isFinite(s.mtp_loss!));
    const ev = events.find((e) => e.type === 'eval');
    assert.ok(ev && ev.type === 'eval' && ev.mtp_acceptance! >= 0 && ev.mtp_acceptance! <= 1, JSON.stringify(ev));
  });

  it('joint training changes both; the recipe refuses mtp: without MTP layers and a mismatched mtp_layers', async () => {
    const { final } = await run(recipe('joint', '{init: hf-mtp}', ', mtp: {weight: 0.5}'));
    assert.ok(!same(final, withMtpWeights, ['model.mtp_layers.0.input_proj.weight']));
    assert.ok(!same(final, withMtpWeights, ['model.layers.1.self_attn.q_proj.weight']));
    const bad = (path: string, pattern: RegExp) => {
      try {
        loadRecipe(path);
        assert.fail('loaded');
      } catch (e) {
        assert.ok(isPonderError(e), String(e));
        assert.match(e.message, pattern);
      }
    };
    bad(recipe('no-layers', '{init: hf-plain}', ', mtp: {weight: 0.5}'), /no-layers\.yaml:4: stages\[0\]\.mtp: the model has no MTP layers to train: set model\.mtp_layers/);
    bad(recipe('mismatch', '{init: hf-mtp, mtp_layers: 2}', ''), /mismatch\.yaml:1: model\.mtp_layers: the model has 1 MTP layers: mtp_layers may be 1 \(keep them\) or 0/);
  });

  it('stopped after step 1 and resumed: fresh modules trained with the trunk end bit-identical to an uninterrupted run', async () => {
    const stage = ', mtp: {weight: 0.5}';
    const whole = await run(recipe('whole', '{init: hf-plain, mtp_layers: 1}', stage));
    const path = recipe('parts', '{init: hf-plain, mtp_layers: 1}', stage);
    const first = await run(path, { stopAfterStep: 1 });
    assert.equal(first.events.at(-1)!.type, 'interrupted');
    const rest = await run(path, { resume: true });
    assert.deepEqual(rest.events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && e.step), [2, 3]);
    assert.ok(same(rest.final, whole.final, [...whole.final.keys()]), 'bit-identical final weights');
  });
});
