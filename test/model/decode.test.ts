import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/model/config.js';
import { Transformer } from '../../src/model/transformer.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights, transformerRef } from '../reference/transformer.js';

const TOL = { rtol: 1e-4, atol: 1e-5 };

function randomSeq(c: ModelConfig, T: number, seed: number): number[] {
  return Array.from(randomInts(T, rng(seed), c.vocab_size));
}

describe('KV-cache decode', () => {
  for (const family of ['llama', 'qwen2', 'qwen3'] as const) {
    it(`${family}: prefill then token-by-token decode == full recompute`, async () => {
      const gpu = await testGpu();
      const c = tinyModelConfig(family);
      const w = tinyModelWeights(c, testSeed);
      const model = Transformer.load(gpu, c, w);
      const V = c.vocab_size;
      const seq = randomSeq(c, 11, testSeed + 7);
      const P = 5;

      // full recompute of the whole sequence (fresh cache, slot 0)
      const fullCache = model.createCache(1, 16);
      const fullT = model.forward([seq], fullCache, [0], [0]);
      const full = await gpu.readF32(fullT);
      fullT.release();
      fullCache.dispose();
      assertClose(`${family} full`, full, transformerRef(c, w, seq), TOL);

      // prefill P tokens into slot 1 of a 2-slot cache, then decode one token at a time
      const cache = model.createCache(2, 16);
      const pre = model.forward([seq.slice(0, P)], cache, [1], [0], { lastOnly: true });
      assertClose(`${family} prefill last`, await gpu.readF32(pre), full.subarray((P - 1) * V, P * V), TOL);
      pre.release();
      for (let t = P; t < seq.length; t++) {
        const step = model.forward([[seq[t]]], cache, [1], [t], { lastOnly: true });
        assert.deepEqual(step.shape, [1, 1, V]);
        assertClose(`${family} decode position ${t}`, await gpu.readF32(step), full.subarray(t * V, (t + 1) * V), TOL);
        step.release();
      }
      cache.dispose();
      model.dispose();
    });
  }

  it('a second prefill chunk continues from the cache (chunked prefill)', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('qwen3');
    const w = tinyModelWeights(c, testSeed);
    const model = Transformer.load(gpu, c, w);
    const seq = randomSeq(c, 9, testSeed + 8);
    const cache = model.createCache(1, 12);
    model.forward([seq.slice(0, 4)], cache, [0], [0], { lastOnly: true }).release();
    const rest = model.forward([seq.slice(4)], cache, [0], [4]);
    const V = c.vocab_size;
    assertClose('chunked prefill', await gpu.readF32(rest), transformerRef(c, w, seq).subarray(4 * V), TOL);
    rest.release();
    cache.dispose();
    model.dispose();
  });
});

describe('fused decode layers (ops/decode-layer.ts)', () => {
  it('a small llama decode step runs one dispatch a layer, with the separate ops\' logits', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('llama');
    const w = tinyModelWeights(c, testSeed);
    const seq = randomSeq(c, 9, testSeed + 9);
    const run = async (fused: boolean) => {
      const model = Transformer.load(gpu, c, w);
      model.fusedDecode = fused;
      const cache = model.createCache(1, 16);
      model.forward([seq.slice(0, 6)], cache, [0], [0], { lastOnly: true }).release();
      const out: number[][] = [];
      let dispatches = 0;
      for (let t = 6; t < seq.length; t++) {
        const d0 = gpu.dispatchCount;
        const step = model.forward([[seq[t]!]], cache, [0], [t], { lastOnly: true });
        dispatches = gpu.dispatchCount - d0;
        out.push([...(await gpu.readF32(step))]);
        step.release();
      }
      cache.dispose();
      model.dispose();
      return { out, dispatches };
    };
    const fused = await run(true);
    const separate = await run(false);
    if (gpu.info.software) assert.ok(fused.dispatches <= c.num_hidden_layers + 5, `${fused.dispatches} dispatches a step (separate ops: ${separate.dispatches})`);
    for (let i = 0; i < fused.out.length; i++) assertClose(`step ${i}`, fused.out[i]!, separate.out[i]!, TOL);
  });
});

describe('batched decode', () => {
  it('3 sequences of different lengths in one forward == one at a time', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('qwen2');
    const w = tinyModelWeights(c, testSeed);
    const model = Transformer.load(gpu, c, w);
    const V = c.vocab_size;
    const lens = [3, 7, 5];
    const steps = 3;
    const seqs = lens.map((n, i) => randomSeq(c, n + steps, testSeed + 20 + i));
    const slots = [2, 0, 3]; // not in row order, slot 1 unused

    const batched = model.createCache(4, 16);
    const single = model.createCache(1, 16);
    // prefill each sequence on its own (different lengths)
    seqs.forEach((s, i) => model.forward([s.slice(0, lens[i])], batched, [slots[i]], [0], { lastOnly: true }).release());

    for (let k = 0; k < steps; k++) {
      const starts = lens.map((n) => n + k);
      const out = model.forward(
        seqs.map((s, i) => [s[starts[i]]]),
        batched,
        slots,
        starts,
        { lastOnly: true },
      );
      assert.deepEqual(out.shape, [3, 1, V]);
      const got = await gpu.readF32(out);
      out.release();
      for (let i = 0; i < 3; i++) {
        // one at a time: the whole prefix through a one-slot cache, last position only
        const prefix = seqs[i].slice(0, starts[i] + 1);
        const one = model.forward([prefix], single, [0], [0], { lastOnly: true });
        const want = await gpu.readF32(one);
        one.release();
        assertClose(`step ${k} seq ${i} vs one-at-a-time`, got.subarray(i * V, (i + 1) * V), want, TOL);
        const ref = transformerRef(c, w, prefix);
        assertClose(`step ${k} seq ${i} vs reference`, got.subarray(i * V, (i + 1) * V), ref.subarray(starts[i] * V), TOL);
      }
    }
    batched.dispose();
    single.dispose();
    model.dispose();
  });
});
