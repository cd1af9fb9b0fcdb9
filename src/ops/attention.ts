import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { shapeString, type Tensor } from '../gpu/tensor.js';
import { expectDtype, expectPositiveInt, expectRank, expectShape, fail } from './check.js';

/**
 * Causal grouped-query attention over a per-layer KV cache, and the cache append.
 *
 * Layouts (row-major f32):
 *   KV cache  [S, Hkv, L, D]  S slots (independent sequences), Hkv KV heads, L max positions
 *   q, out    [B, T, Hq, D]   B sequences in this call, T new positions each
 *   k, v      [B, T, Hkv, D]  the new keys/values
 *   slots     u32 [B]         cache slot of row b
 *   starts    u32 [B]         absolute position of row b's first new token (= tokens already cached)
 *   lse       [B, T, Hq]      optional: natural-log logsumexp of each row's scaled scores
 * Query head h reads KV head floor(h / (Hq/Hkv)) (HF convention). Query t of row b sits at position
 * starts[b]+t and attends cache positions 0..starts[b]+t inclusive.
 *
 * slots/starts values live on the GPU, so they are not range-checked here; the kernels clamp instead
 * of reading or writing out of bounds:
 *   - kvWrite drops rows whose slot is ≥ S and positions ≥ L;
 *   - attention gives rows whose slot is ≥ S out = 0 and lse = −inf, and treats a start beyond the
 *     cache as L (every position past the cache attends to all L cached ones).
 */

const OP = 'attention';
/** Largest head dim the kernels' register tiles hold (16 dims × 16 lanes in prefill). */
export const MAX_HEAD_DIM = 256;
const LOG2E = Math.LOG2E;

export interface AttentionOptions {
  /** Softmax scale; default 1/sqrt(D). */
  scale?: number;
  /** Optional [B, T, Hq] output: logsumexp per row, kept for the backward pass. */
  lse?: Tensor;
  /** Forces a kernel (tests, benchmarks). Default: 'decode' when T == 1, else 'prefill'. */
  kernel?: 'prefill' | 'decode';
}

