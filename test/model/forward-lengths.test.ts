import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { Transformer } from '../../src/model/transformer.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights, transformerRef } from '../reference/transformer.js';

/**
 * forward's `lengths` (sequences of different lengths in one pass, each padded on the right):
 * each sequence's last real row's logits against the float64 reference of that sequence alone, the
 * cache after the padded pass decoding on exactly as after the sequence alone, and bad lengths
 * refused in one line.
 */
const config = tinyModelConfig('qwen2');
const TOL = { rtol: 1e-4, atol: 1e-5 };

describe('Transformer.forward with lengths (right-padded sequences in one pass)', () => {
  it('gives each sequence its own last-row logits, and a cache that decodes on as the sequence alone', async () => {
    const gpu = await testGpu();
    const w = tinyModelWeights(config, testSeed);
    const model = Transformer.load(gpu, config, w);
    const V = config.vocab_size;
    const r = rng(testSeed + 3);
    const lengths = [3, 9, 1, 6];
    const seqs = lengths.map((n) => Array.from(randomInts(n, r, V)));
    const T = Math.max(...lengths);
    // padding ids past each end: they must change nothing that is read
    const padded = seqs.map((s) => [...s, ...Array.from(randomInts(T - s.length, r, V))]);
    const slots = [2, 0, 3, 1];
    const cache = model.createCache(4, 16);
    const last = model.forward(padded, cache, slots, [0, 0, 0, 0], { lastOnly: true, lengths });
    assert.deepEqual(last.shape, [4, 1, V]);
    const got = await gpu.readF32(last);
    last.release();
    seqs.forEach((s, b) => {
      const ref = transformerRef(config, w, s);
      assertClose(`sequence ${b} (${s.length} tokens) last logits`, got.subarray(b * V, (b + 1) * V), ref.subarray((s.length - 1) * V), TOL);
    });

    // one decode step per sequence at its own end, over the padded pass's cache
    const next = seqs.map((s, b) => (s[0]! + b + 1) % V);
    const step = model.forward(next.map((id) => [id]), cache, slots, lengths, { lastOnly: true });
    const stepped = await gpu.readF32(step);
    step.release();
    seqs.forEach((s, b) => {
      const ref = transformerRef(config, w, [...s, next[b]!]);
      assertClose(`sequence ${b} decoded after the padded pass`, stepped.subarray(b * V, (b + 1) * V), ref.subarray(s.length * V), TOL);
    });

    // the same shape without lengths again: the last rows are row T - 1 once more
    const plain = model.forward(padded, cache, slots, [0, 0, 0, 0], { lastOnly: true });
    const plainGot = await gpu.readF32(plain);
    plain.release();
    padded.forEach((s, b) => {
      const ref = transformerRef(config, w, s);
      assertClose(`padded sequence ${b} at row T - 1`, plainGot.subarray(b * V, (b + 1) * V), ref.subarray((T - 1) * V), TOL);
    });
    cache.dispose();
    model.dispose();
  });

  it('refuses lengths without lastOnly, of the wrong count, or outside 1..T, in one line', async () => {
    const gpu = await testGpu();
    const model = Transformer.load(gpu, config, tinyModelWeights(config, testSeed));
    const cache = model.createCache(2, 8);
    const seqs = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const bad = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message) && !e.message.includes('\n');
    assert.throws(() => model.forward(seqs, cache, [0, 1], [0, 0], { lengths: [3, 2] }), bad(/lengths needs lastOnly/));
    assert.throws(() => model.forward(seqs, cache, [0, 1], [0, 0], { lastOnly: true, lengths: [3] }), bad(/1 lengths for 2 sequences/));
    assert.throws(() => model.forward(seqs, cache, [0, 1], [0, 0], { lastOnly: true, lengths: [3, 4] }), bad(/length 4 of sequence 1 is outside 1\.\.3/));
    assert.throws(() => model.forward(seqs, cache, [0, 1], [0, 0], { lastOnly: true, lengths: [0, 2] }), bad(/length 0 of sequence 0/));
    cache.dispose();
    model.dispose();
  });
});
