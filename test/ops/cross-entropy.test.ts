import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crossEntropy, IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomInts, randomNormal, rng } from '../helpers/random.js';
import { crossEntropyRef } from '../reference/reductions.js';

const LOSS_TOL = { rtol: 1e-5, atol: 1e-6 };
const GRAD_TOL = { rtol: 1e-4, atol: 1e-6 };

/** Random targets with about a quarter of the rows ignored (never all of them). */
function targetsWithIgnores(rows: number, cols: number, r: () => number): Uint32Array {
  const t = randomInts(rows, r, cols);
  for (let n = 1; n < rows; n++) if (r() < 0.25) t[n] = IGNORE_INDEX;
  return t;
}

describe('crossEntropy', () => {
  const shapes: [number, number][] = [];
  for (const cols of [1, 7, 33, 129, 1000, 70_000]) for (const rows of [1, 7, 64]) if (rows * cols <= 500_000) shapes.push([rows, cols]);
  for (const [rows, cols] of shapes) {
    it(`matches the float64 reference for [${rows}x${cols}], out of place and in place`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const logits = randomNormal(rows * cols, r, 4);
      const targets = targetsWithIgnores(rows, cols, r);
      const gradScale = 1 / Math.max(1, targets.filter((t) => t !== IGNORE_INDEX).length);
      const ref = crossEntropyRef(logits, targets, rows, cols, gradScale);
      const tl = gpu.upload(logits, [rows, cols]);
      const tt = gpu.upload(targets, [rows]);

      const loss = poisoned(gpu, [rows]);
      const dlogits = poisoned(gpu, [rows, cols]);
      const res = crossEntropy(gpu, tl, tt, { gradScale, loss, dlogits });
      assert.equal(res.loss, loss);
      assert.equal(res.dlogits, dlogits);
      assertClose('loss', await gpu.readF32(loss), ref.loss, LOSS_TOL);
      assertClose('dlogits', await gpu.readF32(dlogits), ref.dlogits, GRAD_TOL);
      assertClose('logits untouched', await gpu.readF32(tl), logits, { rtol: 0, atol: 0 });

      const loss2 = poisoned(gpu, [rows]);
      const inPlace = crossEntropy(gpu, tl, tt, { gradScale, inPlace: true, loss: loss2 });
      assert.equal(inPlace.dlogits, tl);
      assertClose('loss (in place)', await gpu.readF32(loss2), ref.loss, LOSS_TOL);
      assertClose('dlogits (in place)', await gpu.readF32(tl), ref.dlogits, GRAD_TOL);
      for (const t of [tl, tt, loss, dlogits, loss2]) t.release();
    });
  }

  it('is stable for logits of magnitude 80 (targets at the max, the min and in between)', async () => {
    const gpu = await testGpu();
    const r = rng();
    const rows = 64;
    const cols = 1000;
    const logits = randomF32(rows * cols, r, -80, 80);
    const targets = randomInts(rows, r, cols);
    for (let n = 0; n < rows; n++) {
      if (n % 3 === 0) logits[n * cols + targets[n]] = 80; // confident and right: loss ~ 0
      if (n % 3 === 1) logits[n * cols + targets[n]] = -80; // confident and wrong: loss ~ 160
    }
    const ref = crossEntropyRef(logits, targets, rows, cols, 0.5);
    const tl = gpu.upload(logits, [rows, cols]);
    const tt = gpu.upload(targets, [rows]);
    const { loss, dlogits } = crossEntropy(gpu, tl, tt, { gradScale: 0.5 });
    assertClose('loss', await gpu.readF32(loss), ref.loss, LOSS_TOL);
    assertClose('dlogits', await gpu.readF32(dlogits), ref.dlogits, GRAD_TOL);
  });

  it('gives ignored rows zero loss and gradient, and an out-of-range target a NaN loss', async () => {
    const gpu = await testGpu();
    const r = rng();
    const rows = 4;
    const cols = 129;
    const logits = randomNormal(rows * cols, r, 2);
    for (const i of [0, 17, 128]) logits[cols + i] = -Infinity; // masked vocabulary entries in row 1
    const targets = new Uint32Array([IGNORE_INDEX, 5, cols, IGNORE_INDEX]);
    const tl = gpu.upload(logits, [rows, cols]);
    const tt = gpu.upload(targets, [rows]);
    const { loss, dlogits } = crossEntropy(gpu, tl, tt, { gradScale: 1 });
    const got = await gpu.readF32(loss);
    const grad = await gpu.readF32(dlogits);
    const ref = crossEntropyRef(logits, targets, rows, cols, 1);
    assert.equal(got[0], 0);
    assert.equal(got[3], 0);
    assert.ok(Number.isNaN(got[2]), `loss for target ${cols} >= V is ${got[2]}, expected NaN`);
    assertClose('loss', got, ref.loss, LOSS_TOL);
    assertClose('dlogits', grad, ref.dlogits, GRAD_TOL);
    for (const i of [0, 3]) assert.ok(grad.subarray(i * cols, (i + 1) * cols).every((g) => g === 0), `row ${i} gradient is not zero`);
  });

  it('handles more rows than one grid dimension allows', async () => {
    const gpu = await testGpu();
    const rows = gpu.limits.maxComputeWorkgroupsPerDimension + 3;
    const cols = 2;
    const r = rng();
    const logits = randomNormal(rows * cols, r, 2);
    const targets = targetsWithIgnores(rows, cols, r);
    const ref = crossEntropyRef(logits, targets, rows, cols, 1);
    const { loss, dlogits } = crossEntropy(gpu, gpu.upload(logits, [rows, cols]), gpu.upload(targets, [rows]), { gradScale: 1 });
    assertClose('loss', await gpu.readF32(loss), ref.loss, LOSS_TOL);
    assertClose('dlogits', await gpu.readF32(dlogits), ref.dlogits, GRAD_TOL);
  });

  it('rejects bad shapes, dtypes and option combinations with a PonderError naming the shapes', async () => {
    const gpu = await testGpu();
    const logits = gpu.empty([3, 5]);
    const targets = gpu.empty([3], 'u32');
    const isShape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    assert.throws(() => crossEntropy(gpu, logits, gpu.empty([4], 'u32'), { gradScale: 1 }), isShape(/crossEntropy: targets has shape \[4\], expected \[3\]/));
    assert.throws(() => crossEntropy(gpu, logits, gpu.empty([3], 'f32'), { gradScale: 1 }), isShape(/crossEntropy: targets is f32/));
    assert.throws(() => crossEntropy(gpu, gpu.empty([3, 5], 'u32'), targets, { gradScale: 1 }), isShape(/crossEntropy: logits is u32/));
    assert.throws(() => crossEntropy(gpu, gpu.empty([15]), targets, { gradScale: 1 }), isShape(/crossEntropy: logits has shape \[15\]/));
    assert.throws(() => crossEntropy(gpu, logits, targets, { gradScale: 1, loss: gpu.empty([5]) }), isShape(/crossEntropy: loss has shape \[5\], expected \[3\]/));
    assert.throws(() => crossEntropy(gpu, logits, targets, { gradScale: 1, dlogits: gpu.empty([5, 3]) }), isShape(/crossEntropy: dlogits has shape \[5x3\], expected \[3x5\]/));
    assert.throws(() => crossEntropy(gpu, logits, targets, { gradScale: 1, inPlace: true, dlogits: gpu.empty([3, 5]) }), isShape(/inPlace/));
    assert.throws(() => crossEntropy(gpu, logits, targets, { gradScale: 1, dlogits: logits }), isShape(/shares its buffer/));
    assert.throws(() => crossEntropy(gpu, logits, targets, { gradScale: NaN }), isShape(/gradScale/));
  });
});
