import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attention, attentionTuneCandidates, kvWrite, setAttentionTuning, usesDecodeLanes, type AttentionOptions } from '../../src/ops/attention.js';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomNormal, rng } from '../helpers/random.js';
import { attentionRef, kvWriteRef, type AttnDims } from '../reference/attention.js';

interface Case {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  starts?: number[];
  slots?: number[];
  S?: number;
  L?: number;
  scale?: number;
  /** std of normal q/k (default: uniform in [-1, 1]) */
  std?: number;
  kernel?: AttentionOptions['kernel'];
  decodeKeySplit?: number;
  decodeRowGroups?: number;
  decodeLanes?: boolean;
}

interface Built {
  dims: AttnDims;
  q: Float32Array;
  slots: Uint32Array;
  starts: Uint32Array;
  /** CPU caches after the reference kvWrite */
  kRef: Float64Array;
  vRef: Float64Array;
  tq: Tensor;
  tk: Tensor;
  tv: Tensor;
  tkc: Tensor;
  tvc: Tensor;
  tslots: Tensor;
  tstarts: Tensor;
}

/**
 * A cache whose slots hold `starts[b]` random "history" positions for row b and NaN everywhere else
 * (so any read past the causal limit poisons the result), then the new k/v appended with kvWrite.
 */
async function build(gpu: Gpu, c: Case, r: () => number): Promise<Built> {
  const starts = Uint32Array.from(c.starts ?? new Array(c.B).fill(0));
  const slots = Uint32Array.from(c.slots ?? Array.from({ length: c.B }, (_, b) => b));
  const S = c.S ?? c.B;
  const L = c.L ?? Math.max(...Array.from(starts, (s) => s + c.T));
  const dims: AttnDims = { B: c.B, T: c.T, Hq: c.Hq, Hkv: c.Hkv, D: c.D, S, L };
  const draw = (n: number) => (c.std ? randomNormal(n, r, c.std) : randomF32(n, r));
  const cacheSize = S * c.Hkv * L * c.D;
  const kc = new Float32Array(cacheSize).fill(NaN);
  const vc = new Float32Array(cacheSize).fill(NaN);
  for (let b = 0; b < c.B; b++) {
    if (slots[b] >= S) continue;
    for (let h = 0; h < c.Hkv; h++) {
      const base = (slots[b] * c.Hkv + h) * L * c.D;
      const n = Math.min(starts[b], L) * c.D;
      kc.set(draw(n), base);
      vc.set(randomF32(n, r), base);
    }
  }
  const q = draw(c.B * c.T * c.Hq * c.D);
  const k = draw(c.B * c.T * c.Hkv * c.D);
  const v = randomF32(c.B * c.T * c.Hkv * c.D, r);
  const ref = kvWriteRef(k, v, kc, vc, slots, starts, dims);
  const tk = gpu.upload(k, [c.B, c.T, c.Hkv, c.D]);
  const tv = gpu.upload(v, [c.B, c.T, c.Hkv, c.D]);
  const tkc = gpu.upload(kc, [S, c.Hkv, L, c.D]);
  const tvc = gpu.upload(vc, [S, c.Hkv, L, c.D]);
  const tslots = gpu.upload(slots, [c.B]);
  const tstarts = gpu.upload(starts, [c.B]);
  kvWrite(gpu, tk, tv, tkc, tvc, tslots, tstarts);
  const tq = gpu.upload(q, [c.B, c.T, c.Hq, c.D]);
  return { dims, q, slots, starts, kRef: ref.kCache, vRef: ref.vCache, tq, tk, tv, tkc, tvc, tslots, tstarts };
}

async function checkCase(c: Case, kernel = c.kernel): Promise<void> {
  const gpu = await testGpu();
  const x = await build(gpu, c, rng());
  const { B, T, Hq, D } = x.dims;
  const out = poisoned(gpu, [B, T, Hq, D]);
  const lse = poisoned(gpu, [B, T, Hq]);
  attention(gpu, x.tq, x.tkc, x.tvc, x.tslots, x.tstarts, { scale: c.scale, lse, kernel, decodeKeySplit: kernel === 'prefill' ? undefined : c.decodeKeySplit, decodeRowGroups: kernel === 'prefill' ? undefined : c.decodeRowGroups, decodeLanes: kernel === 'prefill' ? undefined : c.decodeLanes }, out);
  const ref = attentionRef(x.q, x.kRef, x.vRef, x.slots, x.starts, x.dims, c.scale);
  const name = `${kernel ?? 'auto'} ${JSON.stringify(c)}`;
  assertClose(`${name} out`, await gpu.readF32(out), ref.out, { rtol: 1e-4, atol: 2e-5 });
  assertClose(`${name} lse`, await gpu.readF32(lse), ref.lse, { rtol: 1e-5, atol: 1e-6 });
}

