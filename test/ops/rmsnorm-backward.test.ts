import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmsnorm, rmsnormBackward, rmsnormLayout } from '../../src/ops/rmsnorm.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomNormal, rng } from '../helpers/random.js';
import { rmsnormRef } from '../reference/layers.js';
import { numericGrad, rmsnormBackwardRef } from '../reference/layers-backward.js';

const isShapeError = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
// dx subtracts two terms of similar size; dweight sums up to 300 rows in f32.
const TOL = { rtol: 1e-4, atol: 2e-6 };

/**
 * dx = r*dy*w - x*r^3/D*sum(dy*w*x) cancels (exactly 0 in the limit eps -> 0 for D = 1), so f32 can
 * only promise an error relative to the size of the two terms, not of their difference.
 */
function assertDxClose(name: string, actual: Float32Array, dy: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, dim: number, eps: number): void {
  const ref = rmsnormBackwardRef(dy, x, w, dim, eps).dx;
  const { rstd } = rmsnormRef(x, w, dim, eps);
  for (let i = 0; i < actual.length; i++) {
    const row = Math.floor(i / dim);
    const r = rstd[row];
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += Math.abs(dy[row * dim + d] * w[d] * x[row * dim + d]);
    const scale = Math.abs(r * dy[i] * w[i % dim]) + (Math.abs(x[i]) * r * r * r * dot) / dim;
    const err = Math.abs(actual[i] - ref[i]);
    if (!(err <= 2e-5 * scale + 1e-30)) {
      assert.fail(`${name}: element ${i} is ${actual[i]}, expected ${ref[i]} (error ${err.toExponential(2)}, term scale ${scale.toExponential(2)})`);
    }
  }
}

