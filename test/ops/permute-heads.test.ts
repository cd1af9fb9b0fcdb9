import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { permuteHeads } from '../../src/ops/attention-dense.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, rng } from '../helpers/random.js';

/** [A, X, Y, D] -> [A, Y, X, D] on the CPU: a copy, so the GPU must match it exactly. */
function permuteRef(x: Float32Array, A: number, X: number, Y: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let a = 0; a < A; a++) {
    for (let xi = 0; xi < X; xi++) {
      for (let y = 0; y < Y; y++) {
        for (let d = 0; d < D; d++) out[((a * Y + y) * X + xi) * D + d] = x[((a * X + xi) * Y + y) * D + d]!;
      }
    }
  }
  return out;
}

describe('permuteHeads (permute_heads.wgsl)', () => {
  // D % 4 == 0 takes the vec4 entry point (the first spans several workgroups of 4 vec4s a thread,
  // with a tail); other D the element one
  for (const [A, X, Y, D] of [
    [2, 33, 5, 16],
    [1, 7, 3, 8],
    [3, 5, 4, 6],
    [1, 2, 3, 1],
  ] as const) {
    it(`moves [${A}, ${X}, ${Y}, ${D}] to [${A}, ${Y}, ${X}, ${D}] exactly`, async () => {
      const gpu = await testGpu();
      const host = randomF32(A * X * Y * D, rng());
      const x = gpu.upload(host, [A, X, Y, D]);
      const out = poisoned(gpu, [A, Y, X, D]);
      permuteHeads(gpu, x, A, X, Y, D, out);
      assert.deepEqual(await gpu.readF32(out), permuteRef(host, A, X, Y, D));
      x.release();
      out.release();
    });
  }
});
