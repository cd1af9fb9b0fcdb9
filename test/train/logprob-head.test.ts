import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import type { ModelConfig } from '../../src/model/config.js';
import { IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { TrainableModel } from '../../src/train/trainable.js';
import { float64Weights, readGrads } from '../helpers/chain-grad.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tokenLogprobsRef } from '../reference/logprobs.js';
import { tinyModelConfig, tinyModelWeights, transformerRef } from '../reference/transformer.js';

/** TrainableModel.forwardLogprobs / backwardWeighted: values, the link to step(), and misuse. */

const config = tinyModelConfig('qwen2', { vocab_size: 48 });

function batch(c: ModelConfig, B: number, T: number, seed: number): { inputs: number[]; targets: number[] } {
  const r = rng(seed);
  const inputs = Array.from(randomInts(B * T, r, c.vocab_size));
  const targets = Array.from(randomInts(B * T, r, c.vocab_size));
  targets[0] = IGNORE_INDEX;
  if (B > 1) targets[T + 2] = IGNORE_INDEX;
  return { inputs, targets };
}

const isBad = (code: string, re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === code && re.test(e.message);

describe('TrainableModel.forwardLogprobs', () => {
  it('gives the float64 model’s log-probs and entropies at T = 0.7 (ignored targets: 0 and 0)', async () => {
    const gpu = await testGpu();
    const w = tinyModelWeights(config, testSeed);
    const m = TrainableModel.create(gpu, config, w);
    const B = 2;
    const T = 7;
    const b = batch(config, B, T, testSeed + 1);
    const { logp, entropy } = m.forwardLogprobs(b.inputs, b.targets, B, T, { temperature: 0.7 });
    const wantLp = new Float64Array(B * T);
    const wantH = new Float64Array(B * T);
    for (let r = 0; r < B; r++) {
      const logits = transformerRef(config, float64Weights(w) as never, b.inputs.slice(r * T, (r + 1) * T));
      const ref = tokenLogprobsRef(logits, b.targets.slice(r * T, (r + 1) * T), T, config.vocab_size, 0.7);
      wantLp.set(ref.logp, r * T);
      wantH.set(ref.entropy, r * T);
    }
    assertClose('logp', await gpu.readF32(logp), wantLp, { rtol: 1e-5, atol: 1e-6 });
    // absolute: an entropy sums p·log p over the vocabulary in float32, ~1e-7 off whatever its size
    assertClose('entropy', await gpu.readF32(entropy), wantH, { rtol: 1e-5, atol: 1e-6, scale: 1 });
    logp.release();
    entropy.release();
    m.dispose();
  });
});

describe('TrainableModel.backwardWeighted', () => {
  it('with w = 1/count on every token and T = 1 gives step()’s gradients', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('qwen3', { vocab_size: 48 });
    const m = TrainableModel.create(gpu, c, tinyModelWeights(c, testSeed));
    const B = 2;
    const T = 6;
    const b = batch(c, B, T, testSeed + 2);
    const count = b.targets.filter((t) => t !== IGNORE_INDEX).length;
    m.step(b.inputs, b.targets, B, T, { gradScale: 1 / count }).release();
    const want = await readGrads(m);
    m.zeroGrads();
    const { logp, entropy } = m.forwardLogprobs(b.inputs, b.targets, B, T);
    logp.release();
    entropy.release();
    m.backwardWeighted(new Float32Array(B * T).fill(1 / count));
    const got = await readGrads(m);
    for (const [n, g] of want) {
      assert.ok(g.some((x) => x !== 0), `${n}: step() gave a zero gradient`);
      assertClose(`grad ${n}`, got.get(n)!, g, { rtol: 1e-5, atol: 1e-6 });
    }
    m.dispose();
  });

  it('accumulates: two weighted backwards add up', async () => {
    const gpu = await testGpu();
    const m = TrainableModel.create(gpu, config, tinyModelWeights(config, testSeed));
    const b = batch(config, 1, 5, testSeed + 3);
    const w = Float32Array.from({ length: 5 }, (_, i) => (i - 2) * 0.3);
    const once = async () => {
      const o = m.forwardLogprobs(b.inputs, b.targets, 1, 5, { temperature: 1.3 });
      o.logp.release();
      o.entropy.release();
      m.backwardWeighted(w, { temperature: 1.3 });
    };
    await once();
    const g1 = await readGrads(m);
    await once();
    const g2 = await readGrads(m);
    for (const [n, g] of g1) assertClose(`2x ${n}`, g2.get(n)!, g.map((x) => 2 * x), { rtol: 1e-6, atol: 1e-7 });
    m.dispose();
  });

  it('refuses misuse with one clear BAD_INPUT or DEVICE_LIMIT line', async () => {
    const gpu = await testGpu();
    const m = TrainableModel.create(gpu, config, tinyModelWeights(config, testSeed));
    const b = batch(config, 2, 3, testSeed + 4);
    const w6 = new Float32Array(6).fill(0.1);
    assert.throws(() => m.backwardWeighted(w6), isBad('BAD_INPUT', /backwardWeighted: no forwardLogprobs to differentiate/));
    const run = (temperature = 1) => {
      const o = m.forwardLogprobs(b.inputs, b.targets, 2, 3, { temperature });
      o.logp.release();
      o.entropy.release();
    };
    run();
    assert.throws(() => m.backwardWeighted(new Float32Array(5)), isBad('BAD_INPUT', /5 weights for B\*T = 2\*3/));
    assert.throws(() => m.backwardWeighted(Float32Array.of(0, 0, NaN, 0, 0, 0)), isBad('BAD_INPUT', /weight 2 is NaN/));
    assert.throws(() => m.backwardWeighted(w6, { temperature: 0.5 }), isBad('BAD_INPUT', /temperature 0.5 differs from forwardLogprobs' 1/));
    m.step(b.inputs, b.targets, 2, 3, { gradScale: 1 }).release(); // replaces the activations
    assert.throws(() => m.backwardWeighted(w6), isBad('BAD_INPUT', /no forwardLogprobs/));
    run();
    m.backwardWeighted(w6);
    assert.throws(() => m.backwardWeighted(w6), isBad('BAD_INPUT', /differentiated once/));
    assert.throws(() => m.forwardLogprobs(b.inputs, b.targets, 2, 3, { temperature: 0 }), isBad('BAD_INPUT', /temperature must be a finite number > 0/));
    assert.throws(() => m.forwardLogprobs(b.inputs, b.targets.slice(1), 2, 3), isBad('BAD_INPUT', /5 targets for B\*T = 2\*3/));
    assert.throws(() => m.forwardLogprobs(b.inputs, [...b.targets.slice(1), 48], 2, 3), isBad('BAD_INPUT', /target 5 is 48/));
    m.dispose();
    // logits over one binding: the blocked head is step()'s alone
    const small = TrainableModel.create(gpu, config, tinyModelWeights(config, testSeed), { maxLogitsBytes: 4 * config.vocab_size * 4 });
    assert.throws(() => small.forwardLogprobs(b.inputs, b.targets, 2, 3), isBad('DEVICE_LIMIT', /over one storage binding/));
    small.dispose();
  });
});
