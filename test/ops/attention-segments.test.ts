import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attention, kvWrite } from '../../src/ops/attention.js';
import { attentionBackward } from '../../src/ops/attention-backward.js';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomSegments, rng } from '../helpers/random.js';
import { attentionBackwardRef, attentionTrainRef, type TrainDims } from '../reference/attention-backward.js';

/**
 * Packed rows: attention confined to each token's segment (block-diagonal causal), forward (flash
 * and dense) and backward (flash and dense), on the GPU against the float64 training-layout reference (whose gradients with segments
 * are proven against finite differences in attention-backward.test.ts).
 */

interface Case extends TrainDims {
  maxRun: number;
}

const label = (c: Case) => `B=${c.B} T=${c.T} Hq=${c.Hq} Hkv=${c.Hkv} D=${c.D} runs≤${c.maxRun}`;

interface Built {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  segments: Uint32Array;
  tq: Tensor;
  kc: Tensor;
  vc: Tensor;
  slots: Tensor;
  starts: Tensor;
  seg: Tensor;
}

/** q, k, v and segments; the caches filled by kvWrite (one slot per row, positions 0..T-1). */
function build(gpu: Gpu, c: Case, r: () => number): Built {
  const { B, T, Hq, Hkv, D } = c;
  const q = randomF32(B * T * Hq * D, r);
  const k = randomF32(B * T * Hkv * D, r);
  const v = randomF32(B * T * Hkv * D, r);
  const segments = randomSegments(B, T, r, c.maxRun);
  const kc = poisoned(gpu, [B, Hkv, T, D]);
  const vc = poisoned(gpu, [B, Hkv, T, D]);
  const slots = gpu.upload(Uint32Array.from({ length: B }, (_, b) => b), [B]);
  const starts = gpu.upload(new Uint32Array(B), [B]);
  kvWrite(gpu, gpu.upload(k, [B, T, Hkv, D]), gpu.upload(v, [B, T, Hkv, D]), kc, vc, slots, starts);
  return { q, k, v, segments, tq: gpu.upload(q, [B, T, Hq, D]), kc, vc, slots, starts, seg: gpu.upload(segments, [B, T]) };
}

