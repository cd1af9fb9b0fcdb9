import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rope, ropeTables } from '../../src/ops/rope.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomInts, randomNormal, rng } from '../helpers/random.js';
import { ropeRef, ropeTablesRef } from '../reference/layers.js';

const isShapeError = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
const TOL = { rtol: 1e-5, atol: 2e-6 };

interface Case {
  shape: number[]; // [T, H, D] or [B, T, H, D]
  rotaryDim: number;
  theta: number;
  maxPositions: number;
}

const cases: Case[] = [
  { shape: [7, 3, 64], rotaryDim: 64, theta: 10000, maxPositions: 4096 },
  { shape: [2, 5, 2, 128], rotaryDim: 128, theta: 1e6, maxPositions: 4100 },
  { shape: [1, 1, 2], rotaryDim: 2, theta: 10000, maxPositions: 8 },
  { shape: [33, 2, 80], rotaryDim: 32, theta: 10000, maxPositions: 4096 }, // partial rotary (Phi-like)
  { shape: [3, 7, 33], rotaryDim: 32, theta: 1e6, maxPositions: 2048 }, // odd head dim, one pass-through dim
  { shape: [129, 14, 64], rotaryDim: 64, theta: 1e6, maxPositions: 4096 }, // Qwen2.5-0.5B q
];

describe('rope', () => {
  it('builds cos/sin tables from HF float32 angles (theta 1e4 and 1e6)', async () => {
    const gpu = await testGpu();
    for (const [theta, rotaryDim, maxPositions] of [
      [10000, 64, 4096],
      [1e6, 128, 4097],
      [1e6, 32, 33],
    ]) {
      const t = ropeTables(gpu, { maxPositions, rotaryDim, theta });
      assert.deepEqual(t.cos.shape, [maxPositions, rotaryDim / 2]);
      const ref = ropeTablesRef(maxPositions, rotaryDim, theta);
      // f32 rounding of values in [-1, 1]: half an ulp of 1 absolute.
      assertClose(`cos theta=${theta}`, await gpu.readF32(t.cos), ref.cos, { rtol: 1e-7, atol: 6e-8 });
      assertClose(`sin theta=${theta}`, await gpu.readF32(t.sin), ref.sin, { rtol: 1e-7, atol: 6e-8 });
      t.cos.release();
      t.sin.release();
    }
  });

  for (const c of cases) {
    const desc = `x [${c.shape.join('x')}], rotary ${c.rotaryDim}, theta ${c.theta}`;
    it(`matches the float64 reference for ${desc}, out of place and in place`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const n = c.shape.reduce((a, b) => a * b, 1);
      const [heads, dim] = c.shape.slice(-2);
      const tokens = n / (heads * dim);
      const x = randomNormal(n, r);
      const pos = randomInts(tokens, r, c.maxPositions);
      pos[0] = c.maxPositions - 1;
      if (tokens > 1) pos[1] = 0;
      const ref = ropeRef(x, pos, heads, dim, c.rotaryDim, c.theta);
      const tables = ropeTables(gpu, { maxPositions: c.maxPositions, rotaryDim: c.rotaryDim, theta: c.theta });
      const tx = gpu.upload(x, c.shape);
      const tpos = gpu.upload(pos, c.shape.length === 4 ? c.shape.slice(0, 2) : [tokens]);

      const out = poisoned(gpu, c.shape);
      assert.equal(rope(gpu, tx, tpos, tables, out), out);
      assertClose('rope', await gpu.readF32(out), ref, TOL);
      assertClose('rope leaves x alone', await gpu.readF32(tx), x, { rtol: 0, atol: 0 });

      assert.equal(rope(gpu, tx, tpos, tables), tx);
      assertClose('rope in place (out omitted)', await gpu.readF32(tx), ref, TOL);

      const ty = gpu.upload(x, c.shape);
      assert.equal(rope(gpu, ty, tpos, tables, ty), ty);
      assertClose('rope in place (out === x)', await gpu.readF32(ty), ref, TOL);
    });
  }

  it('clamps positions beyond the table to its last row', async () => {
    const gpu = await testGpu();
    const r = rng();
    const [tokens, heads, dim, maxPositions] = [4, 2, 16, 10];
    const x = randomNormal(tokens * heads * dim, r);
    const pos = new Uint32Array([3, 9, 10, 0xffffffff]);
    const tables = ropeTables(gpu, { maxPositions, rotaryDim: dim, theta: 10000 });
    const out = poisoned(gpu, [tokens, heads, dim]);
    rope(gpu, gpu.upload(x, [tokens, heads, dim]), gpu.upload(pos, [tokens]), tables, out);
    assertClose('rope clamped', await gpu.readF32(out), ropeRef(x, pos, heads, dim, dim, 10000, maxPositions), TOL);
  });

  it('rejects bad shapes with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const tables = ropeTables(gpu, { maxPositions: 16, rotaryDim: 64, theta: 10000 });
    const x = gpu.empty([5, 2, 64]);
    const pos = gpu.empty([5], 'u32');
    assert.throws(() => rope(gpu, gpu.empty([10, 64]), pos, tables), isShapeError(/rope: x has shape \[10x64\], expected rank 3 or 4/));
    assert.throws(() => rope(gpu, x, gpu.empty([4], 'u32'), tables), isShapeError(/positions has 4 elements \(shape \[4\]\), expected 5/));
    assert.throws(() => rope(gpu, x, gpu.empty([5], 'f32'), tables), isShapeError(/positions is f32, expected u32/));
    assert.throws(() => rope(gpu, gpu.empty([5, 2, 48]), pos, tables), isShapeError(/cos has shape \[16x32\]: rotary dim 64 exceeds the head dim of x \[5x2x48\]/));
    assert.throws(() => rope(gpu, x, pos, tables, gpu.empty([5, 64, 2])), isShapeError(/out has shape \[5x64x2\], expected \[5x2x64\]/));
    assert.throws(() => rope(gpu, x, pos, { cos: tables.cos, sin: gpu.empty([16, 31]) }), isShapeError(/sin has shape \[16x31\], expected \[16x32\]/));
    assert.throws(() => ropeTables(gpu, { maxPositions: 16, rotaryDim: 63, theta: 10000 }), isShapeError(/rotaryDim must be even/));
  });
});
