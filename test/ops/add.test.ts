import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { add, addInPlace } from '../../src/ops/add.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, rng } from '../helpers/random.js';
import { addRef } from '../reference/elementwise.js';

describe('add', () => {
  for (const n of [1, 7, 33, 129, 1000, 70_001]) {
    it(`matches the float64 reference for ${n} elements`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const a = randomF32(n, r);
      const b = randomF32(n, r);
      const ta = gpu.upload(a, [n]);
      const tb = gpu.upload(b, [n]);
      const out = poisoned(gpu, [n]);
      add(gpu, ta, tb, out);
      assertClose('add', await gpu.readF32(out), addRef(a, b), { rtol: 1e-6, atol: 0 });
      addInPlace(gpu, ta, tb);
      assertClose('addInPlace', await gpu.readF32(ta), addRef(a, b), { rtol: 1e-6, atol: 0 });
    });
  }

  it('rejects mismatched shapes with a PonderError naming both', async () => {
    const gpu = await testGpu();
    const a = gpu.empty([3, 4]);
    const b = gpu.empty([4, 3]);
    assert.throws(() => add(gpu, a, b), (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && /\[4x3\].*\[3x4\]/.test(e.message));
  });
});
