import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { kvWrite } from '../../src/ops/attention.js';
import { rope, ropeTables } from '../../src/ops/rope.js';
import { ropeAndCache, ropeKvWrite, ropeKvWritePacked, type CacheWrite } from '../../src/ops/rope-kv-write.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomF32, randomNormal, rng } from '../helpers/random.js';
import { kvWriteRef } from '../reference/attention.js';
import { ropeRef } from '../reference/layers.js';

/**
 * ropeKvWrite (rope of q and k in place, k and v into the caches, one dispatch) against the float64
 * references of rope and kvWrite, bit for bit against the three separate ops it stands for, and its
 * packed form (q, k and v heads in one projection) bit for bit against it.
 */
interface Case {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  rotaryDim: number;
  maxPositions: number;
  S: number;
  L: number;
  slots: number[];
  starts: number[];
}

const cases: Case[] = [
  // a prefill of three rows into shuffled slots: one slot out of range, one row running past L
  { B: 3, T: 5, Hq: 4, Hkv: 2, D: 32, rotaryDim: 32, maxPositions: 64, S: 3, L: 12, slots: [2, 5, 0], starts: [0, 3, 9] },
  // partial rotary (Phi-like): pass-through dims of k still reach the cache
  { B: 2, T: 3, Hq: 6, Hkv: 2, D: 80, rotaryDim: 32, maxPositions: 64, S: 4, L: 16, slots: [3, 1], starts: [4, 0] },
  // a batched decode step (T = 1), positions past the tables (clamped to the last row)
  { B: 7, T: 1, Hq: 14, Hkv: 2, D: 64, rotaryDim: 64, maxPositions: 16, S: 8, L: 40, slots: [7, 0, 3, 1, 6, 2, 4], starts: [0, 15, 30, 2, 39, 17, 8] },
  { B: 1, T: 2, Hq: 1, Hkv: 1, D: 8, rotaryDim: 8, maxPositions: 8, S: 1, L: 4, slots: [0], starts: [1] },
];

/** A case's random inputs, their float64 references, and a way to upload fresh copies of them. */
function drawCase(gpu: Gpu, c: Case) {
  const r = rng();
  const { B, T, Hq, Hkv, D, S, L } = c;
  const theta = 10000;
  const q = randomNormal(B * T * Hq * D, r);
  const k = randomNormal(B * T * Hkv * D, r);
  const v = randomF32(B * T * Hkv * D, r);
  const kc = randomF32(S * Hkv * L * D, r);
  const vc = randomF32(S * Hkv * L * D, r);
  const positions = Uint32Array.from({ length: B * T }, (_, i) => c.starts[Math.floor(i / T)]! + (i % T));
  const tables = ropeTables(gpu, { maxPositions: c.maxPositions, rotaryDim: c.rotaryDim, theta });
  const kRef = ropeRef(k, positions, Hkv, D, c.rotaryDim, theta, c.maxPositions);
  const ref = { q: ropeRef(q, positions, Hq, D, c.rotaryDim, theta, c.maxPositions), k: kRef, ...kvWriteRef(kRef, v, kc, vc, c.slots, c.starts, { B, T, Hq, Hkv, D, S, L }) };
  const up = () => {
    const t = {
      q: gpu.upload(q, [B, T, Hq, D]),
      k: gpu.upload(k, [B, T, Hkv, D]),
      v: gpu.upload(v, [B, T, Hkv, D]),
      kc: gpu.upload(kc, [S, Hkv, L, D]),
      vc: gpu.upload(vc, [S, Hkv, L, D]),
    };
    const write: CacheWrite = { positions: gpu.upload(positions, [B * T], 'u32'), tables, kCache: t.kc, vCache: t.vc, slots: gpu.upload(Uint32Array.from(c.slots), [B], 'u32'), starts: gpu.upload(Uint32Array.from(c.starts), [B], 'u32') };
    return { ...t, write };
  };
  return { q, k, v, ref, up };
}

const TOL = { rtol: 1e-5, atol: 2e-6 };

