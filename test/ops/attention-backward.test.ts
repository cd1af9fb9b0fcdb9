import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attention } from '../../src/ops/attention.js';
import { attentionBackward, type AttentionBackwardPath } from '../../src/ops/attention-backward.js';
import { usesDenseAttention } from '../../src/ops/attention-dense.js';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, rng } from '../helpers/random.js';
import { attentionBackwardRef, attentionTrainRef, type TrainDims } from '../reference/attention-backward.js';

interface Case extends TrainDims {
  scale?: number;
  /** extra cache positions past T (filled with NaN: the backward must never read them) */
  extraL?: number;
  /** extra cache slots past B (NaN) */
  extraS?: number;
  /** out/lse from the GPU forward (the training path) instead of the float64 reference rounded to
   *  f32 (which spares lavapipe compiling a forward pipeline for every head dim) */
  gpuForward?: boolean;
}

const label = (c: Case) => `B=${c.B} T=${c.T} Hq=${c.Hq} Hkv=${c.Hkv} D=${c.D}` + (c.scale !== undefined ? ` scale=${c.scale}` : '') + (c.segments ? ` segments=[${Array.from(c.segments)}]` : '');

function randomF64(n: number, r: () => number): Float64Array {
  return Float64Array.from({ length: n }, () => 2 * r() - 1);
}

describe('attentionBackwardRef (float64)', () => {
  // The proof: the analytic gradients equal central finite differences of the float64 forward's
  // loss Σ dout·out, for every element of q, k and v.
  const cases: Case[] = [
    { B: 2, T: 5, Hq: 4, Hkv: 2, D: 3 }, // GQA
    { B: 1, T: 4, Hq: 3, Hkv: 1, D: 2, scale: 1.7 }, // MQA, larger scale
    { B: 1, T: 3, Hq: 2, Hkv: 2, D: 4 }, // MHA
    // packed rows: three examples in row 0, two in row 1 (block-diagonal causal)
    { B: 2, T: 6, Hq: 4, Hkv: 2, D: 3, segments: [0, 0, 1, 1, 1, 2, 0, 1, 1, 1, 1, 1] },
  ];
  for (const c of cases) {
    it(`matches central finite differences for ${label(c)}`, () => {
      const r = rng();
      const nq = c.B * c.T * c.Hq * c.D;
      const nkv = c.B * c.T * c.Hkv * c.D;
      const q = randomF64(nq, r);
      const k = randomF64(nkv, r);
      const v = randomF64(nkv, r);
      const dout = randomF64(nq, r);
      const loss = () => {
        const { out } = attentionTrainRef(q, k, v, c, c.scale);
        let s = 0;
        for (let i = 0; i < out.length; i++) s += out[i] * dout[i];
        return s;
      };
      const numeric = (x: Float64Array) => {
        const g = new Float64Array(x.length);
        const h = 1e-5;
        for (let i = 0; i < x.length; i++) {
          const x0 = x[i];
          x[i] = x0 + h;
          const up = loss();
          x[i] = x0 - h;
          const down = loss();
          x[i] = x0;
          g[i] = (up - down) / (2 * h);
        }
        return g;
      };
      const ref = attentionBackwardRef(dout, q, k, v, c, c.scale);
      // Central differences are exact to O(h²) ≈ 1e-10 here, far below the tolerance.
      assertClose('dq', ref.dq, numeric(q), { rtol: 1e-6, atol: 1e-7 });
      assertClose('dk', ref.dk, numeric(k), { rtol: 1e-6, atol: 1e-7 });
      assertClose('dv', ref.dv, numeric(v), { rtol: 1e-6, atol: 1e-7 });
    });
  }

  it('gives zero gradients to nothing and the full gradient to the diagonal when T=1', () => {
    // T=1: out = v, so dv = dout summed over the group's heads and dq = dk = 0.
    const dims = { B: 1, T: 1, Hq: 2, Hkv: 1, D: 2 };
    const ref = attentionBackwardRef([1, 2, 3, 4], [0.5, -1, 2, 1], [0.3, 0.7], [5, 6], dims);
    assert.deepEqual([...ref.dv], [4, 6]);
    assert.deepEqual([...ref.dq], [0, 0, 0, 0]);
    assert.deepEqual([...ref.dk], [0, 0]);
  });
});

interface Built {
  dout: Tensor;
  q: Tensor;
  kc: Tensor;
  vc: Tensor;
  out: Tensor;
  lse: Tensor;
  ref: { dq: Float64Array; dk: Float64Array; dv: Float64Array };
}