/** Writes k[b,t] into kCache[slots[b], :, starts[b]+t, :] and v likewise into vCache. */
export function kvWrite(gpu: Gpu, k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor): void {
  const op = 'kvWrite';
  expectDtype(op, 'k', k, ['f32']);
  expectRank(op, 'k', k, [4]);
  expectShape(op, 'v', v, k.shape, 'same as k');
  expectDtype(op, 'v', v, ['f32']);
  const [B, T, Hkv, D] = k.shape;
  const [S, , L] = checkCaches(op, kCache, vCache, Hkv, D, 'k');
  checkRowTensors(op, slots, starts, B);
  const n = B * T * Hkv * D;
  if (n === 0) return;
  const WG = 256;
  gpu.dispatch({
    file: 'kv_write.wgsl',
    constants: { WG },
    params: new Params().u32(n).u32(T).u32(Hkv).u32(D).u32(S).u32(L),
    tensors: [k, v, kCache, vCache, slots, starts],
    workgroups: grid1d(Math.ceil(n / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/**
 * out[b,t,h] = softmax(scale · q[b,t,h]·Kᵀ, causal) · V over the cache slot of row b. T == 1 uses
 * the decode kernel (keys split over a workgroup's threads), T > 1 the tiled prefill kernel; both
 * compute the same thing.
 */
export function attention(gpu: Gpu, q: Tensor, kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor, opts: AttentionOptions = {}, out?: Tensor): Tensor {
  expectDtype(OP, 'q', q, ['f32']);
  expectRank(OP, 'q', q, [4]);
  const [B, T, Hq, D] = q.shape;
  expectPositiveInt(OP, `q heads (q ${shapeString(q.shape)})`, Hq);
  if (kCache.shape.length !== 4) fail(OP, `kCache has shape ${shapeString(kCache.shape)}, expected rank 4 [S x Hkv x L x D]`);
  const Hkv = kCache.shape[1];
  expectPositiveInt(OP, `KV heads (kCache ${shapeString(kCache.shape)})`, Hkv);
  if (Hq % Hkv !== 0) fail(OP, `q ${shapeString(q.shape)} has ${Hq} heads, not a multiple of the ${Hkv} KV heads of kCache ${shapeString(kCache.shape)}`);
  const [S, , L] = checkCaches(OP, kCache, vCache, Hkv, D, 'q');
  checkRowTensors(OP, slots, starts, B);
  if (opts.lse) {
    expectDtype(OP, 'lse', opts.lse, ['f32']);
    expectShape(OP, 'lse', opts.lse, [B, T, Hq], 'B x T x Hq');
  }
  const o = out ?? gpu.empty(q.shape, 'f32', 'attention.out');
  expectDtype(OP, 'out', o, ['f32']);
  expectShape(OP, 'out', o, q.shape, 'same as q');
  const kernel = opts.kernel ?? (T === 1 ? 'decode' : 'prefill');
  if (kernel === 'decode' && T !== 1) fail(OP, `the decode kernel takes one position per row, q has shape ${shapeString(q.shape)}`);
  if (B === 0 || T === 0) return o;

  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) fail(OP, `scale must be finite, got ${scale}`);
  const G = Hq / Hkv;
  const lse = opts.lse ?? dummy(gpu);
  const writeLse = opts.lse ? 1 : 0;
  const smem = gpu.limits.maxComputeWorkgroupStorageSize ?? 16384;

  if (kernel === 'prefill') {
    const t = prefillTiles(D, smem);
    gpu.dispatch({
      file: 'attention_prefill.wgsl',
      constants: { HD: D, BQ: t.BQ, BK: t.BK, TPR: t.TPR },
      params: new Params().u32(B).u32(T).u32(Hq).u32(Hkv).u32(S).u32(L).u32(G).u32(writeLse).f32(scale * LOG2E),
      tensors: [q, kCache, vCache, slots, starts, o, lse],
      workgroups: [Math.ceil((T * G) / t.BQ), B * Hkv],
    });
  } else {
    const t = decodeTiles(D, smem);
    gpu.dispatch({
      file: 'attention_decode.wgsl',
      constants: { HD: D, WG: t.WG, HPW: t.HPW, RP: t.RP },
      params: new Params().u32(B).u32(Hq).u32(Hkv).u32(S).u32(L).u32(G).u32(writeLse).f32(scale * LOG2E),
      tensors: [q, kCache, vCache, slots, starts, o, lse],
      workgroups: [Math.ceil(G / t.HPW), B * Hkv],
    });
  }
  return o;
}

// ------------------------------------------------------------------ checks and tiling

function checkCaches(op: string, kCache: Tensor, vCache: Tensor, Hkv: number, D: number, ref: string): readonly number[] {
  expectDtype(op, 'kCache', kCache, ['f32']);
  expectDtype(op, 'vCache', vCache, ['f32']);
  if (kCache.shape.length !== 4) fail(op, `kCache has shape ${shapeString(kCache.shape)}, expected rank 4 [S x Hkv x L x D]`);
  expectShape(op, 'vCache', vCache, kCache.shape, 'same as kCache');
  const [S, H, L, Dc] = kCache.shape;
  expectPositiveInt(op, `cache slots (kCache ${shapeString(kCache.shape)})`, S);
  expectPositiveInt(op, `cache positions (kCache ${shapeString(kCache.shape)})`, L);
  if (H !== Hkv) fail(op, `kCache ${shapeString(kCache.shape)} has ${H} KV heads, ${ref} has ${Hkv}`);
  if (Dc !== D) fail(op, `head dim differs: ${ref} has D=${D}, kCache ${shapeString(kCache.shape)} has D=${Dc}`);
  if (!Number.isInteger(D) || D < 1 || D > MAX_HEAD_DIM) fail(op, `head dim D=${D} is unsupported (1..${MAX_HEAD_DIM}); kCache ${shapeString(kCache.shape)}`);
  if (kCache.buffer === vCache.buffer) fail(op, 'kCache and vCache must be different buffers');
  return kCache.shape;
}

function checkRowTensors(op: string, slots: Tensor, starts: Tensor, B: number): void {
  expectDtype(op, 'slots', slots, ['u32']);
  expectShape(op, 'slots', slots, [B], 'one per row b');
  expectDtype(op, 'starts', starts, ['u32']);
  expectShape(op, 'starts', starts, [B], 'one per row b');
}

/** Bound (never written) when the caller wants no lse. */
const dummies = new WeakMap<Gpu, Tensor>();
function dummy(gpu: Gpu): Tensor {
  let t = dummies.get(gpu);
  if (!t) {
    t = gpu.empty([1], 'f32', 'attention.no-lse');
    dummies.set(gpu, t);
  }
  return t;
}

export interface PrefillTiles {
  BQ: number;
  BK: number;
  TPR: number;
}

/** Largest row/key tiles whose workgroup arrays fit; TPR lanes per row keep ≤ 16 dims each. */
export function prefillTiles(D: number, smemBytes: number): PrefillTiles {
  const TPR = Math.min(16, D);
  for (const [BQ, BK] of [[16, 16], [16, 8], [8, 8], [8, 4], [4, 4], [2, 2], [1, 1]]) {
    const floats = BQ * D + BK * (D | 1) + BK * D + 2 * BQ * BK;
    if (floats * 4 <= smemBytes) return { BQ, BK, TPR };
  }
  fail(OP, `head dim ${D} does not fit this device's ${smemBytes} bytes of workgroup memory`);
}

export interface DecodeTiles {
  WG: number;
  HPW: number;
  RP: number;
}

/**
 * Decode tiling depends on D (and the device) only, never on G: the heads a workgroup serves are a
 * runtime count, so one pipeline per head dim covers every model (each pipeline costs seconds to
 * compile on lavapipe). HPW ≤ 8 heads a workgroup, fewer when workgroup memory is short.
 */
export function decodeTiles(D: number, smemBytes: number, WG = 128): DecodeTiles {
  const MAXH = 8;
  const MAXP = 16;
  const RP = 8;
  const bytes = (h: number) => 4 * (h * D + 2 * h * WG + h * RP);
  let HPW = MAXH;
  while (HPW > 1 && (bytes(HPW) > smemBytes || Math.ceil((HPW * D) / WG) > MAXP)) HPW--;
  if (bytes(HPW) > smemBytes || Math.ceil((HPW * D) / WG) > MAXP || HPW * RP > WG) {
    fail(OP, `head dim ${D} does not fit the decode kernel on this device (${smemBytes} bytes of workgroup memory)`);
  }
  return { WG, HPW, RP };
}
