import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import type { ModelConfig, Weights } from '../../src/model/config.js';
import { Transformer } from '../../src/model/transformer.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights, transformerRef } from '../reference/transformer.js';

const TOL = { rtol: 1e-4, atol: 1e-5 };

function randomSeqs(c: ModelConfig, B: number, T: number, seed: number): number[][] {
  const r = rng(seed);
  return Array.from({ length: B }, () => Array.from(randomInts(T, r, c.vocab_size)));
}

/** Reference logits [B, T, V] for whole sequences starting at position 0. */
function refLogits(c: ModelConfig, w: Weights, seqs: number[][]): Float64Array {
  const parts = seqs.map((s) => transformerRef(c, w, s));
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const cases: { name: string; config: ModelConfig }[] = [
  { name: 'llama, untied', config: tinyModelConfig('llama') },
  { name: 'llama, tied, MHA', config: tinyModelConfig('llama', { tie_word_embeddings: true, num_key_value_heads: 4 }) },
  { name: 'qwen2 (q/k/v bias), tied', config: tinyModelConfig('qwen2') },
  { name: 'qwen3 (qk norm, head_dim 12 != 32/4), tied', config: tinyModelConfig('qwen3') },
  { name: 'qwen3, untied, head_dim 16, 1 kv head', config: tinyModelConfig('qwen3', { tie_word_embeddings: false, head_dim: 16, num_key_value_heads: 1, vocab_size: 130 }) },
];

describe('Transformer.forward vs float64 reference', () => {
  for (const { name, config } of cases) {
    it(name, async () => {
      const gpu = await testGpu();
      const w = tinyModelWeights(config, testSeed);
      const model = Transformer.load(gpu, config, w);
      const cache = model.createCache(3, 16);
      const seqs = randomSeqs(config, 2, 7, testSeed + 1);
      const logits = model.forward(seqs, cache, [2, 0], [0, 0]);
      assert.deepEqual(logits.shape, [2, 7, config.vocab_size]);
      assertClose(`${name} logits`, await gpu.readF32(logits), refLogits(config, w, seqs), TOL);
      logits.release();

      // lastOnly: the last row of each sequence
      const last = model.forward(seqs, cache, [1, 0], [0, 0], { lastOnly: true });
      assert.deepEqual(last.shape, [2, 1, config.vocab_size]);
      const V = config.vocab_size;
      const full = refLogits(config, w, seqs);
      const want = new Float64Array(2 * V);
      for (let b = 0; b < 2; b++) want.set(full.subarray((b * 7 + 6) * V, (b * 7 + 7) * V), b * V);
      assertClose(`${name} last logits`, await gpu.readF32(last), want, TOL);
      last.release();
      cache.dispose();
      model.dispose();
    });
  }

  it('takes tokens as a u32 tensor [B*T]', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('llama');
    const w = tinyModelWeights(c, testSeed);
    const model = Transformer.load(gpu, c, w);
    const cache = model.createCache(1, 8);
    const seqs = randomSeqs(c, 1, 5, testSeed + 2);
    const ids = gpu.upload(Uint32Array.from(seqs[0]), [5]);
    const logits = model.forward(ids, cache, [0], [0]);
    assertClose('tensor tokens', await gpu.readF32(logits), refLogits(c, w, seqs), TOL);
    ids.release();
    logits.release();
    cache.dispose();
    model.dispose();
  });
});

describe('embedding / lm_head row chunks', () => {
  for (const tied of [true, false]) {
    it(`forced chunks of 16 rows give the same logits (${tied ? 'tied' : 'untied'})`, async () => {
      const gpu = await testGpu();
      const c = tinyModelConfig('qwen2', { tie_word_embeddings: tied, vocab_size: 75 });
      const w = tinyModelWeights(c, testSeed);
      const whole = Transformer.load(gpu, c, w);
      const chunked = Transformer.load(gpu, c, w, { maxChunkRows: 16 });
      const seqs = randomSeqs(c, 2, 6, testSeed + 3);
      for (const lastOnly of [false, true]) {
        const c1 = whole.createCache(2, 8);
        const c2 = chunked.createCache(2, 8);
        const a = whole.forward(seqs, c1, [0, 1], [0, 0], { lastOnly });
        const b = chunked.forward(seqs, c2, [0, 1], [0, 0], { lastOnly });
        // vocab chunks of 16 rows may pick another matmul tiling: summation order differs, not values
        assertClose(`chunked lastOnly=${lastOnly}`, await gpu.readF32(b), await gpu.readF32(a), { rtol: 1e-5, atol: 1e-6 });
        a.release();
        b.release();
        c1.dispose();
        c2.dispose();
      }
      whole.dispose();
      chunked.dispose();
    });
  }
});

