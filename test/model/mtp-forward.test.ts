import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/gpu/tensor.js';
import { Transformer } from '../../src/model/transformer.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { mtpRef, tinyModelConfig, tinyModelWeights, trunkHiddenRef } from '../reference/transformer.js';

const TOL = { rtol: 1e-4, atol: 1e-5 };

describe('MTP modules (forward)', () => {
  for (const family of ['llama', 'qwen2', 'qwen3'] as const) {
    it(`${family}: trunk hidden and two chained MTP modules == float64 reference`, async () => {
      const gpu = await testGpu();
      const c = tinyModelConfig(family, { num_nextn_predict_layers: 2 });
      const w = tinyModelWeights(c, testSeed + 3);
      const model = Transformer.load(gpu, c, w);
      assert.equal(model.mtpDepth, 2);
      const H = c.hidden_size;
      const V = c.vocab_size;
      const ids = Array.from(randomInts(9, rng(testSeed + 4), V));
      const T = ids.length;
      const ref = mtpRef(c, w, ids);

      const cache = model.createCache(1, 16);
      const hidden = gpu.empty([T, H], 'f32', 'hidden');
      gpu.fill(hidden, Number.NaN);
      model.forward([ids], cache, [0], [0], { lastOnly: true, hiddenOut: hidden }).release();
      assertClose(`${family} trunk hidden`, await gpu.readF32(hidden), trunkHiddenRef(c, w, ids), TOL);

      const mtpCache = model.createMtpCache(1, 16);
      let prev: Tensor = hidden;
      for (let k = 0; k < 2; k++) {
        const rows = T - k - 1;
        const input = gpu.empty([rows, H], 'f32', 'mtp.in');
        gpu.copy(prev, input, 0, 0, rows * H * 4);
        const out = gpu.empty([rows, H], 'f32', 'mtp.out');
        gpu.fill(out, Number.NaN);
        const logits = model.mtpForward(k, input, [ids.slice(k + 1, k + 1 + rows)], mtpCache, [0], [0], { hiddenOut: out });
        assert.deepEqual(logits.shape, [1, rows, V]);
        assertClose(`${family} module ${k} logits`, await gpu.readF32(logits), ref[k]!.logits, TOL);
        assertClose(`${family} module ${k} hidden`, await gpu.readF32(out), ref[k]!.hidden, TOL);
        logits.release();
        input.release();
        if (prev !== hidden) prev.release();
        prev = out;
      }
      prev.release();
      hidden.release();
      cache.dispose();
      mtpCache.dispose();
      model.dispose();
    });
  }

  it('a module continues from its KV cache: chunked rows and lastOnly match the whole', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('qwen2', { num_nextn_predict_layers: 1 });
    const w = tinyModelWeights(c, testSeed + 5);
    const model = Transformer.load(gpu, c, w);
    const H = c.hidden_size;
    const V = c.vocab_size;
    const ids = Array.from(randomInts(10, rng(testSeed + 6), V));
    const ref = mtpRef(c, w, ids)[0]!;
    const trunk = Float32Array.from(trunkHiddenRef(c, w, ids));
    const mtpCache = model.createMtpCache(2, 16);
    // rows 0..4 then 5..8 into slot 1; only the last row's logits each time
    for (const [from, to] of [
      [0, 5],
      [5, 9],
    ] as const) {
      const input = gpu.upload(trunk.subarray(from * H, to * H), [to - from, H]);
      const logits = model.mtpForward(0, input, [ids.slice(from + 1, to + 1)], mtpCache, [1], [from], { lastOnly: true });
      assert.deepEqual(logits.shape, [1, 1, V]);
      assertClose(`rows ${from}..${to - 1} last`, await gpu.readF32(logits), ref.logits.subarray((to - 1) * V, to * V), TOL);
      logits.release();
      input.release();
    }
    mtpCache.dispose();
    model.dispose();
  });

  it('bad calls are one clear error', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('llama');
    const model = Transformer.load(gpu, c, tinyModelWeights(c, testSeed));
    assert.throws(() => model.createMtpCache(1, 8), /no MTP layers/);
    const cache = model.createCache(1, 8);
    const h = gpu.empty([2, c.hidden_size]);
    assert.throws(() => model.mtpForward(0, h, [[1, 2]], cache, [0], [0]), /module 0 does not exist/);
    const c2 = tinyModelConfig('llama', { num_nextn_predict_layers: 1 });
    const m2 = Transformer.load(gpu, c2, tinyModelWeights(c2, testSeed));
    const mc = m2.createMtpCache(1, 8);
    assert.throws(() => m2.mtpForward(0, h, [[1, 2, 3]], mc, [0], [0]), /hidden: f32\[2x32\] must be f32 \[3, 32\]/);
    assert.throws(() => m2.mtpForward(0, h, [[1, 2]], cache, [0], [0]), /KV cache has 2 layers, this needs 1/);
    h.release();
    cache.dispose();
    mc.dispose();
    m2.dispose();
    model.dispose();
  });
});