describe('ropeKvWrite', () => {
  for (const c of cases) {
    it(`matches rope and kvWrite's float64 references, and the separate ops bit for bit: B=${c.B} T=${c.T} Hq=${c.Hq} Hkv=${c.Hkv} D=${c.D} rotary ${c.rotaryDim}`, async () => {
      const gpu = await testGpu();
      const { B, T, Hq, Hkv, D } = c;
      const { q, k, v, ref, up } = drawCase(gpu, c);
      const read = async (t: ReturnType<typeof up>) => ({ q: await gpu.readF32(t.q), k: await gpu.readF32(t.k), kc: await gpu.readF32(t.kc), vc: await gpu.readF32(t.vc) });

      const fused = up();
      ropeKvWrite(gpu, fused.q, fused.k, fused.v, fused.write);
      const got = await read(fused);
      assertClose('q', got.q, ref.q, TOL);
      assertClose('k', got.k, ref.k, TOL);
      assertClose('kCache', got.kc, ref.kCache, TOL);
      assertClose('vCache', got.vc, ref.vCache, TOL);

      const apart = up();
      const w = apart.write;
      rope(gpu, apart.q, w.positions, w.tables);
      rope(gpu, apart.k, w.positions, w.tables);
      kvWrite(gpu, apart.k, apart.v, apart.kc, apart.vc, w.slots, w.starts);
      assert.deepEqual(got, await read(apart));

      // one packed q|k|v projection [B, T, Hq + 2·Hkv, D]: the same bits, the rotated q in its own tensor
      const heads = Hq + 2 * Hkv;
      const packed = new Float32Array(B * T * heads * D);
      for (let tok = 0; tok < B * T; tok++) {
        packed.set(q.subarray(tok * Hq * D, (tok + 1) * Hq * D), tok * heads * D);
        packed.set(k.subarray(tok * Hkv * D, (tok + 1) * Hkv * D), (tok * heads + Hq) * D);
        packed.set(v.subarray(tok * Hkv * D, (tok + 1) * Hkv * D), (tok * heads + Hq + Hkv) * D);
      }
      const one = up();
      const qkv = gpu.upload(packed, [B, T, heads, D]);
      const qOut = gpu.empty([B, T, Hq, D]);
      ropeKvWritePacked(gpu, qkv, Hq, qOut, one.write);
      assert.deepEqual(await gpu.readF32(qOut), got.q);
      assert.deepEqual(await gpu.readF32(one.kc), got.kc);
      assert.deepEqual(await gpu.readF32(one.vc), got.vc);
      const packedOut = await gpu.readF32(qkv);
      for (let tok = 0; tok < B * T; tok++) {
        const kRow = (tok * heads + Hq) * D;
        assert.deepEqual(packedOut.subarray(kRow, kRow + Hkv * D), got.k.subarray(tok * Hkv * D, (tok + 1) * Hkv * D), `k of token ${tok}, rotated in place`);
      }
    });
  }

  it('other head dims run rope, rope and kvWrite (ropeAndCache), to the float64 references', async () => {
    const gpu = await testGpu();
    const c: Case = { B: 2, T: 3, Hq: 3, Hkv: 1, D: 36, rotaryDim: 20, maxPositions: 8, S: 2, L: 6, slots: [1, 0], starts: [0, 3] };
    const { ref, up } = drawCase(gpu, c);
    const t = up();
    assert.throws(() => ropeKvWrite(gpu, t.q, t.k, t.v, t.write), (e: unknown) => e instanceof PonderError && /multiples of 8, got D=36, rotary 20/.test(e.message));
    ropeAndCache(gpu, t.q, t.k, t.v, t.write);
    assertClose('q', await gpu.readF32(t.q), ref.q, TOL);
    assertClose('kCache', await gpu.readF32(t.kc), ref.kCache, TOL);
    assertClose('vCache', await gpu.readF32(t.vc), ref.vCache, TOL);
  });

  it('rejects an odd head dim, q, k or v sharing bytes, and mismatched shapes, in one line each', async () => {
    const gpu = await testGpu();
    const isShape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    const tables = ropeTables(gpu, { maxPositions: 8, rotaryDim: 4, theta: 10000 });
    const pos = gpu.empty([2], 'u32');
    const slots = gpu.empty([1], 'u32');
    const starts = gpu.empty([1], 'u32');
    const cache = (D: number) => gpu.empty([1, 1, 8, D]);
    const odd = gpu.empty([1, 2, 1, 5]);
    assert.throws(() => ropeKvWrite(gpu, odd, gpu.empty([1, 2, 1, 5]), gpu.empty([1, 2, 1, 5]), { positions: pos, tables, kCache: cache(5), vCache: cache(5), slots, starts }), isShape(/multiples of 8, got D=5, rotary 4/));
    const q = gpu.empty([1, 2, 1, 4]);
    assert.throws(() => ropeKvWrite(gpu, q, q, gpu.empty([1, 2, 1, 4]), { positions: pos, tables, kCache: cache(4), vCache: cache(4), slots, starts }), isShape(/q, k and v must not share bytes/));
    assert.throws(() => ropeKvWrite(gpu, q, gpu.empty([1, 3, 1, 4]), gpu.empty([1, 3, 1, 4]), { positions: pos, tables, kCache: cache(4), vCache: cache(4), slots, starts }), isShape(/k \[1x3x1x4\] must match q \[1x2x1x4\]/));
    assert.throws(() => ropeKvWrite(gpu, q, gpu.empty([1, 2, 1, 4]), gpu.empty([1, 2, 1, 4]), { positions: gpu.empty([3], 'u32'), tables, kCache: cache(4), vCache: cache(4), slots, starts }), isShape(/positions has 3 elements/));
    const c = { positions: pos, tables, kCache: cache(4), vCache: cache(4), slots, starts };
    assert.throws(() => ropeKvWritePacked(gpu, gpu.empty([1, 2, 4, 4]), 1, gpu.empty([1, 2, 1, 4]), c), isShape(/\[1x2x4x4\] does not hold 1 q heads/));
    assert.throws(() => ropeKvWritePacked(gpu, gpu.empty([1, 2, 3, 4]), 1, gpu.empty([1, 2, 2, 4]), c), isShape(/qOut.*\[1x2x2x4\]/));
    assert.throws(() => ropeKvWritePacked(gpu, gpu.empty([1, 2, 3, 4]), 1, gpu.empty([1, 2, 1, 4]), c), isShape(/multiples of 8, got D=4, rotary 4/));
  });
});
