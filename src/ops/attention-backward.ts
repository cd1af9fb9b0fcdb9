import { grid1d, type Gpu } from '../gpu/gpu.js';
import { denseAttentionBackward, denseAttentionScratchBytes, usesDenseAttention, checkKept, type DenseAttentionKept } from './attention-dense.js';
import { Params } from '../gpu/params.js';
import { shapeString, overlaps, type Tensor } from '../gpu/tensor.js';
import { checkSegments, dummy, MAX_HEAD_DIM } from './attention.js';
import { expectDtype, expectPositiveInt, expectRank, expectShape, fail } from './check.js';

/**
 * Backward pass of causal grouped-query attention (src/ops/attention.ts) for training: FlashAttention-2
 * style, recomputing the probabilities P = exp(scale·q·kᵀ − lse) from the forward's saved lse
 * instead of storing the T×T matrix, with no float atomics and fixed-order loops (bit-identical
 * results run to run).
 *
 * Scope: the training layout — row b of the batch lives in cache slot b, starts are all 0 (the T
 * tokens attend causally within themselves) and the cache holds L ≥ T positions; dK/dV are the
 * gradients of the T keys/values written at positions 0..T-1, shaped [B,T,Hkv,D] like kvWrite's k/v.
 * Packed rows: with `segments` (u32 [B,T], the forward's) the mask is block-diagonal causal, as in
 * the forward; a key's gradient then comes from the rows of its own segment only.
 *
 * Three dispatches:
 *   1. attention_backward_delta.wgsl  delta[r] = Σ_d dout[r,d]·out[r,d]            2·D flops a row
 *   2. attention_backward_dkdv.wgsl   per (key block, b, kvh): dK, dV summed over the G = Hq/Hkv
 *      query heads of the group and all rows at or after the key             8·D flops a (row, key)
 *   3. attention_backward_dq.wgsl     per (row block, b, kvh): dQ over the keys up to the diagonal
 *                                                                            6·D flops a (row, key)
 * Cost: ≈ 14·D·B·Hq·T(T+1)/2 flops (3.5x the forward's 4·D per causal pair: P and dP are recomputed
 * in both kernels, the price of needing no atomics and no T×T buffer); memory: q, dout, out, k, v,
 * lse read a small number of times, dq/dk/dv written once, one [B,T,Hq] scratch for delta.
 * Measured on lavapipe (B=1, T=256, Hq=14, Hkv=2, D=64): ~0.65 s vs ~0.08 s for the forward — the
 * kernels have 1-2 loads per FMA (no register micro-tiling beyond 4 rows a lane yet).
 *
 * For short training rows (the caches exactly B slots of T positions, the B·Hq·T² scores within
 * attention-dense.ts's cap) the `auto` path runs the dense form instead: scores materialised, the
 * five products as batched matmuls, several times faster on lavapipe (attention-dense.ts).
 */

const OP = 'attentionBackward';
const LOG2E = Math.LOG2E;
/**
 * Rows (dQ) or keys (dK/dV) a workgroup owns, the other side's tile, and lanes per owned row/key
 * (workgroup = 128 threads; ≤ 32 accumulators a lane up to D = 256). Measured on lavapipe (B=1,
 * T=256, 14/2 heads of 64, a busy machine): TPR=4 was ~10% faster but doubled the (cold) compile
 * time of the pipelines; tiles of 32 or 8 were no better.
 */
const TPR = 8;
const NB = 16;
const TILE = 16;
/** Query rows (positions × query heads of a kv head) one backward workgroup covers: its grid is ⌈T·G / this⌉ wide (model/limits.ts). */
export const ATTENTION_BACKWARD_QUERY_ROWS = NB;

/** Which implementation runs: `auto` picks dense when its scratch fits (attention-dense.ts). */
export type AttentionBackwardPath = 'auto' | 'dense' | 'flash';