/** Random q, k, v, dout; caches with k/v at slot b, positions 0..T-1 (NaN elsewhere); out and lse. */
async function build(gpu: Gpu, c: Case, r: () => number): Promise<Built> {
  const { B, T, Hq, Hkv, D } = c;
  const S = B + (c.extraS ?? 0);
  const L = T + (c.extraL ?? 0);
  const q = randomF32(B * T * Hq * D, r);
  const k = randomF32(B * T * Hkv * D, r);
  const v = randomF32(B * T * Hkv * D, r);
  const dout = randomF32(B * T * Hq * D, r);
  const kcache = new Float32Array(S * Hkv * L * D).fill(NaN);
  const vcache = new Float32Array(S * Hkv * L * D).fill(NaN);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < Hkv; h++) {
        const src = ((b * T + t) * Hkv + h) * D;
        const dst = ((b * Hkv + h) * L + t) * D;
        kcache.set(k.subarray(src, src + D), dst);
        vcache.set(v.subarray(src, src + D), dst);
      }
    }
  }
  const tq = gpu.upload(q, [B, T, Hq, D]);
  const kc = gpu.upload(kcache, [S, Hkv, L, D]);
  const vc = gpu.upload(vcache, [S, Hkv, L, D]);
  let out: Tensor;
  let lse: Tensor;
  if (c.gpuForward) {
    out = poisoned(gpu, [B, T, Hq, D]);
    lse = poisoned(gpu, [B, T, Hq]);
    const slots = gpu.upload(Uint32Array.from({ length: B }, (_, b) => b), [B]);
    const starts = gpu.upload(new Uint32Array(B), [B]);
    attention(gpu, tq, kc, vc, slots, starts, { scale: c.scale, lse }, out);
  } else {
    const f = attentionTrainRef(q, k, v, c, c.scale);
    out = gpu.upload(Float32Array.from(f.out), [B, T, Hq, D]);
    lse = gpu.upload(Float32Array.from(f.lse), [B, T, Hq]);
  }
  const ref = attentionBackwardRef(dout, q, k, v, c, c.scale);
  return { dout: gpu.upload(dout, [B, T, Hq, D]), q: tq, kc, vc, out, lse, ref };
}

