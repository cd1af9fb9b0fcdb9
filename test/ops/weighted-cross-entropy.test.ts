import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crossEntropy, IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { weightedCrossEntropy } from '../../src/ops/weighted-cross-entropy.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomInts, randomNormal, rng } from '../helpers/random.js';
import { weightedCrossEntropyRef } from '../reference/logprobs.js';

const LOSS_TOL = { rtol: 1e-5, atol: 1e-6 };
const GRAD_TOL = { rtol: 1e-4, atol: 1e-6 };

function targetsWithIgnores(rows: number, cols: number, r: () => number): Uint32Array {
  const t = randomInts(rows, r, cols);
  for (let n = 1; n < rows; n++) if (r() < 0.25) t[n] = IGNORE_INDEX;
  return t;
}

/** Weights of both signs and mixed sizes, some exactly 0 (GRPO's clipped tokens). */
function randomWeights(rows: number, r: () => number): Float32Array {
  const w = randomF32(rows, r, -2, 2);
  for (let n = 0; n < rows; n++) if (r() < 0.15) w[n] = 0;
  return w;
}

describe('weightedCrossEntropy', () => {
  const shapes: [number, number][] = [];
  for (const cols of [1, 7, 33, 129, 1000, 70_000]) for (const rows of [1, 7, 64]) if (rows * cols <= 500_000) shapes.push([rows, cols]);
  const temperatures = [1, 0.6, 1.7];
  shapes.forEach(([rows, cols], k) => {
    const T = temperatures[k % temperatures.length];
    it(`matches the float64 reference in place for [${rows}x${cols}] at T = ${T}`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const logits = randomNormal(rows * cols, r, 4);
      const targets = targetsWithIgnores(rows, cols, r);
      const weights = randomWeights(rows, r);
      const ref = weightedCrossEntropyRef(logits, targets, weights, rows, cols, T);
      const tl = gpu.upload(logits, [rows, cols]);
      const tt = gpu.upload(targets, [rows]);
      const tw = gpu.upload(weights, [rows]);
      const loss = poisoned(gpu, [rows]);
      assert.equal(weightedCrossEntropy(gpu, tl, tt, tw, { temperature: T, loss }), loss);
      // a row's loss is logsumexp(z/T) - z_t/T: when it cancels to near 0 (1 column, or one dominant
      // logit), f32 is only as accurate as those terms are large, so atol is held to the logits' size
      let termScale = 0;
      for (const v of ref.loss) termScale = Math.max(termScale, Math.abs(v));
      for (const z of logits) termScale = Math.max(termScale, Math.abs(z) / T);
      assertClose('loss', await gpu.readF32(loss), ref.loss, { ...LOSS_TOL, scale: termScale });
      assertClose('dlogits', await gpu.readF32(tl), ref.dlogits, GRAD_TOL);
      for (const t of [tl, tt, tw, loss]) t.release();
    });
  });

  it('with w = gradScale on every row and T = 1 equals the fused cross-entropy gradient', async () => {
    const gpu = await testGpu();
    const r = rng();
    const rows = 37;
    const cols = 1000;
    const logits = randomNormal(rows * cols, r, 3);
    const targets = targetsWithIgnores(rows, cols, r);
    const gradScale = 1 / targets.filter((t) => t !== IGNORE_INDEX).length;
    const a = gpu.upload(logits, [rows, cols]);
    const b = gpu.upload(logits, [rows, cols]);
    const tt = gpu.upload(targets, [rows]);
    const ce = crossEntropy(gpu, a, tt, { gradScale, inPlace: true });
    const wl = weightedCrossEntropy(gpu, b, tt, gpu.upload(new Float32Array(rows).fill(gradScale), [rows]));
    const want = await gpu.readF32(a);
    assertClose('dlogits vs crossEntropy', await gpu.readF32(b), want, { rtol: 1e-6, atol: 1e-7 });
    assertClose('loss vs crossEntropy', await gpu.readF32(wl), await gpu.readF32(ce.loss), { rtol: 1e-6, atol: 1e-7 });
    assert.ok(want.some((x) => x !== 0), 'the gradient is not trivially zero');
  });

  it('is stable for logits of magnitude 80 at T = 0.5', async () => {
    const gpu = await testGpu();
    const r = rng();
    const rows = 64;
    const cols = 1000;
    const logits = randomF32(rows * cols, r, -80, 80);
    const targets = randomInts(rows, r, cols);
    for (let n = 0; n < rows; n++) {
      if (n % 3 === 0) logits[n * cols + targets[n]] = 80;
      if (n % 3 === 1) logits[n * cols + targets[n]] = -80;
    }
    const weights = randomWeights(rows, r);
    const ref = weightedCrossEntropyRef(logits, targets, weights, rows, cols, 0.5);
    const tl = gpu.upload(logits, [rows, cols]);
    const loss = weightedCrossEntropy(gpu, tl, gpu.upload(targets, [rows]), gpu.upload(weights, [rows]), { temperature: 0.5 });
    assertClose('loss', await gpu.readF32(loss), ref.loss, LOSS_TOL);
    assertClose('dlogits', await gpu.readF32(tl), ref.dlogits, GRAD_TOL);
  });

  it('gives ignored rows a zero gradient and loss, and an out-of-range target a NaN loss', async () => {
    const gpu = await testGpu();
    const r = rng();
    const rows = 4;
    const cols = 129;
    const logits = randomNormal(rows * cols, r, 2);
    for (const i of [0, 17, 128]) logits[cols + i] = -Infinity;
    const targets = new Uint32Array([IGNORE_INDEX, 5, cols, IGNORE_INDEX]);
    const weights = new Float32Array([3, -0.5, 1, 7]);
    const tl = gpu.upload(logits, [rows, cols]);
    const loss = poisoned(gpu, [rows]);
    weightedCrossEntropy(gpu, tl, gpu.upload(targets, [rows]), gpu.upload(weights, [rows]), { temperature: 0.9, loss });
    const got = await gpu.readF32(loss);
    const grad = await gpu.readF32(tl);
    const ref = weightedCrossEntropyRef(logits, targets, weights, rows, cols, 0.9);
    assert.equal(got[0], 0);
    assert.equal(got[3], 0);
    assert.ok(Number.isNaN(got[2]), `loss for target ${cols} >= V is ${got[2]}, expected NaN`);
    assertClose('loss', got, ref.loss, LOSS_TOL);
    assertClose('dlogits', grad, ref.dlogits, GRAD_TOL);
    for (const i of [0, 3]) assert.ok(grad.subarray(i * cols, (i + 1) * cols).every((g) => g === 0), `row ${i} gradient is not zero`);
  });

  it('rejects bad shapes, dtypes and temperatures with a PonderError', async () => {
    const gpu = await testGpu();
    const logits = gpu.empty([3, 5]);
    const targets = gpu.empty([3], 'u32');
    const weights = gpu.empty([3]);
    const isShape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    assert.throws(() => weightedCrossEntropy(gpu, logits, targets, gpu.empty([4])), isShape(/weights has shape \[4\], expected \[3\]/));
    assert.throws(() => weightedCrossEntropy(gpu, logits, targets, gpu.empty([3], 'u32')), isShape(/weights is u32/));
    assert.throws(() => weightedCrossEntropy(gpu, logits, gpu.empty([3], 'f32'), weights), isShape(/targets is f32/));
    assert.throws(() => weightedCrossEntropy(gpu, logits, targets, weights, { loss: weights }), isShape(/shares its buffer/));
    assert.throws(() => weightedCrossEntropy(gpu, logits, targets, weights, { temperature: 0 }), isShape(/temperature must be a finite number > 0/));
  });
});