const label = (c: Case) =>
  `B=${c.B} T=${c.T} Hq=${c.Hq} Hkv=${c.Hkv} D=${c.D}` + (c.starts ? ` starts=[${c.starts}]` : '') + (c.slots ? ` slots=[${c.slots}]` : '') + (c.std ? ` std=${c.std} scale=${c.scale}` : '') + (c.decodeRowGroups ? ` row groups ${c.decodeRowGroups}` : '') + (c.decodeLanes ? ' lanes' : '');

describe('kvWrite', () => {
  it('appends k/v at each row’s slot and start, leaving the rest of the cache alone', async () => {
    const gpu = await testGpu();
    const x = await build(gpu, { B: 3, T: 5, Hq: 2, Hkv: 2, D: 8, starts: [0, 4, 11], slots: [2, 0, 3], S: 4, L: 16 }, rng());
    assertClose('kCache', await gpu.readF32(x.tkc), x.kRef, { rtol: 0, atol: 0 });
    assertClose('vCache', await gpu.readF32(x.tvc), x.vRef, { rtol: 0, atol: 0 });
  });

  it('drops rows whose slot or positions are out of range instead of writing out of bounds', async () => {
    const gpu = await testGpu();
    // slot 9 ≥ S; row 1 runs past L (positions 14, 15 kept, 16.. dropped); row 2 starts past L.
    const x = await build(gpu, { B: 3, T: 4, Hq: 1, Hkv: 1, D: 4, starts: [0, 14, 40], slots: [9, 1, 0], S: 2, L: 16 }, rng());
    assertClose('kCache', await gpu.readF32(x.tkc), x.kRef, { rtol: 0, atol: 0 });
    assertClose('vCache', await gpu.readF32(x.tvc), x.vRef, { rtol: 0, atol: 0 });
  });
});

// Every head dim is a separate pipeline, and lavapipe spends 1-3 s compiling each one, so the cases
// stick to D in {8, 16, 32, 64, 80, 256} and few heads-per-workgroup variants.
describe('attention prefill (tiled online softmax)', () => {
  const cases: Case[] = [
    { B: 1, T: 7, Hq: 4, Hkv: 2, D: 16, starts: [5] },
    { B: 2, T: 33, Hq: 4, Hkv: 1, D: 32, starts: [0, 19] }, // MQA
    { B: 1, T: 129, Hq: 2, Hkv: 2, D: 64 }, // MHA, fresh prefill
    { B: 1, T: 40, Hq: 2, Hkv: 2, D: 64, starts: [37] }, // MHA continuing a cache
    { B: 3, T: 5, Hq: 6, Hkv: 3, D: 64, starts: [0, 9, 130], slots: [2, 0, 3], S: 4 },
    { B: 1, T: 17, Hq: 14, Hkv: 2, D: 64, starts: [100] }, // Qwen2.5-0.5B heads
    { B: 2, T: 9, Hq: 4, Hkv: 2, D: 80, starts: [3, 0] },
  ];
  for (const c of cases) it(`matches the float64 reference for ${label(c)}`, () => checkCase(c));

  it('handles T=1 (B=1, Hq=Hkv=1, D=8) with both kernels', async () => {
    await checkCase({ B: 1, T: 1, Hq: 1, Hkv: 1, D: 8 }, 'prefill');
    await checkCase({ B: 1, T: 1, Hq: 1, Hkv: 1, D: 8 }, 'decode');
    await checkCase({ B: 2, T: 1, Hq: 1, Hkv: 1, D: 8, starts: [6, 0] }, 'prefill');
  });

  it('supports D=256 within 16 KiB of workgroup memory (shared K/V buffer, key tile < lanes)', async () => {
    const gpu = await testGpu();
    const limits = gpu.limits as Record<string, number>;
    const saved = limits.maxComputeWorkgroupStorageSize;
    limits.maxComputeWorkgroupStorageSize = 16384; // the WebGPU default; lavapipe offers 32 KiB
    try {
      await checkCase({ B: 1, T: 6, Hq: 2, Hkv: 2, D: 256, starts: [3] });
      await checkCase({ B: 1, T: 1, Hq: 8, Hkv: 1, D: 256, starts: [140] }, 'decode');
      await checkCase({ B: 1, T: 1, Hq: 8, Hkv: 1, D: 256, starts: [140] }, 'prefill');
    } finally {
      limits.maxComputeWorkgroupStorageSize = saved;
    }
  });

  it('stays finite and exact with huge scores (max-subtracted)', async () => {
    // scores of magnitude ~100s: exp overflows f32 unless the running max is subtracted.
    await checkCase({ B: 2, T: 21, Hq: 4, Hkv: 2, D: 32, starts: [0, 11], std: 3, scale: 1 });
  });
});

