import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { softmax } from '../../src/ops/softmax.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomNormal, rng } from '../helpers/random.js';
import { softmaxRef } from '../reference/reductions.js';

const TOL = { rtol: 1e-4, atol: 1e-6 };

describe('softmax', () => {
  const shapes: [number, number][] = [];
  for (const cols of [1, 7, 33, 129, 1000, 70_000]) for (const rows of [1, 7, 64]) if (rows * cols <= 500_000) shapes.push([rows, cols]);
  for (const [rows, cols] of shapes) {
    it(`matches the float64 reference for [${rows}x${cols}]`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const x = randomNormal(rows * cols, r, 3);
      const tx = gpu.upload(x, [rows, cols]);
      const out = poisoned(gpu, [rows, cols]);
      softmax(gpu, tx, {}, out);
      assertClose('softmax', await gpu.readF32(out), softmaxRef(x, rows, cols), TOL);
      tx.release();
      out.release();
    });
  }

  it('is stable for logits of magnitude 80 and applies scale (temperature)', async () => {
    const gpu = await testGpu();
    const r = rng();
    const rows = 7;
    const cols = 1000;
    const x = randomF32(rows * cols, r, -80, 80);
    for (let i = 0; i < 20; i++) x[Math.floor(r() * x.length)] = r() < 0.5 ? 80 : -80;
    const tx = gpu.upload(x, [rows, cols]);
    for (const scale of [1, 0.125, 1.7]) {
      const out = poisoned(gpu, [rows, cols]);
      softmax(gpu, tx, { scale }, out);
      assertClose(`softmax scale=${scale}`, await gpu.readF32(out), softmaxRef(x, rows, cols, scale), TOL);
    }
  });

  it('handles leading batch dims, -inf (masked) entries and a NaN row', async () => {
    const gpu = await testGpu();
    const r = rng();
    const shape = [2, 3, 33];
    const x = randomF32(2 * 3 * 33, r, -4, 4);
    for (let i = 0; i < 33; i += 2) x[33 + i] = -Infinity; // row 1: every other entry masked
    x[2 * 33 + 5] = NaN; // row 2: poisoned
    const tx = gpu.upload(x, shape);
    const out = softmax(gpu, tx);
    assert.deepEqual(out.shape, shape);
    const got = await gpu.readF32(out);
    assertClose('softmax masked', got, softmaxRef(x, 6, 33), TOL);
    for (let i = 0; i < 33; i++) assert.ok(Number.isNaN(got[2 * 33 + i]), `NaN row: element ${i} is ${got[2 * 33 + i]}`);
  });

  it('rejects bad shapes and dtypes with a PonderError naming the shapes', async () => {
    const gpu = await testGpu();
    const x = gpu.empty([3, 4]);
    const isShape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    assert.throws(() => softmax(gpu, x, {}, gpu.empty([4, 3])), isShape(/softmax.*\[4x3\].*\[3x4\]/));
    assert.throws(() => softmax(gpu, gpu.empty([3, 4], 'u32')), isShape(/softmax: x is u32/));
    assert.throws(() => softmax(gpu, gpu.empty([3, 0])), isShape(/softmax.*\[3x0\]/));
    assert.throws(() => softmax(gpu, x, {}, x), isShape(/softmax: out .*shares/));
  });
});