// Each head dim is a pipeline per kernel (seconds to compile on lavapipe): D in {8, 16, 32, 64}.
describe('attentionBackward (GPU vs float64 reference)', () => {
  const cases: Case[] = [
    { B: 1, T: 1, Hq: 1, Hkv: 1, D: 8 },
    { B: 1, T: 7, Hq: 4, Hkv: 2, D: 16, extraL: 5 }, // GQA
    { B: 2, T: 33, Hq: 4, Hkv: 1, D: 32, extraS: 1, extraL: 2 }, // MQA
    { B: 1, T: 65, Hq: 2, Hkv: 2, D: 64, gpuForward: true }, // MHA, after the real forward
    { B: 1, T: 20, Hq: 14, Hkv: 2, D: 64, scale: 0.3, gpuForward: true }, // Qwen2.5-0.5B heads (G = 7)
    { B: 3, T: 17, Hq: 3, Hkv: 3, D: 16, scale: 1.5 },
    // rows a multiple of the subgroup matmul's 64-row blocks: the dense path's causal hints skip
    // score blocks and the zero halves of P and dS (matmul-causal.test.ts)
    { B: 2, T: 128, Hq: 4, Hkv: 2, D: 16 },
  ];
  // Both implementations: the flash kernels, and the dense path (batched matmuls over materialised
  // probabilities), which needs a cache of exactly B slots of T positions.
  const paths: AttentionBackwardPath[] = ['flash', 'dense'];
  for (const c of cases) for (const path of paths) {
    if (path === 'dense' && (c.extraL || c.extraS)) continue;
    it(`matches for ${label(c)} (${path})`, async () => {
      const gpu = await testGpu();
      const x = await build(gpu, c, rng());
      const { B, T, Hq, Hkv, D } = c;
      const grads = { dq: poisoned(gpu, [B, T, Hq, D]), dk: poisoned(gpu, [B, T, Hkv, D]), dv: poisoned(gpu, [B, T, Hkv, D]) };
      const starts = new Array<number>(B).fill(0);
      const g = attentionBackward(gpu, x.dout, x.q, x.kc, x.vc, x.out, x.lse, { scale: c.scale, T, starts, path }, grads);
      assert.equal(g.dq, grads.dq);
      const tol = { rtol: 2e-4, atol: 2e-5 };
      // dq and dk sum dS = P·(dP − delta), which cancels exactly where a row attends one key (T=1:
      // all zero); float32 then leaves rounding of dP's size, so atol is relative to dv's scale too
      const big = (xs: Float64Array) => xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const qkTol = { ...tol, scale: Math.max(big(x.ref.dq), big(x.ref.dk), big(x.ref.dv)) };
      assertClose(`${label(c)} dq`, await gpu.readF32(g.dq), x.ref.dq, qkTol);
      assertClose(`${label(c)} dk`, await gpu.readF32(g.dk), x.ref.dk, qkTol);
      assertClose(`${label(c)} dv`, await gpu.readF32(g.dv), x.ref.dv, tol);
    });
  }

  for (const path of paths) {
    it(`is deterministic: two runs give bit-identical gradients (${path})`, async () => {
      const gpu = await testGpu();
      const c: Case = { B: 2, T: 33, Hq: 4, Hkv: 1, D: 32 };
      const x = await build(gpu, c, rng());
      const bits = async (t: Tensor) => new Uint32Array((await gpu.readF32(t)).buffer);
      const a = attentionBackward(gpu, x.dout, x.q, x.kc, x.vc, x.out, x.lse, { T: c.T, path });
      const b = attentionBackward(gpu, x.dout, x.q, x.kc, x.vc, x.out, x.lse, { T: c.T, path });
      for (const name of ['dq', 'dk', 'dv'] as const) {
        assert.deepEqual(await bits(b[name]), await bits(a[name]), `${name} differs between runs`);
      }
    });
  }

  it('takes the dense path by default for short training rows, the flash kernels for long ones or a larger cache', async () => {
    const gpu = await testGpu();
    assert.equal(usesDenseAttention(gpu, 16, 128, 4), true); // the bundled model's training shape
    assert.equal(usesDenseAttention(gpu, 16, 2048, 4), false); // 1 GiB of probabilities
    assert.equal(usesDenseAttention(gpu, 2, 33, 4, 3), false); // a spare cache slot
    assert.equal(usesDenseAttention(gpu, 2, 33, 4, 2, 35), false); // spare cache positions
  });

  it('rejects bad shapes and unsupported layouts with PonderError SHAPE naming the shapes', async () => {
    const gpu = await testGpu();
    const B = 2, T = 5, Hq = 4, Hkv = 2, D = 8;
    const q = gpu.empty([B, T, Hq, D]);
    const dout = gpu.empty([B, T, Hq, D]);
    const out = gpu.empty([B, T, Hq, D]);
    const lse = gpu.empty([B, T, Hq]);
    const kc = gpu.empty([B, Hkv, T, D]);
    const vc = gpu.empty([B, Hkv, T, D]);
    const shape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && /attentionBackward/.test(e.message) && re.test(e.message);
    const run = (o: Partial<Record<'dout' | 'q' | 'kc' | 'vc' | 'out' | 'lse', Tensor>>, opts: object = {}, grads = {}) =>
      attentionBackward(gpu, o.dout ?? dout, o.q ?? q, o.kc ?? kc, o.vc ?? vc, o.out ?? out, o.lse ?? lse, { T, ...opts }, grads);
    assert.throws(() => run({ dout: gpu.empty([B, T, Hq, D + 1]) }), shape(/\[2x5x4x9\].*\[2x5x4x8\]/));
    assert.throws(() => run({ out: gpu.empty([B, T + 1, Hq, D]) }), shape(/\[2x6x4x8\].*\[2x5x4x8\]/));
    assert.throws(() => run({ lse: gpu.empty([B, T, Hq, 1]) }), shape(/\[2x5x4x1\].*\[2x5x4\]/));
    assert.throws(() => run({ q: gpu.empty([B, T, 3, D]), dout: gpu.empty([B, T, 3, D]), out: gpu.empty([B, T, 3, D]), lse: gpu.empty([B, T, 3]) }), shape(/\[2x5x3x8\].*not a multiple/));
    assert.throws(() => run({ kc: gpu.empty([B, Hkv, T, 16]), vc: gpu.empty([B, Hkv, T, 16]) }), shape(/D=8.*\[2x2x5x16\]/));
    assert.throws(() => run({ kc: gpu.empty([B, Hkv, T - 1, D]), vc: gpu.empty([B, Hkv, T - 1, D]) }), shape(/\[2x2x4x8\].*T=5/));
    assert.throws(() => run({ kc: gpu.empty([1, Hkv, T, D]), vc: gpu.empty([1, Hkv, T, D]) }), shape(/\[1x2x5x8\].*slots/));
    assert.throws(() => run({ vc: gpu.empty([B, Hkv, T + 1, D]) }), shape(/vCache.*\[2x2x6x8\]/));
    assert.throws(() => run({}, { T: 4 }), shape(/T=4.*\[2x5x4x8\]/));
    assert.throws(() => run({}, { starts: [0, 3] }), shape(/starts=\[0,3\]/));
    assert.throws(() => run({}, { slots: [1, 0] }), shape(/slots=\[1,0\]/));
    assert.throws(() => run({}, {}, { dk: gpu.empty([B, T, Hq, D]) }), shape(/dk.*\[2x5x4x8\].*\[2x5x2x8\]/));
    assert.throws(() => run({}, {}, { dq: gpu.empty([B, T, Hkv, D]) }), shape(/dq.*\[2x5x2x8\].*\[2x5x4x8\]/));
    assert.throws(() => run({ kc: gpu.empty([B + 1, Hkv, T, D]), vc: gpu.empty([B + 1, Hkv, T, D]) }, { path: 'dense' }), shape(/dense path.*\[3x2x5x8\]/));
  });
});