export interface AttentionBackwardOptions {
  /** Softmax scale used by the forward; default 1/sqrt(D). */
  scale?: number;
  /** Tokens per sequence; must equal q's T (the cache may hold more positions, L ≥ T). */
  T: number;
  /** Start positions the forward ran with; only all-zero (fresh sequences) is supported. */
  starts?: readonly number[];
  /** Cache slots the forward ran with; only slot b for row b is supported. */
  slots?: readonly number[];
  /** u32 [B, T]: the segment ids the forward ran with (packed rows). Absent: plain causal. */
  segments?: Tensor;
  /** default `auto` (tests pin one path) */
  path?: AttentionBackwardPath;
  /** what the dense forward kept (attention's `keep`): the dense path then reuses q head-major and P */
  kept?: DenseAttentionKept;
}

export interface AttentionGrads {
  /** [B,T,Hq,D] */
  dq: Tensor;
  /** [B,T,Hkv,D]: gradient of the keys at cache positions 0..T-1 of slot b */
  dk: Tensor;
  /** [B,T,Hkv,D] */
  dv: Tensor;
}

/**
 * Gradients of Σ dout·out with respect to q and the T new keys/values, where out = attention(q,
 * kCache, vCache, slots = 0..B-1, starts = 0, {scale, lse}). `out` and `lse` are the forward's
 * outputs. `grads` may supply preallocated outputs (planned activation buffers).
 */