describe('attention decode (T = 1, keys split over the workgroup)', () => {
  const cases: Case[] = [
    // B=5 sequences of different lengths in shuffled slots; up to 3 chunks of 128 keys.
    { B: 5, T: 1, Hq: 14, Hkv: 2, D: 64, starts: [0, 1, 37, 128, 300], slots: [3, 0, 4, 1, 2] },
    { B: 5, T: 1, Hq: 4, Hkv: 4, D: 32, starts: [5, 0, 130, 17, 64] }, // MHA
    { B: 3, T: 1, Hq: 6, Hkv: 1, D: 32, starts: [200, 2, 9] }, // MQA
    { B: 2, T: 1, Hq: 16, Hkv: 1, D: 32, starts: [150, 3] }, // G=16: two workgroups per KV head
    { B: 2, T: 1, Hq: 10, Hkv: 2, D: 80, starts: [70, 255] },
    { B: 1, T: 1, Hq: 3, Hkv: 3, D: 8, starts: [33] },
    { B: 3, T: 1, Hq: 16, Hkv: 2, D: 32, starts: [0, 150, 40], std: 3, scale: 1 }, // huge scores
    { B: 3, T: 1, Hq: 14, Hkv: 2, D: 64, starts: [300, 0, 77], decodeKeySplit: 16 }, // GPU-style key split + merge
    // row groups: several (b, kv head) pairs a workgroup, of different lengths, the last group partial
    { B: 5, T: 1, Hq: 4, Hkv: 2, D: 32, starts: [0, 9, 130, 3, 64], slots: [4, 0, 3, 1, 2], decodeKeySplit: 1, decodeRowGroups: 4 },
    { B: 7, T: 1, Hq: 6, Hkv: 1, D: 16, starts: [40, 1, 2, 200, 0, 77, 5], decodeKeySplit: 1, decodeRowGroups: 16 },
    // a lane a (b, kv head) pair, all its query heads (attention_decode_lanes.wgsl): G from 1 to 8,
    // G·D up to its 512, pairs past the last workgroup's end (40 pairs: two full workgroups and a part)
    { B: 5, T: 1, Hq: 14, Hkv: 2, D: 64, starts: [0, 1, 37, 128, 300], slots: [3, 0, 4, 1, 2], decodeLanes: true },
    { B: 5, T: 1, Hq: 4, Hkv: 4, D: 32, starts: [5, 0, 130, 17, 64], decodeLanes: true },
    { B: 3, T: 1, Hq: 6, Hkv: 1, D: 32, starts: [200, 2, 9], decodeLanes: true },
    { B: 1, T: 1, Hq: 3, Hkv: 3, D: 8, starts: [33], decodeLanes: true },
    { B: 3, T: 1, Hq: 16, Hkv: 2, D: 32, starts: [0, 150, 40], std: 3, scale: 1, decodeLanes: true },
    { B: 20, T: 1, Hq: 4, Hkv: 2, D: 32, starts: [3, 40, 0, 17, 99, 8, 41, 2, 60, 5, 33, 1, 70, 12, 9, 45, 6, 28, 0, 81], decodeLanes: true },
  ];
  for (const c of cases) {
    it(`matches the float64 reference for ${label(c)}`, async () => {
      await checkCase(c);
      await checkCase(c, 'prefill'); // the prefill kernel at T=1 agrees too
    });
  }

  it('gives the same answer as prefill at the same position', async () => {
    const gpu = await testGpu();
    const B = 2, T = 40, Hq = 14, Hkv = 2, D = 64;
    const x = await build(gpu, { B, T, Hq, Hkv, D, starts: [0, 23] }, rng());
    const full = attention(gpu, x.tq, x.tkc, x.tvc, x.tslots, x.tstarts, {});
    const prefill = await gpu.readF32(full);
    for (const t of [0, 17, 39]) {
      const q1 = new Float32Array(B * Hq * D);
      for (let b = 0; b < B; b++) q1.set(x.q.subarray(((b * T + t) * Hq) * D, ((b * T + t + 1) * Hq) * D), b * Hq * D);
      const starts = gpu.upload(Uint32Array.from(x.starts, (s) => s + t), [B]);
      const out = poisoned(gpu, [B, 1, Hq, D]);
      attention(gpu, gpu.upload(q1, [B, 1, Hq, D]), x.tkc, x.tvc, x.tslots, starts, {}, out);
      const dec = await gpu.readF32(out);
      const expected = new Float64Array(B * Hq * D);
      for (let b = 0; b < B; b++) expected.set(prefill.subarray(((b * T + t) * Hq) * D, ((b * T + t + 1) * Hq) * D), b * Hq * D);
      assertClose(`decode vs prefill at t=${t}`, dec, expected, { rtol: 1e-5, atol: 1e-6 });
    }
  });

  it('clamps out-of-range slots (out 0, lse -inf) and starts past the cache (all L positions)', async () => {
    const c: Case = { B: 3, T: 1, Hq: 12, Hkv: 2, D: 32, starts: [5, 90, 3], slots: [0, 1, 7], S: 2, L: 24 };
    await checkCase(c);
    await checkCase({ ...c, decodeLanes: true });
    await checkCase(c, 'prefill');
    await checkCase({ ...c, T: 3 });
  });

  it('a lane a pair by default from 8 pairs on a CPU adapter, the same bits as a lane a head', async () => {
    const gpu = await testGpu();
    assert.equal(usesDecodeLanes(gpu, 128, 32, 2), gpu.info.software);
    assert.equal(usesDecodeLanes(gpu, 8, 32, 2), gpu.info.software);
    assert.equal(usesDecodeLanes(gpu, 7, 32, 2), false); // few pairs: a lane a head keeps both cores busy
    assert.equal(usesDecodeLanes(gpu, 128, 64, 16), false); // G·D past the kernel's 512 q floats a lane
    // both kernels sum each head's keys in the same order: equal, not merely close
    const c: Case = { B: 20, T: 1, Hq: 4, Hkv: 2, D: 32, starts: Array.from({ length: 20 }, (_, b) => (b * 37) % 90) };
    const x = await build(gpu, c, rng());
    const run = async (decodeLanes?: boolean) => gpu.readF32(attention(gpu, x.tq, x.tkc, x.tvc, x.tslots, x.tstarts, { decodeLanes }));
    const lanes = await run(true);
    assert.deepEqual(await run(false), lanes);
    assert.deepEqual(await run(), lanes);
  });
});

