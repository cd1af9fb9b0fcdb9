import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { argmax } from '../../src/ops/argmax.js';
import { PonderError } from '../../src/errors.js';
import { assertEqualInts } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomInts, randomNormal, rng } from '../helpers/random.js';
import { argmaxRef } from '../reference/reductions.js';

async function check(x: Float32Array, rows: number, cols: number, what: string): Promise<Uint32Array> {
  const gpu = await testGpu();
  const tx = gpu.upload(x, [rows, cols]);
  const out = poisoned(gpu, [rows], 'u32');
  argmax(gpu, tx, out);
  const got = await gpu.readU32(out);
  assertEqualInts(what, got, argmaxRef(x, rows, cols));
  tx.release();
  out.release();
  return got;
}

describe('argmax', () => {
  for (const cols of [1, 7, 33, 129, 1000, 70_000]) {
    for (const rows of [1, 7, 64]) {
      if (rows * cols > 500_000) continue;
      it(`matches the reference for [${rows}x${cols}] (random, and with constructed ties)`, async () => {
        const r = rng();
        await check(randomNormal(rows * cols, r, 10), rows, cols, 'random');
        // Ties: few distinct values, so the max appears many times per row.
        const q = randomInts(rows * cols, r, 4);
        await check(Float32Array.from(q, (v) => v - 2), rows, cols, 'quantized');
        // Exactly two copies of the max per row, at random positions in either order.
        const x = randomF32(rows * cols, r, -80, 80);
        for (let n = 0; n < rows; n++) {
          const a = Math.floor(r() * cols);
          const b = Math.floor(r() * cols);
          x[n * cols + a] = 100;
          x[n * cols + b] = 100;
        }
        await check(x, rows, cols, 'duplicated max');
      });
    }
  }

  it('returns 0 for constant and all -inf rows, treats -0 as +0, and picks the first NaN', async () => {
    const cols = 300;
    const rows = 5;
    const x = new Float32Array(rows * cols).fill(1.5); // row 0: constant
    x.fill(-Infinity, cols, 2 * cols); // row 1: all -inf
    x.fill(-1, 2 * cols, 3 * cols); // row 2: -0 at 17, +0 at 9 -> 9
    x[2 * cols + 17] = -0;
    x[2 * cols + 9] = 0;
    x.fill(-1, 3 * cols, 4 * cols); // row 3: +0 at 20, -0 at 11 -> 11
    x[3 * cols + 20] = 0;
    x[3 * cols + 11] = -0;
    x.fill(2, 4 * cols, 5 * cols); // row 4: +inf at 50, NaN at 260 and 120 -> 120
    x[4 * cols + 50] = Infinity;
    x[4 * cols + 260] = NaN;
    x[4 * cols + 120] = NaN;
    const got = await check(x, rows, cols, 'special values');
    assert.deepEqual([...got], [0, 0, 9, 11, 120]);
  });

  it('handles more rows than one grid dimension allows', async () => {
    const gpu = await testGpu();
    const rows = gpu.limits.maxComputeWorkgroupsPerDimension + 3;
    const cols = 3;
    const r = rng();
    await check(randomF32(rows * cols, r), rows, cols, 'many rows');
  });

  it('rejects bad shapes and dtypes with a PonderError naming the shapes', async () => {
    const gpu = await testGpu();
    const x = gpu.empty([3, 4]);
    const isShape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    assert.throws(() => argmax(gpu, x, gpu.empty([4], 'u32')), isShape(/argmax: out has shape \[4\], expected \[3\]/));
    assert.throws(() => argmax(gpu, x, gpu.empty([3], 'f32')), isShape(/argmax: out is f32/));
    assert.throws(() => argmax(gpu, gpu.empty([12])), isShape(/argmax: x has shape \[12\], expected rank 2/));
    assert.throws(() => argmax(gpu, gpu.empty([3, 4], 'i32')), isShape(/argmax: x is i32/));
    assert.throws(() => argmax(gpu, gpu.empty([3, 0])), isShape(/argmax.*\[3x0\]/));
  });
});