export function attentionBackward(
  gpu: Gpu,
  dout: Tensor,
  q: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  out: Tensor,
  lse: Tensor,
  opts: AttentionBackwardOptions,
  grads: Partial<AttentionGrads> = {},
): AttentionGrads {
  for (const [name, t] of [['dout', dout], ['q', q], ['kCache', kCache], ['vCache', vCache], ['out', out], ['lse', lse]] as const) {
    expectDtype(OP, name, t, ['f32']);
  }
  expectRank(OP, 'q', q, [4]);
  const [B, T, Hq, D] = q.shape;
  expectPositiveInt(OP, `q heads (q ${shapeString(q.shape)})`, Hq);
  if (opts.T !== T) fail(OP, `opts.T=${opts.T} differs from q ${shapeString(q.shape)} (T=${T})`);
  expectShape(OP, 'dout', dout, q.shape, 'same as q');
  expectShape(OP, 'out', out, q.shape, 'same as q');
  expectShape(OP, 'lse', lse, [B, T, Hq], 'B x T x Hq');
  if (kCache.shape.length !== 4) fail(OP, `kCache has shape ${shapeString(kCache.shape)}, expected rank 4 [S x Hkv x L x D]`);
  expectShape(OP, 'vCache', vCache, kCache.shape, 'same as kCache');
  const [S, Hkv, L, Dc] = kCache.shape;
  expectPositiveInt(OP, `KV heads (kCache ${shapeString(kCache.shape)})`, Hkv);
  if (Hq % Hkv !== 0) fail(OP, `q ${shapeString(q.shape)} has ${Hq} heads, not a multiple of the ${Hkv} KV heads of kCache ${shapeString(kCache.shape)}`);
  if (Dc !== D) fail(OP, `head dim differs: q ${shapeString(q.shape)} has D=${D}, kCache ${shapeString(kCache.shape)} has D=${Dc}`);
  if (!Number.isInteger(D) || D < 1 || D > MAX_HEAD_DIM) fail(OP, `head dim D=${D} is unsupported (1..${MAX_HEAD_DIM}); q ${shapeString(q.shape)}`);
  if (S < B) fail(OP, `kCache ${shapeString(kCache.shape)} has ${S} slots, fewer than the ${B} rows of q ${shapeString(q.shape)} (row b uses slot b)`);
  if (L < T) fail(OP, `kCache ${shapeString(kCache.shape)} holds ${L} positions, fewer than T=${T} of q ${shapeString(q.shape)}`);
  if (opts.starts !== undefined) {
    if (opts.starts.length !== B) fail(OP, `starts has ${opts.starts.length} entries, expected one per row b (B=${B})`);
    if (opts.starts.some((s) => s !== 0)) fail(OP, `only fresh sequences (starts all 0) are supported, got starts=[${opts.starts.join(',')}]`);
  }
  if (opts.slots !== undefined) {
    if (opts.slots.length !== B) fail(OP, `slots has ${opts.slots.length} entries, expected one per row b (B=${B})`);
    if (opts.slots.some((s, b) => s !== b)) fail(OP, `only slot b for row b is supported, got slots=[${opts.slots.join(',')}]`);
  }
  if (opts.segments) checkSegments(OP, opts.segments, B, T);
  const kvShape = [B, T, Hkv, D];
  const dq = grads.dq ?? gpu.empty(q.shape, 'f32', 'attentionBackward.dq');
  const dk = grads.dk ?? gpu.empty(kvShape, 'f32', 'attentionBackward.dk');
  const dv = grads.dv ?? gpu.empty(kvShape, 'f32', 'attentionBackward.dv');
  for (const [name, t, shape, what] of [['dq', dq, q.shape, 'same as q'], ['dk', dk, kvShape, 'B x T x Hkv x D'], ['dv', dv, kvShape, 'B x T x Hkv x D']] as const) {
    expectDtype(OP, name, t, ['f32']);
    expectShape(OP, name, t, shape, what);
  }
  if (overlaps(dk, dv) || overlaps(dq, dk) || overlaps(dq, dv)) fail(OP, 'dq, dk and dv must be different buffers');
  if (B === 0 || T === 0) return { dq, dk, dv };

  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) fail(OP, `scale must be finite, got ${scale}`);
  const G = Hq / Hkv;
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;

  const rows = B * T * Hq;
  const delta = gpu.empty([B, T, Hq], 'f32', 'attentionBackward.delta');
  const DWG = 64;
  gpu.dispatch({
    file: 'attention_backward_delta.wgsl',
    constants: { WG: DWG },
    params: new Params().u32(rows).u32(D),
    tensors: [dout, out, delta],
    workgroups: grid1d(Math.ceil(rows / DWG), maxWg),
  });

  const segments = opts.segments ?? dummy(gpu, 'u32');
  const path = opts.kept ? 'dense' : (opts.path ?? 'auto');
  const dense = path === 'dense' || (path === 'auto' && usesDenseAttention(gpu, B, T, Hq, S, L));
  if (dense) {
    if (denseAttentionScratchBytes(B, T, Hq, S, L) === undefined) fail(OP, `the dense path needs a cache of exactly B=${B} slots of T=${T} positions, got kCache ${shapeString(kCache.shape)}`);
    if (opts.kept) checkKept(OP, opts.kept, B, T, Hq, Hkv, D);
    denseAttentionBackward(gpu, { dout, q, kCache, vCache, lse, delta, segments, segmented: opts.segments !== undefined }, { B, T, Hq, Hkv, D, scale }, { dq, dk, dv }, opts.kept);
    delta.release();
    return { dq, dk, dv };
  }
  const params = () => new Params().u32(B).u32(T).u32(Hq).u32(Hkv).u32(L).u32(G).f32(scale * LOG2E).f32(scale).u32(D).u32(opts.segments ? 1 : 0);
  gpu.dispatch({
    file: 'attention_backward_dkdv.wgsl',
    constants: { HD: D, TPR, NK: NB, BQ: TILE },
    params: params(),
    tensors: [q, kCache, vCache, dout, lse, delta, dk, dv, segments],
    workgroups: [Math.ceil(T / NB), B * Hkv],
  });
  gpu.dispatch({
    file: 'attention_backward_dq.wgsl',
    constants: { HD: D, TPR, NR: NB, BK: TILE },
    params: params(),
    tensors: [q, kCache, vCache, dout, lse, delta, dq, segments],
    workgroups: [Math.ceil((T * G) / NB), B * Hkv],
  });
  // Safe to recycle now: any later user of the buffer is recorded, and so runs, after these kernels.
  delta.release();
  return { dq, dk, dv };
}