describe('attention shape checks', () => {
  const isShape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);

  it('rejects bad shapes and dtypes with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const kc = gpu.empty([2, 2, 16, 8]);
    const vc = gpu.empty([2, 2, 16, 8]);
    const q = gpu.empty([2, 3, 4, 8]);
    const slots = gpu.empty([2], 'u32');
    const starts = gpu.empty([2], 'u32');
    // Hq not a multiple of Hkv
    assert.throws(() => attention(gpu, gpu.empty([2, 3, 3, 8]), kc, vc, slots, starts), isShape(/\[2x3x3x8\].*3 heads.*2 KV heads.*\[2x2x16x8\]/));
    // head dim mismatch
    assert.throws(() => attention(gpu, gpu.empty([2, 3, 4, 16]), kc, vc, slots, starts), isShape(/D=16.*\[2x2x16x8\].*D=8/));
    // vCache differs from kCache
    assert.throws(() => attention(gpu, q, kc, gpu.empty([2, 2, 8, 8]), slots, starts), isShape(/vCache.*\[2x2x8x8\].*\[2x2x16x8\]/));
    // slots / starts of the wrong length or dtype
    assert.throws(() => attention(gpu, q, kc, vc, gpu.empty([3], 'u32'), starts), isShape(/slots.*\[3\].*\[2\]/));
    assert.throws(() => attention(gpu, q, kc, vc, slots, gpu.empty([2], 'i32')), isShape(/starts is i32, expected u32/));
    assert.throws(() => attention(gpu, q, kc, vc, gpu.empty([2], 'f32'), starts), isShape(/slots is f32/));
    // out / lse shapes
    assert.throws(() => attention(gpu, q, kc, vc, slots, starts, {}, gpu.empty([2, 3, 4, 9])), isShape(/out.*\[2x3x4x9\].*\[2x3x4x8\]/));
    assert.throws(() => attention(gpu, q, kc, vc, slots, starts, { lse: gpu.empty([2, 3, 2]) }), isShape(/lse.*\[2x3x2\].*\[2x3x4\]/));
    // decode kernel forced with T > 1
    assert.throws(() => attention(gpu, q, kc, vc, slots, starts, { kernel: 'decode' }), isShape(/decode.*\[2x3x4x8\]/));
    // unsupported head dim
    // the lanes decode kernel asked for more q floats a KV head than it holds
    const wide = gpu.empty([1, 1, 16, 64]);
    assert.throws(() => attention(gpu, wide, gpu.empty([1, 1, 8, 64]), gpu.empty([1, 1, 8, 64]), gpu.empty([1], 'u32'), gpu.empty([1], 'u32'), { decodeLanes: true }), isShape(/at most 512 q floats.*16 heads of 64/));
    const big = gpu.empty([1, 1, 1, 257]);
    assert.throws(() => attention(gpu, big, big, gpu.empty([1, 1, 1, 257]), gpu.empty([1], 'u32'), gpu.empty([1], 'u32')), isShape(/D=257 is unsupported/));
  });

  it('rejects bad kvWrite shapes', async () => {
    const gpu = await testGpu();
    const kc = gpu.empty([2, 2, 16, 8]);
    const vc = gpu.empty([2, 2, 16, 8]);
    const k = gpu.empty([2, 3, 2, 8]);
    const slots = gpu.empty([2], 'u32');
    const starts = gpu.empty([2], 'u32');
    assert.throws(() => kvWrite(gpu, k, gpu.empty([2, 3, 2, 4]), kc, vc, slots, starts), isShape(/v.*\[2x3x2x4\].*\[2x3x2x8\]/));
    assert.throws(() => kvWrite(gpu, gpu.empty([2, 3, 1, 8]), gpu.empty([2, 3, 1, 8]), kc, vc, slots, starts), isShape(/\[2x2x16x8\] has 2 KV heads, k has 1/));
    assert.throws(() => kvWrite(gpu, k, k, kc, vc, gpu.empty([1], 'u32'), starts), isShape(/slots.*\[1\].*\[2\]/));
    assert.throws(() => kvWrite(gpu, k, k, kc, kc, slots, starts), isShape(/different buffers/));
  });
});

