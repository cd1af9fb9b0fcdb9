import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { swiglu } from '../../src/ops/swiglu.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomNormal, rng } from '../helpers/random.js';
import { swigluRef } from '../reference/layers.js';

const TOL = { rtol: 1e-5, atol: 1e-7 };

describe('swiglu', () => {
  for (const shape of [[1], [7], [33], [129], [3, 4, 5], [7, 4864], [70_001]]) {
    it(`matches the float64 reference for [${shape.join('x')}]`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const n = shape.reduce((a, b) => a * b, 1);
      const g = randomNormal(n, r, 4);
      const u = randomF32(n, r, -2, 2);
      const out = poisoned(gpu, shape);
      const tg = gpu.upload(g, shape);
      const tu = gpu.upload(u, shape);
      assert.equal(swiglu(gpu, tg, tu, out), out);
      assertClose('swiglu', await gpu.readF32(out), swigluRef(g, u), TOL);
      assertClose('swiglu (allocated out)', await gpu.readF32(swiglu(gpu, tg, tu)), swigluRef(g, u), TOL);
    });
  }

  it('stays finite for large |gate| (no inf/NaN at +-100, +-1e30)', async () => {
    const gpu = await testGpu();
    const g = new Float32Array([100, -100, 88.7, -88.7, 89, -89, 1e30, -1e30, 0, -0, 20, -20, 1e-30, -1e-30, 3.4e38, -3.4e38]);
    const u = new Float32Array(g.length).fill(0.5);
    const out = poisoned(gpu, [g.length]);
    swiglu(gpu, gpu.upload(g, [g.length]), gpu.upload(u, [g.length]), out);
    const o = await gpu.readF32(out);
    const ref = swigluRef(g, u);
    for (let i = 0; i < o.length; i++) {
      assert.ok(Number.isFinite(o[i]), `swiglu(${g[i]}) = ${o[i]}`);
      // Far-negative gates give silu ~ g * exp(g): denormal or below, which a GPU may flush to 0.
      if (g[i] < -80) assert.ok(Math.abs(o[i]) <= 1e-30, `swiglu(${g[i]}) = ${o[i]}, expected ~${ref[i]}`);
      else assertClose(`swiglu(${g[i]})`, [o[i]], [ref[i]], { rtol: 1e-5, atol: 0 });
    }
  });

  it('rejects bad shapes with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const gate = gpu.empty([4, 6]);
    assert.throws(
      () => swiglu(gpu, gate, gpu.empty([6, 4])),
      (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && /swiglu: up has shape \[6x4\], expected \[4x6\]/.test(e.message),
    );
    assert.throws(
      () => swiglu(gpu, gate, gpu.empty([4, 6]), gpu.empty([24])),
      (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && /out has shape \[24\], expected \[4x6\]/.test(e.message),
    );
  });
});