describe('attention with segments (packed rows)', () => {
  // D = 32 is the bundled model's head dim; D = 64 with G = 7 the 0.5B model's heads; runs of 1 put
  // every token in a segment of its own (each attends only to itself).
  const cases: Case[] = [
    { B: 2, T: 37, Hq: 4, Hkv: 2, D: 32, maxRun: 9 },
    { B: 1, T: 50, Hq: 14, Hkv: 2, D: 64, maxRun: 20 },
    { B: 3, T: 12, Hq: 2, Hkv: 1, D: 32, maxRun: 1 },
    // rows of two 64-row blocks: the dense path's causal hints skip blocks (matmul-causal.test.ts)
    { B: 2, T: 128, Hq: 4, Hkv: 2, D: 32, maxRun: 60 },
  ];
  for (const c of cases) {
    it(`forward and backward match the float64 reference for ${label(c)}`, async () => {
      const gpu = await testGpu();
      const { B, T, Hq, Hkv, D } = c;
      const x = build(gpu, c, rng());
      const dims: TrainDims = { ...c, segments: x.segments };
      const out = poisoned(gpu, [B, T, Hq, D]);
      const lse = poisoned(gpu, [B, T, Hq]);
      const f = attentionTrainRef(x.q, x.k, x.v, dims);
      // both forwards: the flash prefill and the dense path (scores, row softmax, P·v); the dense
      // one runs last, so the backward below reads its out and lse
      for (const path of ['flash', 'dense'] as const) {
        attention(gpu, x.tq, x.kc, x.vc, x.slots, x.starts, { lse, segments: x.seg, trainingRows: true, path }, out);
        assertClose(`${label(c)} out (${path})`, await gpu.readF32(out), f.out, { rtol: 1e-4, atol: 2e-5 });
        assertClose(`${label(c)} lse (${path})`, await gpu.readF32(lse), f.lse, { rtol: 1e-5, atol: 1e-6 });
      }

      const dout = randomF32(B * T * Hq * D, rng());
      const grads = { dq: poisoned(gpu, [B, T, Hq, D]), dk: poisoned(gpu, [B, T, Hkv, D]), dv: poisoned(gpu, [B, T, Hkv, D]) };
      const ref = attentionBackwardRef(dout, x.q, x.k, x.v, dims);
      const tol = { rtol: 2e-4, atol: 2e-5 };
      for (const path of ['flash', 'dense'] as const) {
        attentionBackward(gpu, gpu.upload(dout, [B, T, Hq, D]), x.tq, x.kc, x.vc, out, lse, { T, segments: x.seg, path }, grads);
        assertClose(`${label(c)} dq (${path})`, await gpu.readF32(grads.dq), ref.dq, tol);
        assertClose(`${label(c)} dk (${path})`, await gpu.readF32(grads.dk), ref.dk, tol);
        assertClose(`${label(c)} dv (${path})`, await gpu.readF32(grads.dv), ref.dv, tol);
      }
      // the dense forward keeping q head-major and P, the backward reusing them
      const G = Hq / Hkv;
      const keep = { qH: poisoned(gpu, [B * Hkv, G * T, D]), probs: poisoned(gpu, [B * Hkv, G * T, T]) };
      attention(gpu, x.tq, x.kc, x.vc, x.slots, x.starts, { lse, segments: x.seg, trainingRows: true, keep }, out);
      assertClose(`${label(c)} out (dense, kept)`, await gpu.readF32(out), f.out, { rtol: 1e-4, atol: 2e-5 });
      attentionBackward(gpu, gpu.upload(dout, [B, T, Hq, D]), x.tq, x.kc, x.vc, out, lse, { T, segments: x.seg, kept: keep }, grads);
      assertClose(`${label(c)} dq (kept)`, await gpu.readF32(grads.dq), ref.dq, tol);
      assertClose(`${label(c)} dk (kept)`, await gpu.readF32(grads.dk), ref.dk, tol);
      assertClose(`${label(c)} dv (kept)`, await gpu.readF32(grads.dv), ref.dv, tol);
    });
  }

  it('one segment over the whole row is plain causal attention, bit for bit', async () => {
    const gpu = await testGpu();
    const c: Case = { B: 2, T: 21, Hq: 4, Hkv: 2, D: 32, maxRun: 1 };
    const { B, T, Hq, D } = c;
    const x = build(gpu, c, rng());
    const zero = gpu.upload(new Uint32Array(B * T), [B, T]);
    const run = async (segments: Tensor | undefined, path: 'flash' | 'dense') => {
      const out = poisoned(gpu, [B, T, Hq, D]);
      const lse = poisoned(gpu, [B, T, Hq]);
      attention(gpu, x.tq, x.kc, x.vc, x.slots, x.starts, { lse, segments, trainingRows: true, path }, out);
      const dout = gpu.upload(randomF32(B * T * Hq * D, rng(7)), [B, T, Hq, D]);
      const g = attentionBackward(gpu, dout, x.tq, x.kc, x.vc, out, lse, { T, segments });
      const bits = async (t: Tensor) => [...new Uint32Array((await gpu.readF32(t)).buffer)];
      return { out: await bits(out), dq: await bits(g.dq), dk: await bits(g.dk), dv: await bits(g.dv) };
    };
    for (const path of ['flash', 'dense'] as const) {
      const plain = await run(undefined, path);
      const one = await run(zero, path);
      for (const k of ['out', 'dq', 'dk', 'dv'] as const) assert.deepEqual(one[k], plain[k], `${k} differs (${path})`);
    }
  });

  it('rejects segments of the wrong shape or dtype with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const B = 2, T = 5, Hq = 4, Hkv = 2, D = 8;
    const q = gpu.empty([B, T, Hq, D]);
    const kc = gpu.empty([B, Hkv, T, D]);
    const vc = gpu.empty([B, Hkv, T, D]);
    const slots = gpu.empty([B], 'u32');
    const starts = gpu.empty([B], 'u32');
    const shape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    assert.throws(() => attention(gpu, q, kc, vc, slots, starts, { segments: gpu.empty([B, T + 1], 'u32') }), shape(/attention: segments.*\[2x6\].*\[2x5\]/));
    assert.throws(() => attention(gpu, q, kc, vc, slots, starts, { segments: gpu.empty([B, T], 'f32') }), shape(/segments is f32, expected u32/));
    const lse = gpu.empty([B, T, Hq]);
    assert.throws(() => attentionBackward(gpu, q, q, kc, vc, q, lse, { T, segments: gpu.empty([B * T], 'u32') }), shape(/attentionBackward: segments.*\[10\].*\[2x5\]/));
    // kept dense-attention buffers of the wrong shape: named by both ops
    const keep = { qH: gpu.empty([B * Hkv, 2 * T, D]), probs: gpu.empty([B * Hkv, 2 * T, T + 1]) };
    assert.throws(() => attention(gpu, q, kc, vc, slots, starts, { lse, trainingRows: true, keep }), shape(/attention: kept\.probs/));
    assert.throws(() => attentionBackward(gpu, q, q, kc, vc, q, lse, { T, kept: keep }), shape(/attentionBackward: kept\.probs/));
  });
});