describe('rmsnormBackward', () => {
  it('float64 reference matches central finite differences of the forward', () => {
    const r = rng();
    for (const [rows, dim] of [
      [3, 5],
      [2, 1],
      [1, 16],
    ]) {
      const x = Float64Array.from(randomNormal(rows * dim, r, 2));
      const w = Float64Array.from(randomF32(dim, r, 0.5, 1.5));
      const dy = randomNormal(rows * dim, r);
      const eps = 1e-3; // large enough to matter in the derivative
      const ref = rmsnormBackwardRef(dy, x, w, dim, eps);
      const fwd = (inp: Float64Array[]) => rmsnormRef(inp[0], inp[1], dim, eps).out;
      // dx's two terms cancel (to ~0 for dim 1), so the error is held against their size, ~|dy|
      const dyScale = Math.max(...Array.from(dy, Math.abs));
      assertClose(`dx [${rows}x${dim}] vs finite differences`, ref.dx, numericGrad(fwd, [x, w], 0, dy), { rtol: 1e-7, atol: 1e-8, scale: dyScale });
      assertClose(`dweight [${rows}x${dim}] vs finite differences`, ref.dweight, numericGrad(fwd, [x, w], 1, dy), { rtol: 1e-7, atol: 1e-8 });
    }
  });

  const shapes: number[][] = [];
  for (const rows of [1, 7, 33, 300]) for (const dim of [1, 7, 33, 129]) shapes.push([rows, dim]);
  shapes.push([3, 896], [5, 4, 64], [2, 3, 4, 128], [1000, 8]);

  for (const shape of shapes) {
    it(`matches the float64 reference for x [${shape.join('x')}], accumulates, bit-identical on a rerun`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const dim = shape[shape.length - 1];
      const n = shape.reduce((a, b) => a * b, 1);
      const rows = n / dim;
      const eps = 1e-6;
      const x = randomNormal(n, r, 2);
      const w = randomF32(dim, r, 0.5, 1.5);
      const dy = randomNormal(n, r);
      const ref = rmsnormBackwardRef(dy, x, w, dim, eps);
      const [tx, tw, tdy] = [gpu.upload(x, shape), gpu.upload(w, [dim]), gpu.upload(dy, shape)];
      const rstd = poisoned(gpu, [rows]);
      rmsnorm(gpu, tx, tw, { eps, rstd });
      const dx = poisoned(gpu, shape);
      const dweight = poisoned(gpu, [dim]);
      const res = rmsnormBackward(gpu, tdy, tx, tw, rstd, { dx, dweight });
      assert.equal(res.dx, dx);
      assert.equal(res.dweight, dweight);
      const dx1 = await gpu.readF32(dx);
      const dw1 = await gpu.readF32(dweight);
      assertDxClose('dx', dx1, dy, x, w, dim, eps);
      assertClose('dweight', dw1, ref.dweight, TOL);

      // Rerun: bit-identical. Then accumulate a second micro-batch onto dweight.
      const again = rmsnormBackward(gpu, tdy, tx, tw, rstd, { dweight: gpu.upload(new Float32Array(dim), [dim]) });
      assert.deepEqual(await gpu.readF32(again.dx), dx1, 'dx rerun is bit-identical');
      assert.deepEqual(await gpu.readF32(again.dweight), dw1, 'dweight rerun is bit-identical');
      const init = randomNormal(dim, r);
      const acc = gpu.upload(init, [dim]);
      rmsnormBackward(gpu, tdy, tx, tw, rstd, { dweight: acc, accumulate: true });
      assertClose('dweight accumulated', await gpu.readF32(acc), ref.dweight.map((v, i) => v + init[i]), TOL);

      // accumulateDx adds dx into what dx held: exactly the f32 sum of what it held and the dx above
      // (checked against the float64 reference there), the add addInPlace would do
      const base = randomNormal(n, r);
      const into = gpu.upload(base, shape);
      rmsnormBackward(gpu, tdy, tx, tw, rstd, { dx: into, dweight: gpu.upload(new Float32Array(dim), [dim]), accumulateDx: true });
      const summed = await gpu.readF32(into);
      assert.deepEqual(summed, Float32Array.from(base, (b, i) => b + dx1[i]!), 'accumulated dx is base + dx in f32');
    });
  }

  it('gives the same result for other dx thread layouts (the GPU choice, scalar and vec4)', async () => {
    const gpu = await testGpu();
    const r = rng();
    for (const [rows, dim] of [
      [7, 896],
      [33, 64],
      [5, 130],
    ]) {
      const x = randomNormal(rows * dim, r);
      const w = randomF32(dim, r, 0.5, 1.5);
      const dy = randomNormal(rows * dim, r);
      const ref = rmsnormBackwardRef(dy, x, w, dim, 1e-6);
      const [tx, tw, tdy] = [gpu.upload(x, [rows, dim]), gpu.upload(w, [dim]), gpu.upload(dy, [rows, dim])];
      const rstd = gpu.empty([rows]);
      rmsnorm(gpu, tx, tw, { eps: 1e-6, rstd });
      for (const layout of [rmsnormLayout(dim, false), rmsnormLayout(dim, true), { vec4: false, tpr: 8, rpw: 5 }]) {
        const dx = poisoned(gpu, [rows, dim]);
        const dweight = poisoned(gpu, [dim]);
        rmsnormBackward(gpu, tdy, tx, tw, rstd, { dx, dweight, layout });
        const name = `rmsnormBackward [${rows}x${dim}] ${JSON.stringify(layout)}`;
        assertDxClose(`${name} dx`, await gpu.readF32(dx), dy, x, w, dim, 1e-6);
        assertClose(`${name} dweight`, await gpu.readF32(dweight), ref.dweight, TOL);
      }
    }
  });

  it('rejects bad shapes and aliasing with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const [x, dy, w, rstd, dw] = [gpu.empty([4, 8]), gpu.empty([4, 8]), gpu.empty([8]), gpu.empty([4]), gpu.empty([8])];
    assert.throws(() => rmsnormBackward(gpu, gpu.empty([4, 9]), x, w, rstd, { dweight: dw }), isShapeError(/rmsnormBackward: dy has shape \[4x9\], expected \[4x8\]/));
    assert.throws(() => rmsnormBackward(gpu, dy, x, gpu.empty([9]), rstd, { dweight: dw }), isShapeError(/weight has shape \[9\], expected \[8\].*\[4x8\]/));
    assert.throws(() => rmsnormBackward(gpu, dy, x, w, gpu.empty([5]), { dweight: dw }), isShapeError(/rstd has 5 elements \(shape \[5\]\), expected 4/));
    assert.throws(() => rmsnormBackward(gpu, dy, x, w, rstd, { dweight: gpu.empty([4]) }), isShapeError(/dweight has shape \[4\], expected \[8\]/));
    assert.throws(() => rmsnormBackward(gpu, dy, x, w, rstd, { dweight: dw, dx: gpu.empty([8, 4]) }), isShapeError(/dx has shape \[8x4\], expected \[4x8\]/));
    assert.throws(() => rmsnormBackward(gpu, dy, x, w, rstd, { dweight: dw, dx: dy }), isShapeError(/dx must not share a buffer/));
    assert.throws(() => rmsnormBackward(gpu, dy, gpu.empty([4, 8], 'u32'), w, rstd, { dweight: dw }), isShapeError(/x is u32, expected f32/));
  });
});