describe('lm_head in row blocks', () => {
  it('logits over the binding limit are computed in row blocks with the same result', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('llama', { vocab_size: 75 });
    const w = tinyModelWeights(c, testSeed);
    const whole = Transformer.load(gpu, c, w);
    const seqs = randomSeqs(c, 2, 7, testSeed + 4);
    const cache = whole.createCache(2, 8);
    const a = whole.forward(seqs, cache, [0, 1], [0, 0]);
    const want = await gpu.readF32(a);
    a.release();
    // 3 rows of 75 logits per block: 14 rows -> 5 blocks (the last one short); also with vocab chunks
    for (const maxChunkRows of [undefined, 32]) {
      const blocked = Transformer.load(gpu, c, w, { maxLogitsBindingBytes: 3 * 75 * 4 + 8, maxChunkRows });
      const b = blocked.forward(seqs, cache, [0, 1], [0, 0]);
      // a block of 3 rows may pick another matmul tiling than 14 rows do, so the dot products can be
      // summed in another order: float32 reassociation over H terms, not bit equality
      assertClose(`row blocks, chunk rows ${maxChunkRows}`, await gpu.readF32(b), want, { rtol: 1e-5, atol: 1e-6 });
      b.release();
      blocked.dispose();
    }
    cache.dispose();
    whole.dispose();
  });
});

describe('buffers', () => {
  it('activations are planned per shape: repeated calls do not grow the pool, dispose frees everything', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('qwen3');
    // a warm-up model first: ops create their per-device stand-in tensors once, on first use
    const warm = Transformer.load(gpu, c, tinyModelWeights(c, 1));
    const warmCache = warm.createCache(1, 4);
    warm.forward([[1, 2]], warmCache, [0], [0], { lastOnly: true }).release();
    warm.forward([[1]], warmCache, [0], [2]).release();
    warmCache.dispose();
    warm.dispose();
    const before = gpu.pool.bytesLive;
    const model = Transformer.load(gpu, c, tinyModelWeights(c, 1));
    const cache = model.createCache(3, 16);
    const run = (B: number, T: number) => model.forward(randomSeqs(c, B, T, B * 100 + T), cache, [0, 1, 2].slice(0, B), Array(B).fill(0)).release();
    // more shapes than the plans kept, then the same again
    for (const [B, T] of [[1, 3], [2, 3], [3, 1], [1, 5], [2, 2], [3, 4]]) run(B, T);
    const live = gpu.pool.bytesLive;
    for (let i = 0; i < 3; i++) for (const [B, T] of [[1, 3], [2, 3], [3, 1], [1, 5], [2, 2], [3, 4]]) run(B, T);
    assert.equal(gpu.pool.bytesLive, live);
    await gpu.sync();
    cache.dispose();
    model.dispose();
    assert.equal(gpu.pool.bytesLive, before);
  });
});

describe('bad weights and inputs', () => {
  it('a missing tensor -> PonderError naming it', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('qwen3');
    const w = tinyModelWeights(c, 1);
    w.delete('model.layers.1.self_attn.k_norm.weight');
    assert.throws(
      () => Transformer.load(gpu, c, w),
      (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && e.message.includes('model.layers.1.self_attn.k_norm.weight'),
    );
  });

  it('a mis-shaped tensor -> PonderError naming it and both shapes', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('llama');
    const w = tinyModelWeights(c, 1);
    w.set('model.layers.0.mlp.up_proj.weight', { shape: [32, 48], data: new Float32Array(32 * 48) });
    assert.throws(
      () => Transformer.load(gpu, c, w),
      (e: unknown) => e instanceof PonderError && /model\.layers\.0\.mlp\.up_proj\.weight.*\[32x48\].*\[48x32\]/.test(e.message),
    );
  });

  it('positions past the cache, bad slots, ragged rows and bad ids -> PonderError', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('llama');
    const model = Transformer.load(gpu, c, tinyModelWeights(c, 1));
    const cache = model.createCache(2, 8);
    const bad = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof PonderError && re.test(e.message));
    bad(() => model.forward([[1, 2, 3]], cache, [0], [6]), /positions 6\.\.8, past the cache's 8 positions/);
    bad(() => model.forward([[1]], cache, [2], [0]), /slot 2/);
    bad(() => model.forward([[1, 2], [3]], cache, [0, 1], [0, 0]), /differ in length/);
    bad(() => model.forward([[c.vocab_size]], cache, [0], [0]), /outside the vocabulary/);
    bad(() => model.forward([[1]], cache, [0, 1], [0]), /2 slots but 1 starts/);
    cache.dispose();
    model.dispose();
  });
});
