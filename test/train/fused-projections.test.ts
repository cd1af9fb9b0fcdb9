import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TrainableModel } from '../../src/train/trainable.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { randomWeights, tinyConfig } from '../helpers/tiny-models.js';

/**
 * The training step's fused projections (trainable.ts): with k/v and gate/up weights back to back in
 * the param arena and the step's activations stacked (rows · width a multiple of 64 floats: rows % 4
 * == 0 for the tiny config), the forward runs k+v and gate+up as one matmul each and the backward
 * their weight grads likewise: 4 dispatches fewer per layer. Their values are checked against the
 * float64 reference by model-grad.test.ts, whose steps (B 2, T 6) take this path; a step of 5 rows
 * takes the other.
 */
describe('TrainableModel fused projections', () => {
  it('a step of 12 rows runs 4 dispatches per layer fewer than one of 5 rows', async () => {
    const gpu = await testGpu();
    const config = tinyConfig('llama', { vocab_size: 263, num_hidden_layers: 3 });
    const model = TrainableModel.create(gpu, config, randomWeights(config, testSeed));
    const r = rng(testSeed);
    const count = async (B: number, T: number) => {
      const ids = () => Array.from(randomInts(B * T, r, 256));
      model.zeroGrads();
      const d0 = gpu.dispatchCount;
      const loss = model.step(ids(), ids(), B, T, { gradScale: 1 });
      const n = gpu.dispatchCount - d0;
      assert.ok(Number.isFinite((await gpu.readF32(loss))[0]!));
      loss.release();
      return n;
    };
    const unfused = await count(1, 5);
    const fused = await count(2, 6);
    assert.equal(unfused - fused, 4 * config.num_hidden_layers, `${fused} vs ${unfused} dispatches`);
    model.dispose();
  });
});
