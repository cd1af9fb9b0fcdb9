import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import type { ModelConfig, Weights } from '../../src/model/config.js';
import { IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { AdamW } from '../../src/train/optimizer.js';
import { TrainableModel } from '../../src/train/trainable.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { lossRef, toRefWeights, transformerLossAndGrads } from '../reference/transformer-backward.js';
import { tinyModelConfig, tinyModelWeights, transformerRef } from '../reference/transformer.js';

/**
 * f32 GPU vs float64: each gradient tensor within 1e-4 of its largest element (measured: <= ~1.3e-6
 * on these sizes, so ~100x headroom while a wrong term is O(1)).
 */
const GRAD_TOL = { rtol: 1e-3, atol: 1e-4 };

const families: { name: string; config: ModelConfig }[] = [
  { name: 'llama (untied)', config: tinyModelConfig('llama', { vocab_size: 48 }) },
  { name: 'qwen2 (q/k/v bias, tied)', config: tinyModelConfig('qwen2', { vocab_size: 48 }) },
  { name: 'qwen3 (qk norm, head_dim 12, tied)', config: tinyModelConfig('qwen3', { vocab_size: 48 }) },
];

interface Batch {
  B: number;
  T: number;
  inputs: number[][];
  targets: number[][];
}

/** B random rows of T tokens; targets are random too, with `ignored` of them set to IGNORE_INDEX. */
function randomBatch(c: ModelConfig, B: number, T: number, seed: number, ignored = 2): Batch {
  const r = rng(seed);
  const inputs = Array.from({ length: B }, () => Array.from(randomInts(T, r, c.vocab_size)));
  const targets = Array.from({ length: B }, () => Array.from(randomInts(T, r, c.vocab_size)));
  for (let i = 0; i < ignored; i++) targets[Math.floor(r() * B)][Math.floor(r() * T)] = IGNORE_INDEX;
  return { B, T, inputs, targets };
}

function validCount(b: Batch): number {
  return b.targets.flat().filter((t) => t !== IGNORE_INDEX).length;
}

/** Mean token cross-entropy from the float64 reference forward's logits (test/reference/transformer.ts). */
function referenceMeanLoss(c: ModelConfig, w: Weights, b: Batch): number {
  const V = c.vocab_size;
  let sum = 0;
  let n = 0;
  b.inputs.forEach((ids, row) => {
    const logits = transformerRef(c, w, ids);
    b.targets[row].forEach((tg, t) => {
      if (tg === IGNORE_INDEX) return;
      let max = -Infinity;
      for (let i = 0; i < V; i++) max = Math.max(max, logits[t * V + i]);
      let s = 0;
      for (let i = 0; i < V; i++) s += Math.exp(logits[t * V + i] - max);
      sum += max + Math.log(s) - logits[t * V + tg];
      n++;
    });
  });
  return sum / n;
}

async function readGrads(model: TrainableModel): Promise<Map<string, Float32Array>> {
  const gpu = await testGpu();
  const out = new Map<string, Float32Array>();
  for (const p of model.params()) out.set(p.name, new Float32Array(await gpu.readF32(p.grad)));
  return out;
}

async function runStep(model: TrainableModel, b: Batch, gradScale: number): Promise<number> {
  const gpu = await testGpu();
  const loss = model.step(b.inputs.flat(), b.targets.flat(), b.B, b.T, { gradScale });
  const v = (await gpu.readF32(loss))[0];
  loss.release();
  return v;
}

describe('float64 reference backward vs central finite differences', () => {
  for (const { name, config } of families) {
    it(name, () => {
      const c = { ...config, vocab_size: 24, hidden_size: 16, intermediate_size: 24 };
      if (c.family !== 'qwen3') c.head_dim = 4;
      const w = toRefWeights(tinyModelWeights(c, testSeed));
      const b = randomBatch(c, 2, 5, testSeed + 1);
      const { grads } = transformerLossAndGrads(c, w, b.inputs, b.targets);
      const r = rng(testSeed + 2);
      const h = 1e-5;
      for (const [tname, data] of w) {
        const g = grads.get(tname)!;
        let scale = 0;
        for (const x of g) scale = Math.max(scale, Math.abs(x));
        for (let s = 0; s < 3; s++) {
          const i = Math.floor(r() * data.length);
          const orig = data[i];
          data[i] = orig + h;
          const lp = lossRef(c, w, b.inputs, b.targets);
          data[i] = orig - h;
          const lm = lossRef(c, w, b.inputs, b.targets);
          data[i] = orig;
          const fd = (lp - lm) / (2 * h);
          const err = Math.abs(fd - g[i]);
          assert.ok(err <= 1e-6 + 1e-5 * scale, `${name} ${tname}[${i}]: analytic ${g[i]}, finite difference ${fd} (seed ${testSeed})`);
        }
      }
    });
  }
});

describe('TrainableModel loss and gradients vs float64 reference', () => {
  for (const { name, config } of families) {
    it(name, async () => {
      const gpu = await testGpu();
      const w = tinyModelWeights(config, testSeed);
      const model = TrainableModel.create(gpu, config, w);
      const b = randomBatch(config, 2, 7, testSeed + 3);
      const count = validCount(b);
      const sum = await runStep(model, b, 1 / count);
      const want = referenceMeanLoss(config, w, b);
      assert.ok(Math.abs(sum / count - want) <= 1e-5 * Math.abs(want) + 1e-6, `${name}: mean loss ${sum / count}, reference ${want} (seed ${testSeed})`);

      const ref = transformerLossAndGrads(config, toRefWeights(w), b.inputs, b.targets);
      assert.equal(ref.count, count);
      assert.ok(Math.abs(ref.loss / count - want) < 1e-9, 'the two float64 references agree on the loss');
      const got = await readGrads(model);
      assert.deepEqual([...got.keys()].sort(), [...ref.grads.keys()].sort(), 'one Param per weight tensor');
      for (const [tname, g] of ref.grads) {
        assertClose(`${name} grad ${tname}`, got.get(tname)!, g.map((x) => x / count), GRAD_TOL);
      }
      model.dispose();
    });
  }
});

// Rows of 256 and more take the dense attention forward, which keeps q head-major and P for the
// backward (ops/attention-dense.ts keepsDenseAttention): the same loss and gradients as the reference.
describe('TrainableModel on long rows (dense forward, kept P) vs float64 reference', () => {
  it('llama (untied), two rows of 256', async () => {
    const gpu = await testGpu();
    const config = { ...families[0].config, max_position_embeddings: 256 };
    const w = tinyModelWeights(config, testSeed + 8);
    const model = TrainableModel.create(gpu, config, w);
    const b = randomBatch(config, 2, 256, testSeed + 9, 9);
    const count = validCount(b);
    const sum = await runStep(model, b, 1 / count);
    const ref = transformerLossAndGrads(config, toRefWeights(w), b.inputs, b.targets);
    assert.ok(Math.abs(sum - ref.loss) <= 1e-5 * Math.abs(ref.loss), `loss ${sum}, reference ${ref.loss} (seed ${testSeed})`);
    const got = await readGrads(model);
    for (const [tname, g] of ref.grads) assertClose(`long rows grad ${tname}`, got.get(tname)!, g.map((x) => x / count), GRAD_TOL);
    model.dispose();
  });
});

describe('TrainableModel.step', () => {
  const config = families[1].config;

  it('ignored targets contribute no loss and no gradient', async () => {
    const gpu = await testGpu();
    const model = TrainableModel.create(gpu, config, tinyModelWeights(config, testSeed));
    const b = randomBatch(config, 2, 5, testSeed + 4, 0);
    b.targets = b.targets.map((row) => row.map(() => IGNORE_INDEX));
    assert.equal(await runStep(model, b, 1), 0);
    for (const [n, g] of await readGrads(model)) assert.ok(g.every((x) => x === 0), `${n} has a nonzero gradient`);
    model.dispose();
  });

  it('accumulating two batches equals one call with both', async () => {
    const gpu = await testGpu();
    const w = tinyModelWeights(config, testSeed);
    const b1 = randomBatch(config, 1, 6, testSeed + 5);
    const b2 = randomBatch(config, 1, 6, testSeed + 6);
    const both: Batch = { B: 2, T: 6, inputs: [...b1.inputs, ...b2.inputs], targets: [...b1.targets, ...b2.targets] };
    const scale = 1 / validCount(both);
    const m = TrainableModel.create(gpu, config, w);
    const l1 = await runStep(m, b1, scale);
    const l2 = await runStep(m, b2, scale);
    const acc = await readGrads(m);
    m.zeroGrads();
    const l12 = await runStep(m, both, scale);
    const one = await readGrads(m);
    assert.ok(Math.abs(l1 + l2 - l12) <= 1e-5 * Math.abs(l12), `losses ${l1} + ${l2} vs ${l12}`);
    for (const [n, g] of one) assertClose(`accumulated ${n}`, acc.get(n)!, g, { rtol: 1e-4, atol: 1e-5 });
    m.dispose();
  });

  it('is deterministic: the same step twice gives bit-identical loss and gradients', async () => {
    const gpu = await testGpu();
    const c = families[2].config;
    const m = TrainableModel.create(gpu, c, tinyModelWeights(c, testSeed));
    const b = randomBatch(c, 2, 9, testSeed + 7);
    const l1 = await runStep(m, b, 0.05);
    const g1 = await readGrads(m);
    m.zeroGrads();
    const l2 = await runStep(m, b, 0.05);
    const g2 = await readGrads(m);
    assert.equal(l1, l2);
    for (const [n, g] of g1) assert.deepEqual(g2.get(n), g, `${n} differs between runs`);
    m.dispose();
  });

  it('rejects bad inputs with BAD_INPUT', async () => {
    const gpu = await testGpu();
    const m = TrainableModel.create(gpu, config, tinyModelWeights(config, testSeed));
    assert.throws(() => m.backward(), /no forward to differentiate/);
    const bad = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message));
    bad(() => m.step([1, 2, 3], [1, 2, 3], 2, 2, { gradScale: 1 }), /3 inputs for B\*T = 2\*2/);
    bad(() => m.step([1, 2, 3, 4], [1, 2, 3], 2, 2, { gradScale: 1 }), /3 targets for B\*T = 2\*2/);
    bad(() => m.step([1, 2, 3, 999], [1, 2, 3, 4], 2, 2, { gradScale: 1 }), /input 3 is 999/);
    bad(() => m.step([1, 2, 3, 4], [1, 2, 3, 48], 2, 2, { gradScale: 1 }), /target 3 is 48/);
    m.dispose();
    bad(() => m.zeroGrads(), /after dispose/);
  });

  it('30 AdamW steps on a fixed batch drive the loss down', async () => {
    const gpu = await testGpu();
    const c = families[0].config;
    const m = TrainableModel.create(gpu, c, tinyModelWeights(c, testSeed));
    const opt = new AdamW(gpu, m.params(), { lr: 1e-2, weightDecay: 0.01, gradClip: 1 });
    const b = randomBatch(c, 2, 8, testSeed + 8, 0);
    const n = validCount(b);
    const losses: number[] = [];
    for (let s = 0; s < 30; s++) {
      m.zeroGrads();
      losses.push((await runStep(m, b, 1 / n)) / n);
      opt.step(1e-2).release();
    }
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    assert.ok(losses[29] < losses[0] / 5, `loss went from ${losses[0]} to ${losses[29]} (seed ${testSeed})`);
    // toWeights reads the trained master weights back under their HF names
    const w0 = tinyModelWeights(c, testSeed);
    const back = await m.toWeights();
    assert.deepEqual([...back.keys()].sort(), [...w0.keys()].sort());
    assert.notDeepEqual(back.get('model.norm.weight')!.data, w0.get('model.norm.weight')!.data);
    opt.dispose();
    m.dispose();
  });
});