describe('attention under the autotune candidates', () => {
  // every setting `ponder bench --tune` may install for the 0.5B model's head dim (64)
  it('matches the float64 reference with every prefill tile and decode key split candidate', async () => {
    const gpu = await testGpu();
    const candidates = attentionTuneCandidates(gpu, 64);
    assert.ok(candidates.some((c) => c.part === 'prefill') && candidates.some((c) => c.part === 'decode'));
    for (const c of candidates) {
      setAttentionTuning(gpu, c.tuning);
      try {
        if (c.part === 'prefill') await checkCase({ B: 2, T: 37, Hq: 14, Hkv: 2, D: 64, starts: [0, 21] });
        else await checkCase({ B: 3, T: 1, Hq: 14, Hkv: 2, D: 64, starts: [300, 0, 77] });
      } finally {
        setAttentionTuning(gpu, undefined);
      }
    }
  });

  it('rejects tuning the device cannot run with DEVICE_LIMIT', async () => {
    const gpu = await testGpu();
    const limit = (e: unknown) => e instanceof PonderError && e.code === 'DEVICE_LIMIT';
    assert.throws(() => setAttentionTuning(gpu, { prefill: { '64': { RM: 8, RG: 8, TPR: 8, BK: 32, SHAREKV: false } } }), limit);
    assert.throws(() => setAttentionTuning(gpu, { decodeKeySplit: { '64': 0 } }), limit);
  });
});
