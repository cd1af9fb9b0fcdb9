import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { swigluBackward } from '../../src/ops/swiglu.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomNormal, rng } from '../helpers/random.js';
import { swigluRef } from '../reference/layers.js';
import { numericGrad, swigluBackwardRef } from '../reference/layers-backward.js';

const isShapeError = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
const TOL = { rtol: 2e-5, atol: 1e-6 };

describe('swigluBackward', () => {
  it('float64 reference matches central finite differences of the forward', () => {
    const r = rng();
    const n = 41;
    const g = Float64Array.from(randomNormal(n, r, 3));
    g[0] = 0;
    g[1] = -12;
    g[2] = 9;
    const u = Float64Array.from(randomNormal(n, r));
    const dy = randomNormal(n, r);
    const ref = swigluBackwardRef(dy, g, u);
    const fwd = (inp: Float64Array[]) => swigluRef(inp[0], inp[1]);
    assertClose('dgate vs finite differences', ref.dgate, numericGrad(fwd, [g, u], 0, dy), { rtol: 1e-7, atol: 1e-8 });
    assertClose('dup vs finite differences', ref.dup, numericGrad(fwd, [g, u], 1, dy), { rtol: 1e-7, atol: 1e-8 });
  });

  for (const shape of [[1], [7], [33], [129], [3, 129], [300, 7], [2, 5, 64], [4, 4864]]) {
    it(`matches the float64 reference for [${shape.join('x')}], bit-identical on a rerun`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const n = shape.reduce((a, b) => a * b, 1);
      const g = randomNormal(n, r, 4);
      const u = randomNormal(n, r);
      const dy = randomNormal(n, r);
      if (n >= 4) [g[0], g[1], g[2], g[3]] = [100, -100, 0, -30];
      const ref = swigluBackwardRef(dy, g, u);
      const [tdy, tg, tu] = [gpu.upload(dy, shape), gpu.upload(g, shape), gpu.upload(u, shape)];
      const dgate = poisoned(gpu, shape);
      const dup = poisoned(gpu, shape);
      const res = swigluBackward(gpu, tdy, tg, tu, { dgate, dup });
      assert.equal(res.dgate, dgate);
      assert.equal(res.dup, dup);
      const a1 = await gpu.readF32(dgate);
      const b1 = await gpu.readF32(dup);
      assertClose('dgate', a1, ref.dgate, TOL);
      assertClose('dup', b1, ref.dup, TOL);
      const again = swigluBackward(gpu, tdy, tg, tu);
      assert.deepEqual(await gpu.readF32(again.dgate), a1);
      assert.deepEqual(await gpu.readF32(again.dup), b1);
    });
  }

  it('rejects bad shapes and aliasing with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const [dy, g, u] = [gpu.empty([4, 8]), gpu.empty([4, 8]), gpu.empty([4, 8])];
    assert.throws(() => swigluBackward(gpu, gpu.empty([4, 9]), g, u), isShapeError(/swigluBackward: dout has shape \[4x9\], expected \[4x8\]/));
    assert.throws(() => swigluBackward(gpu, dy, g, gpu.empty([8, 4])), isShapeError(/up has shape \[8x4\], expected \[4x8\]/));
    assert.throws(() => swigluBackward(gpu, dy, g, u, { dgate: gpu.empty([32]) }), isShapeError(/dgate has shape \[32\], expected \[4x8\]/));
    assert.throws(() => swigluBackward(gpu, dy, g, u, { dup: dy }), isShapeError(/dup must not share a buffer/));
    assert.throws(() => swigluBackward(gpu, dy, gpu.empty([4, 8], 'u32'), u), isShapeError(/gate is u32, expected f32/));
  });
});
