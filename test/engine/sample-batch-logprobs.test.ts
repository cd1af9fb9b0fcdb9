/**
 * sampleBatch's optional log-probs: each sampled token's log softmax(logits / T) as the decode loop
 * computed it, held against a float64 recomputation from a full forward over prompt + completion
 * (what a trainer's forward sees), the stop token included as the last entry.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { BYTE_VOCAB_SIZE, ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import { sampleBatch } from '../../src/engine/sample-batch.js';
import { Transformer } from '../../src/model/transformer.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

const tok = new ByteTokenizer();
const config = tinyModelConfig('qwen2', { vocab_size: BYTE_VOCAB_SIZE, max_position_embeddings: 48 });

function logSoftmaxAt(row: Float32Array, t: number, T: number): number {
  let m = -Infinity;
  for (const x of row) m = Math.max(m, x / T);
  let sum = 0;
  for (const x of row) sum += Math.exp(x / T - m);
  return row[t]! / T - m - Math.log(sum);
}

it('log-probs of the sampled tokens match a full forward over prompt + completion (float64 softmax)', async () => {
  const gpu = await testGpu();
  const w = tinyModelWeights(config, testSeed);
  const e = w.get('model.embed_tokens.weight')!;
  e.data = e.data.map((x) => x * 0.15);
  const model = Transformer.load(gpu, config, w);
  const r = rng(testSeed);
  const prompts = [Array.from(randomInts(4, r, 256)), Array.from(randomInts(7, r, 256)), Array.from(randomInts(2, r, 256))];
  const T = 0.8;
  // bytes 0..59 stop a row (about 1 draw in 4), so rows end both ways: on a stop token, whose
  // log-prob comes last, and at the budget
  const stopIds = Array.from({ length: 60 }, (_, i) => i);
  const out = await sampleBatch(gpu, model, tok, prompts, { samples: 4, maxTokens: 6, temperature: T, seed: 5, logprobs: true, stopIds });
  let checked = 0;
  for (const c of out) {
    const toks = [...c.ids, ...(c.stopId !== undefined ? [c.stopId] : [])];
    assert.equal(c.logprobs!.length, toks.length);
    const seq = [...prompts[c.prompt]!, ...toks];
    const cache = model.createCache(1, seq.length);
    const lt = model.forward([seq.slice(0, -1)], cache, [0], [0]);
    const logits = await gpu.readF32(lt);
    lt.release();
    cache.dispose();
    const V = config.vocab_size;
    toks.forEach((t, j) => {
      const pos = prompts[c.prompt]!.length - 1 + j;
      const want = logSoftmaxAt(logits.subarray(pos * V, (pos + 1) * V), t, T);
      assert.ok(Math.abs(c.logprobs![j]! - want) < 2e-4, `prompt ${c.prompt} sample ${c.sample} token ${j}: ${c.logprobs![j]} vs ${want}`);
      checked++;
    });
  }
  assert.ok(out.some((c) => c.stopId !== undefined), 'no row ended on a stop token');
  assert.ok(checked > 10);
  model.dispose();
});
