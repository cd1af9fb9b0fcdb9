import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { Transformer } from '../../src/model/transformer.js';
import { testGpu } from '../helpers/gpu.js';
import { testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * A prompt longer than one pass of the kernels takes (the attention grid's query rows, the matmuls'
 * rows) on a model whose context allows it: refused by forward with one DEVICE_LIMIT line in prompt
 * terms, not a kernel's "a grid of ... workgroups exceeds ...". The device's real limit needs a prompt
 * of millions of tokens, so the test lowers the limit the check uses (LoadOptions, tests only).
 */
describe('a prompt past what one pass takes', () => {
  it('is refused in prompt terms before anything is dispatched; shorter ones run', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('llama', { vocab_size: 40 });
    const model = Transformer.load(gpu, c, tinyModelWeights(c, testSeed), { maxWorkgroupsPerDimension: 2 });
    const cache = model.createCache(2, 64);
    const long = [Array.from({ length: 60 }, (_, i) => i % 40)];
    assert.throws(
      () => model.forward(long, cache, [0], [0]),
      (e: unknown) => e instanceof PonderError && e.code === 'DEVICE_LIMIT' && !e.message.includes('\n') && /60 tokens in one pass is more than this adapter's (attention|matmuls) takes? \(at most \d+/.test(e.message),
    );
    const ok = model.forward([long[0]!.slice(0, 2)], cache, [0], [0]);
    assert.equal(ok.shape.at(-1), 40);
    ok.release();
    cache.dispose();
    model.dispose();
  });
});
