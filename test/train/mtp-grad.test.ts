import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMtpWeight, type ModelConfig, type Weights } from '../../src/model/config.js';
import { IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { TrainableModel } from '../../src/train/trainable.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { mtpRef, tinyModelConfig, tinyModelWeights, transformerRef } from '../reference/transformer.js';

/**
 * Training the MTP modules: TrainableModel.step with mtpWeight λ computes L_main + λ/K·Σ_k L_k, where
 * module k at row t predicts targets[t+k+1] from embed(inputs[t+k+1]) and the previous stage's hidden
 * at row t. Its loss sums are checked against the float64 forward (test/reference/transformer.ts
 * mtpRef) and its gradients against central finite differences of that float64 loss, for sampled
 * elements of every tensor (trunk and modules). With freezeTrunk only the modules' own tensors get
 * gradients, equal to the joint run's.
 */
const B = 2;
const T = 6;
const LAMBDA = 0.6;

function ce(logits: Float64Array, row: number, V: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[row * V + v]!);
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[row * V + v]! - max);
  return max + Math.log(s) - logits[row * V + target]!;
}

/** [main sum, module sums...] and the main target count, from the float64 forward. */
function referenceLosses(c: ModelConfig, w: Weights, inputs: number[][], targets: number[][]): { sums: number[]; count: number } {
  const K = c.num_nextn_predict_layers;
  const V = c.vocab_size;
  const sums = new Array<number>(1 + K).fill(0);
  let count = 0;
  inputs.forEach((ids, b) => {
    const main = transformerRef(c, w, ids);
    targets[b]!.forEach((tg, t) => {
      if (tg === IGNORE_INDEX) return;
      sums[0] += ce(main, t, V, tg);
      count++;
    });
    mtpRef(c, w, ids).forEach((m, k) => {
      for (let t = 0; t + k + 1 < T; t++) {
        const tg = targets[b]![t + k + 1]!;
        if (tg !== IGNORE_INDEX) sums[k + 1] += ce(m.logits, t, V, tg);
      }
    });
  });
  return { sums, count };
}

function objective(c: ModelConfig, w: Weights, inputs: number[][], targets: number[][]): number {
  const { sums, count } = referenceLosses(c, w, inputs, targets);
  const K = c.num_nextn_predict_layers;
  return (sums[0]! + (LAMBDA / K) * sums.slice(1).reduce((a, b) => a + b, 0)) / count;
}

/** The HF tensor and flat index a Param element stands for (input_proj's halves are column slices). */
function hfElement(param: string, i: number, shape: readonly number[]): [string, number] {
  const m = /^(.*)#(hidden|token)$/.exec(param);
  if (!m) return [param.replace(/#\d+$/, ''), i];
  const cols = shape[1]!;
  const r = Math.floor(i / cols);
  return [m[1]!, r * 2 * cols + (m[2] === 'token' ? cols : 0) + (i % cols)];
}

describe('MTP training: loss and gradients vs float64', () => {
  for (const family of ['llama', 'qwen2', 'qwen3'] as const) {
    it(`${family}, 2 modules: loss sums and finite-difference gradients; freezeTrunk keeps the trunk`, async () => {
      const gpu = await testGpu();
      const c = tinyModelConfig(family, { vocab_size: 20, num_nextn_predict_layers: 2 });
      const w32 = tinyModelWeights(c, testSeed + 40);
      const r = rng(testSeed + 41);
      const inputs = Array.from({ length: B }, () => Array.from(randomInts(T, r, c.vocab_size)));
      const targets = Array.from({ length: B }, () => Array.from(randomInts(T, r, c.vocab_size)));
      targets[0]![2] = IGNORE_INDEX;
      targets[1]![T - 1] = IGNORE_INDEX;

      const model = TrainableModel.create(gpu, c, w32);
      const { sums, count } = referenceLosses(c, w32, inputs, targets);
      const loss = model.step(inputs.flat(), targets.flat(), B, T, { gradScale: 1 / count, mtpWeight: LAMBDA });
      const got = await gpu.readF32(loss);
      loss.release();
      assert.equal(got.length, 3);
      sums.forEach((want, k) => assert.ok(Math.abs(got[k]! - want) <= 1e-4 * Math.abs(want) + 1e-5, `loss ${k}: ${got[k]} vs ${want} (seed ${testSeed})`));

      // float64 copies of the weights, perturbed one element at a time
      const w: Weights = new Map([...w32].map(([n, t]) => [n, { shape: t.shape, data: Float64Array.from(t.data) as unknown as Float32Array }]));
      const grads = new Map<string, Float32Array>();
      for (const p of model.params()) grads.set(p.name, await gpu.readF32(p.grad));
      const pick = rng(testSeed + 42);
      const h = 1e-4;
      for (const p of model.params()) {
        const g = grads.get(p.name)!;
        const scale = g.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
        for (let s = 0; s < 3; s++) {
          const i = Math.floor(pick() * g.length);
          const [name, j] = hfElement(p.name, i, p.value.shape);
          const data = w.get(name)!.data;
          const orig = data[j]!;
          data[j] = orig + h;
          const lp = objective(c, w, inputs, targets);
          data[j] = orig - h;
          const lm = objective(c, w, inputs, targets);
          data[j] = orig;
          const fd = (lp - lm) / (2 * h);
          assert.ok(Math.abs(fd - g[i]!) <= 2e-4 * scale + 2e-5, `${p.name}[${i}]: GPU ${g[i]}, finite difference ${fd} (seed ${testSeed})`);
        }
      }

      // frozen trunk: the same module gradients, nothing else
      model.zeroGrads();
      model.step(inputs.flat(), targets.flat(), B, T, { gradScale: 1 / count, mtpWeight: LAMBDA, freezeTrunk: true }).release();
      for (const p of model.params()) {
        const g = await gpu.readF32(p.grad);
        if (isMtpWeight(p.name)) {
          const joint = grads.get(p.name)!;
          const scale = joint.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
          g.forEach((x, i) => assert.ok(Math.abs(x - joint[i]!) <= 1e-5 * scale + 1e-7, `${p.name}[${i}] frozen ${x} vs joint ${joint[i]}`));
        } else {
          assert.ok(g.every((x) => x === 0), `${p.name} has a gradient with the trunk frozen`);
        }
      }

      // toWeights joins input_proj's halves back into the HF tensor
      const back = await model.toWeights();
      assert.deepEqual([...back.keys()].sort(), [...w32.keys()].sort());
      assert.deepEqual(back.get('model.mtp_layers.1.input_proj.weight')!.data, w32.get('model.mtp_layers.1.input_proj.weight')!.data);
      model.dispose();
    });
  }

  it('freezeTrunk without MTP is refused; mtpWeight 0 leaves the module sums 0', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('qwen2', { vocab_size: 20, num_nextn_predict_layers: 1 });
    const model = TrainableModel.create(gpu, c, tinyModelWeights(c, testSeed));
    const ids = Array.from({ length: T }, (_, i) => i);
    assert.throws(() => model.step(ids, ids, 1, T, { gradScale: 1, freezeTrunk: true }), /freezeTrunk trains the MTP modules only/);
    const loss = model.step(ids, ids, 1, T, { gradScale: 1 });
    const v = await gpu.readF32(loss);
    assert.equal(v.length, 2);
    assert.ok(v[0]! > 0);
    assert.equal(v[1], 0);
    loss.release();
    for (const p of model.params()) if (isMtpWeight(p.name)) assert.ok((await gpu.readF32(p.grad)).every((x) => x === 0), p.name);
    model.dispose();
  });
});
