import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { greedyHead, greedyHeadFits } from '../../src/ops/greedy-head.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomF32, rng } from '../helpers/random.js';
import { rmsnormRef } from '../reference/layers.js';
import { matmulRef } from '../reference/matmul.js';
import { argmaxRef } from '../reference/reductions.js';

/**
 * The fused norm + LM head + argmax (one dispatch) against float64: the normed rows it writes, and
 * the token it picks. Its sums run in another order than float64's, so where a row's top two
 * logits are closer than float32 can tell apart, either is a right answer: the check is then that
 * the pick's float64 logit is within that margin of the maximum. Ties (a duplicated head row) go
 * to the lower index, and a NaN row to its first NaN, as ops/argmax does.
 */
describe('greedyHead (GPU vs float64 reference)', () => {
  for (const [R, H, V] of [
    [1, 128, 263],
    [2, 128, 263],
    [4, 64, 1000],
    [3, 20, 7], // fewer vocabulary rows than threads
  ]) {
    it(`matches for R=${R} H=${H} V=${V}`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const eps = 1e-6;
      const x = randomF32(R * H, r, -2, 2);
      const norm = randomF32(H, r, 0.5, 1.5);
      const head = randomF32(V * H, r);
      assert.ok(greedyHeadFits(gpu, gpu.upload(norm, [H]), gpu.upload(head, [V, H]), R, { softwareOnly: false }));
      const normed = gpu.empty([R, H], 'f32');
      const ids = await gpu.readU32(greedyHead(gpu, gpu.upload(x, [R, H]), gpu.upload(norm, [H]), gpu.upload(head, [V, H]), eps, normed));
      const n = rmsnormRef(x, norm, H, eps).out;
      assertClose(`R=${R} normed`, await gpu.readF32(normed), n, { rtol: 1e-5, atol: 1e-6 });
      const logits = matmulRef(n, head, { M: R, N: V, K: H, transB: true });
      const best = argmaxRef(logits, R, V);
      for (let row = 0; row < R; row++) {
        const pick = logits[row * V + ids[row]!]!;
        const max = logits[row * V + best[row]!]!;
        assert.ok(ids[row]! < V && max - pick <= 1e-4 * Math.max(1, Math.abs(max)), `row ${row}: picked ${ids[row]} (logit ${pick}), the maximum is ${best[row]} (${max})`);
      }
    });
  }

  it('ties go to the lower index; a NaN row gives its first NaN', async () => {
    const gpu = await testGpu();
    const H = 8;
    const V = 100;
    const head = randomF32(V * H, rng(), -0.5, 0.5);
    head.fill(0.9, 30 * H, 31 * H); // norm 2.5, over any random row's 1.41: x along it scores highest
    head.copyWithin(80 * H, 30 * H, 31 * H); // rows 30 and 80 equal
    const x = Float32Array.from({ length: 2 * H }, (_, i) => head[30 * H + (i % H)]! * 3); // row 0 points along row 30
    x[H + 2] = NaN;
    const ids = await gpu.readU32(greedyHead(gpu, gpu.upload(x, [2, H]), gpu.upload(new Float32Array(H).fill(1), [H]), gpu.upload(head, [V, H]), 1e-6, gpu.empty([2, H], 'f32')));
    assert.equal(ids[0], 30);
    assert.equal(ids[1], 0, 'every logit of a NaN row is NaN: the first');
  });
});
