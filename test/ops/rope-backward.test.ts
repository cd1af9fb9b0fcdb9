import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ropeBackward, ropeTables } from '../../src/ops/rope.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomInts, randomNormal, rng } from '../helpers/random.js';
import { ropeRef } from '../reference/layers.js';
import { numericGrad, ropeBackwardRef } from '../reference/layers-backward.js';

const isShapeError = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
const TOL = { rtol: 1e-5, atol: 2e-6 };

interface Case {
  shape: number[]; // [T, H, D] or [B, T, H, D]
  rotaryDim: number;
  theta: number;
  maxPositions: number;
}

const cases: Case[] = [
  { shape: [1, 1, 2], rotaryDim: 2, theta: 10000, maxPositions: 8 },
  { shape: [7, 3, 64], rotaryDim: 64, theta: 10000, maxPositions: 4096 },
  { shape: [2, 5, 2, 128], rotaryDim: 128, theta: 1e6, maxPositions: 4100 },
  { shape: [33, 2, 80], rotaryDim: 32, theta: 10000, maxPositions: 4096 }, // partial rotary, vec4
  { shape: [3, 7, 33], rotaryDim: 32, theta: 1e6, maxPositions: 2048 }, // odd head dim, scalar
  { shape: [5, 1, 7], rotaryDim: 6, theta: 1e6, maxPositions: 64 },
  { shape: [129, 3, 16], rotaryDim: 12, theta: 1e6, maxPositions: 300 },
  { shape: [300, 1, 8], rotaryDim: 8, theta: 10000, maxPositions: 300 },
];

describe('ropeBackward', () => {
  it('float64 reference matches central finite differences of the forward (incl. partial rotary)', () => {
    const r = rng();
    for (const [tokens, heads, dim, rot] of [
      [3, 2, 8, 8],
      [2, 1, 7, 4],
    ]) {
      const x = Float64Array.from(randomNormal(tokens * heads * dim, r));
      const dy = randomNormal(x.length, r);
      const pos = randomInts(tokens, r, 500);
      const ref = ropeBackwardRef(dy, pos, heads, dim, rot, 10000);
      const num = numericGrad((inp) => ropeRef(inp[0], pos, heads, dim, rot, 10000), [x], 0, dy);
      assertClose(`rope dx vs finite differences [${tokens}x${heads}x${dim}] rot ${rot}`, ref, num, { rtol: 1e-7, atol: 1e-8 });
    }
  });

  for (const c of cases) {
    const desc = `dy [${c.shape.join('x')}], rotary ${c.rotaryDim}, theta ${c.theta}`;
    it(`matches the float64 reference for ${desc}, out of place and in place, deterministic`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const n = c.shape.reduce((a, b) => a * b, 1);
      const [heads, dim] = c.shape.slice(-2);
      const tokens = n / (heads * dim);
      const dy = randomNormal(n, r);
      const pos = randomInts(tokens, r, c.maxPositions);
      pos[0] = c.maxPositions - 1;
      const ref = ropeBackwardRef(dy, pos, heads, dim, c.rotaryDim, c.theta);
      const tables = ropeTables(gpu, { maxPositions: c.maxPositions, rotaryDim: c.rotaryDim, theta: c.theta });
      const tdy = gpu.upload(dy, c.shape);
      const tpos = gpu.upload(pos, c.shape.length === 4 ? c.shape.slice(0, 2) : [tokens]);

      const out = poisoned(gpu, c.shape);
      assert.equal(ropeBackward(gpu, tdy, tpos, tables, out), out);
      const first = await gpu.readF32(out);
      assertClose('ropeBackward', first, ref, TOL);
      assertClose('ropeBackward leaves dy alone', await gpu.readF32(tdy), dy, { rtol: 0, atol: 0 });
      const out2 = poisoned(gpu, c.shape);
      ropeBackward(gpu, tdy, tpos, tables, out2);
      assert.deepEqual(await gpu.readF32(out2), first, 'rerun is bit-identical');

      assert.equal(ropeBackward(gpu, tdy, tpos, tables), tdy);
      assert.deepEqual(await gpu.readF32(tdy), first, 'in place (out omitted) equals out of place');
      const t2 = gpu.upload(dy, c.shape);
      assert.equal(ropeBackward(gpu, t2, tpos, tables, t2), t2);
      assert.deepEqual(await gpu.readF32(t2), first, 'in place (out === dy) equals out of place');
    });
  }

  it('clamps positions beyond the table to its last row, like the forward', async () => {
    const gpu = await testGpu();
    const r = rng();
    const [tokens, heads, dim, maxPositions] = [4, 2, 16, 10];
    const dy = randomNormal(tokens * heads * dim, r);
    const pos = new Uint32Array([3, 9, 10, 0xffffffff]);
    const tables = ropeTables(gpu, { maxPositions, rotaryDim: dim, theta: 10000 });
    const out = poisoned(gpu, [tokens, heads, dim]);
    ropeBackward(gpu, gpu.upload(dy, [tokens, heads, dim]), gpu.upload(pos, [tokens]), tables, out);
    assertClose('ropeBackward clamped', await gpu.readF32(out), ropeBackwardRef(dy, pos, heads, dim, dim, 10000, maxPositions), TOL);
  });

  it('rejects bad shapes with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const tables = ropeTables(gpu, { maxPositions: 16, rotaryDim: 64, theta: 10000 });
    const dy = gpu.empty([5, 2, 64]);
    const pos = gpu.empty([5], 'u32');
    assert.throws(() => ropeBackward(gpu, gpu.empty([10, 64]), pos, tables), isShapeError(/ropeBackward: dy has shape \[10x64\], expected rank 3 or 4/));
    assert.throws(() => ropeBackward(gpu, dy, gpu.empty([4], 'u32'), tables), isShapeError(/positions has 4 elements \(shape \[4\]\), expected 5/));
    assert.throws(() => ropeBackward(gpu, dy, gpu.empty([5], 'f32'), tables), isShapeError(/positions is f32, expected u32/));
    assert.throws(() => ropeBackward(gpu, gpu.empty([5, 2, 48]), pos, tables), isShapeError(/rotary dim 64 exceeds the head dim of dy \[5x2x48\]/));
    assert.throws(() => ropeBackward(gpu, dy, pos, tables, gpu.empty([5, 64, 2])), isShapeError(/out has shape \[5x64x2\], expected \[5x2x64\]/));
  });
});
