import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mtpInput, mtpInputFits } from '../../src/ops/mtp-input.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomF32, randomInts, rng } from '../helpers/random.js';
import { embeddingRef, rmsnormRef } from '../reference/layers.js';
import { addRef } from '../reference/elementwise.js';
import { matmulRef } from '../reference/matmul.js';

/**
 * The fused MTP input (one dispatch) against float64 built from the single-op references:
 * x = projHidden · rmsnorm(hidden) + projToken · rmsnorm(embed[token]), with an out-of-range token
 * (a zero embedding row, as the embedding op gives) among the rows.
 */
describe('mtpInput (GPU vs float64 reference)', () => {
  for (const [R, H, V] of [
    [1, 128, 263], // a draft round's one row at the bundled model's shape
    [2, 128, 263], // two rows (after a rejected draft)
    [5, 36, 40], // more rows than a round has, a width that is not a multiple of the workgroup
    [3, 256, 1000],
  ]) {
    it(`matches for R=${R} H=${H} V=${V}`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const eps = 1e-6;
      const hidden = randomF32(R * H, r, -2, 2);
      const tokens = randomInts(R, r, V);
      if (R > 2) tokens[1] = V + 3; // out of range: a zero row, normed to zero
      const embed = randomF32(V * H, r);
      const hiddenNorm = randomF32(H, r, 0.5, 1.5);
      const tokenNorm = randomF32(H, r, 0.5, 1.5);
      const projHidden = randomF32(H * H, r).map((v) => v * 0.2);
      const projToken = randomF32(H * H, r).map((v) => v * 0.2);
      const up = (a: Float32Array | Uint32Array, shape: number[], dtype: 'f32' | 'u32' = 'f32') => gpu.upload(a, shape, dtype);
      const w = { embed: up(embed, [V, H]), hiddenNorm: up(hiddenNorm, [H]), tokenNorm: up(tokenNorm, [H]), projHidden: up(projHidden, [H, H]), projToken: up(projToken, [H, H]) };
      assert.ok(mtpInputFits(gpu, w, R, { softwareOnly: false }));
      const x = gpu.empty([R, H], 'f32');
      mtpInput(gpu, up(hidden, [R, H]), up(tokens, [R], 'u32'), w, eps, x);
      const nh = rmsnormRef(hidden, hiddenNorm, H, eps).out;
      const ne = rmsnormRef(embeddingRef(tokens, embed, V, H), tokenNorm, H, eps).out;
      const ref = addRef(matmulRef(nh, projHidden, { M: R, N: H, K: H, transB: true }), matmulRef(ne, projToken, { M: R, N: H, K: H, transB: true }));
      assertClose(`R=${R} H=${H} x`, await gpu.readF32(x), ref, { rtol: 1e-4, atol: 1e-5 });
    });
  }

  it('rejects a width the kernel does not take, and declines it in the fit rule', async () => {
    const gpu = await testGpu();
    const H = 6;
    const w = { embed: gpu.empty([4, H], 'f32'), hiddenNorm: gpu.empty([H], 'f32'), tokenNorm: gpu.empty([H], 'f32'), projHidden: gpu.empty([H, H], 'f32'), projToken: gpu.empty([H, H], 'f32') };
    assert.equal(mtpInputFits(gpu, w, 1, { softwareOnly: false }), false);
    assert.throws(() => mtpInput(gpu, gpu.empty([1, H], 'f32'), gpu.empty([1], 'u32'), w, 1e-6, gpu.empty([1, H], 'f32')), (e: unknown) => e instanceof PonderError && /multiples of 4/.test(e.message));
  });
});
