import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { topk, TOPK_MAX_K } from '../../src/ops/topk.js';
import { PonderError } from '../../src/errors.js';
import { assertClose, assertEqualInts } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomInts, randomNormal, rng } from '../helpers/random.js';
import { topkRef } from '../reference/reductions.js';

const EXACT = { rtol: 0, atol: 0 };

async function check(x: Float32Array, rows: number, cols: number, k: number, what: string): Promise<void> {
  const gpu = await testGpu();
  const tx = gpu.upload(x, [rows, cols]);
  const values = poisoned(gpu, [rows, k]);
  const indices = poisoned(gpu, [rows, k], 'u32');
  const res = topk(gpu, tx, k, { values, indices });
  assert.equal(res.values, values);
  assert.equal(res.indices, indices);
  const ref = topkRef(x, rows, cols, k);
  assertEqualInts(`${what} k=${k} indices`, await gpu.readU32(indices), ref.indices);
  assertClose(`${what} k=${k} values`, await gpu.readF32(values), ref.values, EXACT);
  for (const t of [tx, values, indices]) t.release();
}

describe('topk', () => {
  for (const cols of [1, 7, 33, 129, 1000, 70_000]) {
    for (const rows of [1, 7, 64]) {
      if (rows * cols > 500_000) continue;
      const ks = [...new Set([1, Math.min(cols, 5), Math.min(cols, TOPK_MAX_K)])];
      it(`matches the reference for [${rows}x${cols}], k = ${ks.join(', ')} (random and with ties)`, async () => {
        const r = rng();
        const x = randomNormal(rows * cols, r, 10);
        const q = Float32Array.from(randomInts(rows * cols, r, 5), (v) => v - 2); // heavy ties
        for (const k of ks) {
          await check(x, rows, cols, k, 'random');
          await check(q, rows, cols, k, 'quantized');
        }
      });
    }
  }

  it('handles ±80 logits, constant rows and adversarial layouts (one thread holds the whole top-k)', async () => {
    const r = rng();
    const cols = 20_000;
    const rows = 5;
    const x = randomF32(rows * cols, r, -80, 80); // row 0: wide range
    x.fill(0.25, cols, 2 * cols); // row 1: constant -> indices 0..k-1
    for (let i = 0; i < cols; i++) x[2 * cols + i] = i % 256 === 0 ? 50 + r() : r(); // row 2: best values on one slice
    for (let i = 0; i < cols; i++) x[3 * cols + i] = i; // row 3: increasing
    for (let i = 0; i < cols; i++) x[4 * cols + i] = i % 64 === 3 ? 7 : -i; // row 4: many tied maxima on one slice
    for (const k of [1, 17, 50, 64]) await check(x, rows, cols, k, 'special rows');
  });

  it('orders -inf, -0 == +0, +inf and NaN like argmax', async () => {
    const x = new Float32Array([-Infinity, 0, 3, NaN, -0, Infinity, -1, NaN, 0]);
    await check(x, 1, x.length, x.length, 'special values');
  });

  it('handles more rows than one grid dimension allows', async () => {
    const gpu = await testGpu();
    const rows = gpu.limits.maxComputeWorkgroupsPerDimension + 3;
    const cols = 4;
    await check(randomF32(rows * cols, rng()), rows, cols, 2, 'many rows');
  });

  it('rejects k out of range and bad shapes with a PonderError naming the shapes', async () => {
    const gpu = await testGpu();
    const x = gpu.empty([3, 100]);
    const isShape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    assert.throws(() => topk(gpu, gpu.empty([3, 7]), 8), isShape(/topk: k = 8 .*\[3x7\]/));
    assert.throws(() => topk(gpu, x, TOPK_MAX_K + 1), isShape(/topk: k = 65 .*\[3x100\]/));
    assert.throws(() => topk(gpu, x, 0), isShape(/topk: k = 0/));
    assert.throws(() => topk(gpu, x, 2.5), isShape(/topk: k = 2.5/));
    assert.throws(() => topk(gpu, x, 4, { values: gpu.empty([3, 5]) }), isShape(/topk: values has shape \[3x5\], expected \[3x4\]/));
    assert.throws(() => topk(gpu, x, 4, { indices: gpu.empty([3, 4]) }), isShape(/topk: indices is f32/));
    assert.throws(() => topk(gpu, gpu.empty([300]), 4), isShape(/topk: x has shape \[300\], expected rank 2/));
    assert.throws(() => topk(gpu, gpu.empty([3, 100], 'u32'), 4), isShape(/topk: x is u32/));
  });
});
