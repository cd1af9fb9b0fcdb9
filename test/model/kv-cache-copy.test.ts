import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Transformer } from '../../src/model/transformer.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * KvCache.copySlots, the way batched sampling uses it: a prompt prefilled into one slot and copied
 * into others. The copies must hold exactly the prefilled keys and values (bit for bit) and nothing
 * past the prompt, and decoding from a copy must give exactly the logits decoding from the original does.
 */
describe('KvCache.copySlots', () => {
  it('copied slots hold exactly the prefilled K/V and decode like the original', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('qwen3');
    const model = Transformer.load(gpu, c, tinyModelWeights(c, testSeed));
    const S = 4;
    const L = 12;
    const n = 7;
    const cache = model.createCache(S, L);
    for (const t of [...cache.k, ...cache.v]) gpu.fill(t, NaN);
    const prompt = Array.from(randomInts(n, rng(testSeed), c.vocab_size));
    model.forward([prompt], cache, [1], [0], { lastOnly: true }).release();
    cache.copySlots([
      { from: 1, to: 3, positions: n },
      { from: 1, to: 0, positions: n },
    ]);

    const slotSize = c.num_key_value_heads * L * c.head_dim;
    for (const [i, t] of [...cache.k.map((t, i) => [`k${i}`, t] as const), ...cache.v.map((t, i) => [`v${i}`, t] as const)]) {
      const bits = new Uint32Array((await gpu.readF32(t)).buffer.slice(0));
      const slot = (s: number) => bits.subarray(s * slotSize, (s + 1) * slotSize);
      for (let h = 0; h < c.num_key_value_heads; h++) {
        const at = (s: number, lo: number, hi: number) => Array.from(slot(s).subarray((h * L + lo) * c.head_dim, (h * L + hi) * c.head_dim));
        const prefilled = at(1, 0, n);
        assert.ok(prefilled.every((b) => (b & 0x7f800000) !== 0x7f800000), `${i} head ${h}: the prefill wrote non-finite values`);
        for (const s of [0, 3]) {
          assert.deepEqual(at(s, 0, n), prefilled, `${i} head ${h}: slot ${s} holds the prompt`);
          assert.ok(at(s, n, L).every((b) => b === at(2, n, L)[0]), `${i} head ${h}: slot ${s} past the prompt is untouched`);
        }
        assert.ok(at(2, 0, L).every((b) => (b & 0x7fffffff) > 0x7f800000), `${i} head ${h}: slot 2 (no copy) is untouched`);
      }
    }

    // the next token decoded from a copy and from the original: the same logits, bit for bit
    const next = prompt[0]!;
    const logitsAt = async (slot: number) => {
      const l = model.forward([[next]], cache, [slot], [n], { lastOnly: true });
      const out = new Uint32Array((await gpu.readF32(l)).buffer.slice(0));
      l.release();
      return out;
    };
    const original = await logitsAt(1);
    assert.deepEqual(await logitsAt(3), original);
    assert.deepEqual(await logitsAt(0), original);
    cache.dispose();
    model.dispose();
  });
});
