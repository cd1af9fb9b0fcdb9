import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { tokenLogprobs } from '../../src/ops/token-logprobs.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomInts, randomNormal, rng } from '../helpers/random.js';
import { tokenLogprobsRef } from '../reference/logprobs.js';

/** f32 vs float64: logp and entropy are O(1..100) sums of V exps; 1e-5 relative plus a floor of the row scale. */
const TOL = { rtol: 1e-5, atol: 2e-6 };
/**
 * Entropy's floor is relative to its natural scale, log V, not to the rows' own largest entropy: a
 * batch of confident rows has entropies near 0 whose f32 sums still carry ~1e-7 of absolute error
 * (seed 1168109189: one row, entropy 0.0027, off by 3.5e-8).
 */
const entropyTol = (cols: number) => ({ ...TOL, scale: Math.max(1, Math.log(cols)) });

function targetsWithIgnores(rows: number, cols: number, r: () => number): Uint32Array {
  const t = randomInts(rows, r, cols);
  for (let n = 1; n < rows; n++) if (r() < 0.25) t[n] = IGNORE_INDEX;
  return t;
}

describe('tokenLogprobs', () => {
  const shapes: [number, number][] = [];
  for (const cols of [1, 7, 33, 129, 1000, 70_000]) for (const rows of [1, 7, 64]) if (rows * cols <= 500_000) shapes.push([rows, cols]);
  const temperatures = [1, 0.6, 1.7];
  shapes.forEach(([rows, cols], k) => {
    const T = temperatures[k % temperatures.length];
    it(`matches the float64 reference for [${rows}x${cols}] at T = ${T}, leaving the logits alone`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const logits = randomNormal(rows * cols, r, 4);
      const targets = targetsWithIgnores(rows, cols, r);
      const ref = tokenLogprobsRef(logits, targets, rows, cols, T);
      const tl = gpu.upload(logits, [rows, cols]);
      const tt = gpu.upload(targets, [rows]);
      const logp = poisoned(gpu, [rows]);
      const entropy = poisoned(gpu, [rows]);
      const res = tokenLogprobs(gpu, tl, tt, { temperature: T, logp, entropy });
      assert.equal(res.logp, logp);
      assert.equal(res.entropy, entropy);
      assertClose('logp', await gpu.readF32(logp), ref.logp, TOL);
      assertClose('entropy', await gpu.readF32(entropy), ref.entropy, entropyTol(cols));
      assertClose('logits untouched', await gpu.readF32(tl), logits, { rtol: 0, atol: 0 });
      for (const t of [tl, tt, logp, entropy]) t.release();
    });
  });

  it('is stable for logits of magnitude 80 at T = 0.5 (confident right, confident wrong, spread)', async () => {
    const gpu = await testGpu();
    const r = rng();
    const rows = 64;
    const cols = 1000;
    const logits = randomF32(rows * cols, r, -80, 80);
    const targets = randomInts(rows, r, cols);
    for (let n = 0; n < rows; n++) {
      if (n % 3 === 0) logits[n * cols + targets[n]] = 80; // logp ~ 0, entropy ~ 0
      if (n % 3 === 1) logits[n * cols + targets[n]] = -80; // logp ~ -320
    }
    const ref = tokenLogprobsRef(logits, targets, rows, cols, 0.5);
    const { logp, entropy } = tokenLogprobs(gpu, gpu.upload(logits, [rows, cols]), gpu.upload(targets, [rows]), { temperature: 0.5 });
    assertClose('logp', await gpu.readF32(logp), ref.logp, TOL);
    // entropies of near-one-hot rows are ~1e-30..1: only as accurate as the log-sum-exp terms (~1e-5 of log V)
    assertClose('entropy', await gpu.readF32(entropy), ref.entropy, entropyTol(cols));
  });

  it('gives ignored rows 0 and 0, an out-of-range target a NaN logp, and handles -inf (masked) logits', async () => {
    const gpu = await testGpu();
    const r = rng();
    const rows = 5;
    const cols = 129;
    const logits = randomNormal(rows * cols, r, 2);
    for (const i of [0, 17, 128]) logits[cols + i] = -Infinity; // masked vocabulary entries in row 1
    for (let i = 1; i < cols; i++) logits[4 * cols + i] = -Infinity; // row 4: one live entry, entropy 0
    const targets = new Uint32Array([IGNORE_INDEX, 5, cols, IGNORE_INDEX, 0]);
    const tl = gpu.upload(logits, [rows, cols]);
    const tt = gpu.upload(targets, [rows]);
    const logp = poisoned(gpu, [rows]);
    const entropy = poisoned(gpu, [rows]);
    tokenLogprobs(gpu, tl, tt, { temperature: 1.3, logp, entropy });
    const lp = await gpu.readF32(logp);
    const h = await gpu.readF32(entropy);
    const ref = tokenLogprobsRef(logits, targets, rows, cols, 1.3);
    for (const i of [0, 3]) assert.ok(lp[i] === 0 && h[i] === 0, `ignored row ${i}: logp ${lp[i]}, entropy ${h[i]}`);
    assert.ok(Number.isNaN(lp[2]), `logp for target ${cols} >= V is ${lp[2]}, expected NaN`);
    assert.equal(lp[4], 0);
    assert.equal(h[4], 0);
    assertClose('logp', lp, ref.logp, TOL);
    assertClose('entropy', h, ref.entropy, entropyTol(cols));
  });

  it('handles more rows than one grid dimension allows', async () => {
    const gpu = await testGpu();
    const rows = gpu.limits.maxComputeWorkgroupsPerDimension + 3;
    const cols = 2;
    const r = rng();
    const logits = randomNormal(rows * cols, r, 2);
    const targets = targetsWithIgnores(rows, cols, r);
    const ref = tokenLogprobsRef(logits, targets, rows, cols, 0.8);
    const { logp, entropy } = tokenLogprobs(gpu, gpu.upload(logits, [rows, cols]), gpu.upload(targets, [rows]), { temperature: 0.8 });
    assertClose('logp', await gpu.readF32(logp), ref.logp, TOL);
    assertClose('entropy', await gpu.readF32(entropy), ref.entropy, entropyTol(cols));
  });

  it('rejects bad shapes, dtypes and temperatures with a PonderError', async () => {
    const gpu = await testGpu();
    const logits = gpu.empty([3, 5]);
    const targets = gpu.empty([3], 'u32');
    const isShape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    assert.throws(() => tokenLogprobs(gpu, logits, gpu.empty([4], 'u32')), isShape(/tokenLogprobs: targets has shape \[4\], expected \[3\]/));
    assert.throws(() => tokenLogprobs(gpu, logits, gpu.empty([3], 'f32')), isShape(/tokenLogprobs: targets is f32/));
    assert.throws(() => tokenLogprobs(gpu, gpu.empty([15]), targets), isShape(/tokenLogprobs: logits has shape \[15\]/));
    assert.throws(() => tokenLogprobs(gpu, logits, targets, { logp: gpu.empty([5]) }), isShape(/logp has shape \[5\], expected \[3\]/));
    for (const T of [0, -1, NaN, Infinity]) assert.throws(() => tokenLogprobs(gpu, logits, targets, { temperature: T }), isShape(/temperature must be a finite number > 0/));
  });
});
