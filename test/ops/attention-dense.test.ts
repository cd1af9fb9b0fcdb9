import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kvWrite } from '../../src/ops/attention.js';
import { denseAttentionForward, usesDenseAttention } from '../../src/ops/attention-dense.js';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomSegments, rng } from '../helpers/random.js';
import { attentionTrainRef, type TrainDims } from '../reference/attention-backward.js';

/**
 * The dense attention forward of training (scores materialised, products as batched matmuls) against
 * the float64 training-layout reference: out and the log-sum-exp the backward reads. Its backward is
 * tested beside the flash kernels' in attention-backward.test.ts and attention-segments.test.ts.
 */

interface Case extends TrainDims {
  scale?: number;
  /** packed rows: random segments with runs of at most this many tokens */
  maxRun?: number;
}

const label = (c: Case) => `B=${c.B} T=${c.T} Hq=${c.Hq} Hkv=${c.Hkv} D=${c.D}` + (c.scale !== undefined ? ` scale=${c.scale}` : '') + (c.maxRun ? ` runs≤${c.maxRun}` : '');

function build(gpu: Gpu, c: Case, r: () => number) {
  const { B, T, Hq, Hkv, D } = c;
  const q = randomF32(B * T * Hq * D, r);
  const k = randomF32(B * T * Hkv * D, r);
  const v = randomF32(B * T * Hkv * D, r);
  const segments = c.maxRun ? randomSegments(B, T, r, c.maxRun) : undefined;
  const kc = poisoned(gpu, [B, Hkv, T, D]);
  const vc = poisoned(gpu, [B, Hkv, T, D]);
  const slots = gpu.upload(Uint32Array.from({ length: B }, (_, b) => b), [B]);
  const starts = gpu.upload(new Uint32Array(B), [B]);
  kvWrite(gpu, gpu.upload(k, [B, T, Hkv, D]), gpu.upload(v, [B, T, Hkv, D]), kc, vc, slots, starts);
  return { q, k, v, segments, tq: gpu.upload(q, [B, T, Hq, D]), kc, vc, seg: segments ? gpu.upload(segments, [B, T]) : undefined };
}

describe('denseAttentionForward (GPU vs float64 reference)', () => {
  const cases: Case[] = [
    { B: 1, T: 1, Hq: 1, Hkv: 1, D: 8 },
    { B: 2, T: 37, Hq: 4, Hkv: 2, D: 32 }, // the bundled model's heads (GQA)
    { B: 3, T: 17, Hq: 3, Hkv: 1, D: 16, scale: 1.5 }, // MQA, larger scale
    { B: 1, T: 70, Hq: 2, Hkv: 2, D: 64 }, // MHA; rows longer than a workgroup's 64 threads
    { B: 1, T: 20, Hq: 14, Hkv: 2, D: 64, scale: 0.3 }, // Qwen2.5-0.5B heads (G = 7)
    { B: 2, T: 37, Hq: 4, Hkv: 2, D: 32, maxRun: 9 }, // packed rows
    { B: 3, T: 12, Hq: 2, Hkv: 1, D: 32, maxRun: 1 }, // every token its own segment
  ];
  for (const c of cases) {
    it(`matches for ${label(c)}`, async () => {
      const gpu = await testGpu();
      const x = build(gpu, c, rng());
      const { B, T, Hq, D } = c;
      const out = poisoned(gpu, [B, T, Hq, D]);
      const lse = poisoned(gpu, [B, T, Hq]);
      denseAttentionForward(gpu, x.tq, x.kc, x.vc, { scale: c.scale, segments: x.seg, lse }, out);
      const ref = attentionTrainRef(x.q, x.k, x.v, { ...c, segments: x.segments }, c.scale);
      assertClose(`${label(c)} out`, await gpu.readF32(out), ref.out, { rtol: 1e-4, atol: 2e-5 });
      assertClose(`${label(c)} lse`, await gpu.readF32(lse), ref.lse, { rtol: 1e-5, atol: 1e-6 });
    });
  }

  it('is deterministic: two runs give bit-identical outputs', async () => {
    const gpu = await testGpu();
    const c: Case = { B: 2, T: 33, Hq: 4, Hkv: 2, D: 32, maxRun: 7 };
    const x = build(gpu, c, rng());
    const run = async () => {
      const out = poisoned(gpu, [c.B, c.T, c.Hq, c.D]);
      const lse = poisoned(gpu, [c.B, c.T, c.Hq]);
      denseAttentionForward(gpu, x.tq, x.kc, x.vc, { segments: x.seg, lse }, out);
      return [...new Uint32Array((await gpu.readF32(out)).buffer), ...new Uint32Array((await gpu.readF32(lse)).buffer)];
    };
    assert.deepEqual(await run(), await run());
  });

  it('is taken for short training rows only', async () => {
    const gpu = await testGpu();
    assert.equal(usesDenseAttention(gpu, 16, 128, 4), true); // the bundled model's training shape
    assert.equal(usesDenseAttention(gpu, 16, 2048, 4), false); // 1 GiB of scores
    assert.equal(usesDenseAttention(gpu, 2, 33, 4, 3), false); // a spare cache slot
    assert.equal(usesDenseAttention(gpu, 2, 33, 4, 2, 35), false); // spare cache positions
  });

  it('rejects a cache that is not the training layout with PonderError SHAPE naming the shapes', async () => {
    const gpu = await testGpu();
    const B = 2, T = 5, Hq = 4, Hkv = 2, D = 8;
    const q = gpu.empty([B, T, Hq, D]);
    const out = gpu.empty([B, T, Hq, D]);
    const lse = gpu.empty([B, T, Hq]);
    const shape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && /denseAttention/.test(e.message) && re.test(e.message);
    const run = (kc: Tensor, vc: Tensor, l: Tensor = lse) => denseAttentionForward(gpu, q, kc, vc, { lse: l }, out);
    assert.throws(() => run(gpu.empty([B + 1, Hkv, T, D]), gpu.empty([B + 1, Hkv, T, D])), shape(/kCache.*\[3x2x5x8\]/));
    assert.throws(() => run(gpu.empty([B, Hkv, T + 2, D]), gpu.empty([B, Hkv, T + 2, D])), shape(/kCache.*\[2x2x7x8\]/));
    assert.throws(() => run(gpu.empty([B, 3, T, D]), gpu.empty([B, 3, T, D])), shape(/not a multiple/));
    assert.throws(() => run(gpu.empty([B, Hkv, T, D]), gpu.empty([B, Hkv, T, D]), gpu.empty([B, T])), shape(/lse.*\[2x5\]/));
  });
});
