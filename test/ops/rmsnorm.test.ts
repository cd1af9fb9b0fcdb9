import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmsnorm, rmsnormLayout } from '../../src/ops/rmsnorm.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomNormal, rng } from '../helpers/random.js';
import { rmsnormRef } from '../reference/layers.js';

const isShapeError = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
const TOL = { rtol: 2e-5, atol: 1e-6 };

describe('rmsnorm', () => {
  const shapes: number[][] = [];
  for (const rows of [1, 7, 300]) for (const dim of [1, 7, 33, 129]) shapes.push([rows, dim]);
  shapes.push([3, 896], [2, 4099], [2, 8192], [5, 4, 64], [2, 3, 4, 128], [70_000, 2]);

  for (const shape of shapes) {
    it(`matches the float64 reference for x [${shape.join('x')}] (with rstd)`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const dim = shape[shape.length - 1];
      const n = shape.reduce((a, b) => a * b, 1);
      const rows = n / dim;
      const x = randomNormal(n, r, 3);
      const w = randomF32(dim, r, 0.5, 1.5);
      const eps = 1e-6;
      const ref = rmsnormRef(x, w, dim, eps);
      const tx = gpu.upload(x, shape);
      const tw = gpu.upload(w, [dim]);
      const out = poisoned(gpu, shape);
      const rstd = poisoned(gpu, [rows]);
      assert.equal(rmsnorm(gpu, tx, tw, { eps, rstd }, out), out);
      assertClose('rmsnorm', await gpu.readF32(out), ref.out, TOL);
      assertClose('rmsnorm rstd', await gpu.readF32(rstd), ref.rstd, TOL);
      const plain = rmsnorm(gpu, tx, tw, { eps });
      assertClose('rmsnorm (no rstd)', await gpu.readF32(plain), ref.out, TOL);
    });
  }

  for (const shape of [[7, 33], [6, 2, 128], [1, 896]]) {
    it(`works in place for x [${shape.join('x')}]`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const dim = shape[shape.length - 1];
      const n = shape.reduce((a, b) => a * b, 1);
      const x = randomNormal(n, r);
      const w = randomF32(dim, r, -2, 2);
      const eps = 1e-5;
      const ref = rmsnormRef(x, w, dim, eps);
      const tx = gpu.upload(x, shape);
      const tw = gpu.upload(w, [dim]);
      const rstd = poisoned(gpu, [n / dim]);
      assert.equal(rmsnorm(gpu, tx, tw, { eps, rstd }, tx), tx);
      assertClose('rmsnorm in place', await gpu.readF32(tx), ref.out, TOL);
      assertClose('rmsnorm in place rstd', await gpu.readF32(rstd), ref.rstd, TOL);
      // A reshaped view of x's buffer counts as in place too.
      const ty = gpu.upload(x, shape);
      rmsnorm(gpu, ty, tw, { eps }, ty.reshape([n / dim, dim]).reshape(shape));
      assertClose('rmsnorm in place (view)', await gpu.readF32(ty), ref.out, TOL);
    });
  }

  // The adapter picks one layout; run the other adapter kind's choice and an odd one here so every
  // path is tested. (Few variants: each is a pipeline, ~0.5-1 s to compile on a cold lavapipe.)
  it('gives the same result for other thread layouts (the GPU choice, scalar and vec4)', async () => {
    const gpu = await testGpu();
    const r = rng();
    for (const [rows, dim] of [
      [7, 896],
      [33, 64],
      [5, 130],
    ]) {
      const x = randomNormal(rows * dim, r);
      const w = randomF32(dim, r, 0.5, 1.5);
      const ref = rmsnormRef(x, w, dim, 1e-6);
      const tx = gpu.upload(x, [rows, dim]);
      const tw = gpu.upload(w, [dim]);
      const gpuLayout = rmsnormLayout(dim, false);
      for (const layout of [gpuLayout, { vec4: false, tpr: 8, rpw: 5 }]) {
        const out = poisoned(gpu, [rows, dim]);
        const rstd = poisoned(gpu, [rows]);
        rmsnorm(gpu, tx, tw, { eps: 1e-6, rstd, layout }, out);
        const name = `rmsnorm [${rows}x${dim}] ${JSON.stringify(layout)}`;
        assertClose(name, await gpu.readF32(out), ref.out, TOL);
        assertClose(`${name} rstd`, await gpu.readF32(rstd), ref.rstd, TOL);
      }
      const ty = gpu.upload(x, [rows, dim]);
      rmsnorm(gpu, ty, tw, { eps: 1e-6, layout: gpuLayout }, ty);
      assertClose(`rmsnorm [${rows}x${dim}] ${JSON.stringify(gpuLayout)} in place`, await gpu.readF32(ty), ref.out, TOL);
    }
  });

  it('handles all-zero rows (rstd = 1/sqrt(eps)) and large values', async () => {
    const gpu = await testGpu();
    const dim = 64;
    const x = new Float32Array(3 * dim);
    for (let i = 0; i < dim; i++) x[dim + i] = 1e18 * (i % 2 ? 1 : -1);
    for (let i = 0; i < dim; i++) x[2 * dim + i] = 1e-18 * (i + 1);
    const w = new Float32Array(dim).fill(1);
    const ref = rmsnormRef(x, w, dim, 1e-6);
    const out = poisoned(gpu, [3, dim]);
    const rstd = poisoned(gpu, [3]);
    rmsnorm(gpu, gpu.upload(x, [3, dim]), gpu.upload(w, [dim]), { eps: 1e-6, rstd }, out);
    const o = await gpu.readF32(out);
    assertClose('rmsnorm zero row', o.subarray(0, dim), ref.out.subarray(0, dim), TOL);
    assertClose('rmsnorm large row', o.subarray(dim, 2 * dim), ref.out.subarray(dim, 2 * dim), TOL);
    assertClose('rmsnorm tiny row', o.subarray(2 * dim), ref.out.subarray(2 * dim), { rtol: 1e-4, atol: 1e-6 });
    assertClose('rmsnorm zero-row rstd', (await gpu.readF32(rstd)).subarray(0, 1), ref.rstd.subarray(0, 1), TOL);
  });

  it('rejects bad shapes with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const x = gpu.empty([4, 8]);
    assert.throws(() => rmsnorm(gpu, x, gpu.empty([9]), { eps: 1e-6 }), isShapeError(/rmsnorm: weight has shape \[9\], expected \[8\].*\[4x8\]/));
    assert.throws(() => rmsnorm(gpu, x, gpu.empty([8]), { eps: 1e-6 }, gpu.empty([8, 4])), isShapeError(/out has shape \[8x4\], expected \[4x8\]/));
    assert.throws(() => rmsnorm(gpu, x, gpu.empty([8]), { eps: 1e-6, rstd: gpu.empty([5]) }), isShapeError(/rstd has 5 elements \(shape \[5\]\), expected 4/));
    assert.throws(() => rmsnorm(gpu, gpu.empty([4, 8], 'u32'), gpu.empty([8]), { eps: 1e-6 }), isShapeError(/x is u32, expected f32/));
    assert.throws(() => rmsnorm(gpu, x, gpu.empty([8]), { eps: NaN }), isShapeError(/eps/));
  });
});
