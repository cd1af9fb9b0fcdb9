import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { shapeString, overlaps, type Tensor } from '../gpu/tensor.js';
import { PonderError } from '../errors.js';
import { expectDtype, expectPositiveInt, expectRank, expectShape, fail } from './check.js';
import { denseAttentionForward, denseAttentionScratchBytes, usesDenseAttentionForward, checkKept, type DenseAttentionKept } from './attention-dense.js';
import { tunedEntry, tuneCacheWarning } from './tune-cache.js';

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
 * Packed rows (training): `segments` u32 [B, T] gives each token a segment id (the example it belongs
 * to) and confines attention to it: query t attends key j ≤ t only when segments[b,j] ==
 * segments[b,t] (block-diagonal causal). It is the training layout's option — starts all 0, the cache
 * holding this call's T keys — and applies to the prefill kernel (one position, T = 1, attends only to
 * itself, so the decode kernel needs no segments).
 *
 * slots/starts values live on the GPU, so they are not range-checked here; the kernels clamp instead
 * of reading or writing out of bounds:
 *   - kvWrite drops rows whose slot is ≥ S and positions ≥ L;
 *   - attention gives rows whose slot is ≥ S out = 0 and lse = −inf, and treats a start beyond the
 *     cache as L (every position past the cache attends to all L cached ones).
 */

const OP = 'attention';
/** Largest head dim the kernels' register tiles hold (prefill: 16 dims × 16 lanes; decode: 256-float rows). */
export const MAX_HEAD_DIM = 256;
const LOG2E = Math.LOG2E;

export interface AttentionOptions {
  /** Softmax scale; default 1/sqrt(D). */
  scale?: number;
  /** Optional [B, T, Hq] output: logsumexp per row, kept for the backward pass. */
  lse?: Tensor;
  /** Forces a kernel (tests, benchmarks). Default: 'decode' when T == 1, else 'prefill'. */
  kernel?: 'prefill' | 'decode';
  /** Tests and tuning: key streams of the decode kernel (default: see decodeTiles). */
  decodeKeySplit?: number;
  /** Tests: (b, kv head) row groups per decode workgroup, with one key stream (default: decodeRowGroups). */
  decodeRowGroups?: number;
  /**
   * Tests: whether decode runs attention_decode_lanes.wgsl (a lane per (b, kv head), all its query
   * heads). Default: usesDecodeLanes, unless a key split or row groups are asked for.
   */
  decodeLanes?: boolean;
  /** u32 [B, T]: segment id per token (packed rows; starts must be 0). Absent: plain causal. */
  segments?: Tensor;
  /**
   * The caller promises the training layout: slot b = row b, starts all 0, the caches holding
   * exactly these T positions. Then the prefill may take the dense path (attention-dense.ts).
   */
  trainingRows?: boolean;
  /** Prefill over training rows: 'auto' (default: usesDenseAttentionForward), or a forced path (tests, benchmarks). */
  path?: 'auto' | 'dense' | 'flash';
  /**
   * Training rows, dense path: buffers for q head-major and P, filled for the backward to reuse
   * (attention-dense.ts DenseAttentionKept; pass the same to attentionBackward). Implies the dense path.
   */
  keep?: DenseAttentionKept;
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
  if (opts.segments) checkSegments(OP, opts.segments, B, T);
  const o = out ?? gpu.empty(q.shape, 'f32', 'attention.out');
  expectDtype(OP, 'out', o, ['f32']);
  expectShape(OP, 'out', o, q.shape, 'same as q');
  const kernel = opts.kernel ?? (T === 1 ? 'decode' : 'prefill');
  if (kernel === 'decode' && T !== 1) fail(OP, `the decode kernel takes one position per row, q has shape ${shapeString(q.shape)}`);
  if (B === 0 || T === 0) return o;

  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) fail(OP, `scale must be finite, got ${scale}`);
  const G = Hq / Hkv;
  const lse = opts.lse ?? dummy(gpu, 'f32');
  const segmented = opts.segments && T > 1 ? 1 : 0;
  const writeLse = opts.lse ? 1 : 0;
  const smem = gpu.limits.maxComputeWorkgroupStorageSize ?? 16384;

  const tuning = attentionTuning(gpu);
  const path = opts.keep ? 'dense' : (opts.path ?? 'auto');
  const denseOk = kernel === 'prefill' && opts.trainingRows === true && opts.lse !== undefined && denseAttentionScratchBytes(B, T, Hq, S, L) !== undefined;
  if (path === 'dense' && !denseOk) fail(OP, `the dense path needs training rows (trainingRows, lse, a cache of exactly B=${B} slots of T=${T} positions), got kCache ${shapeString(kCache.shape)}`);
  if (denseOk && (path === 'dense' || (path === 'auto' && usesDenseAttentionForward(gpu, B, T, Hq)))) {
    if (opts.keep) checkKept(OP, opts.keep, B, T, Hq, Hkv, D);
    denseAttentionForward(gpu, { q, kCache, vCache, lse, segments: opts.segments ?? dummy(gpu, 'u32'), segmented: segmented === 1 }, { B, T, Hq, Hkv, D, scale }, o, opts.keep);
  } else if (kernel === 'prefill') {
    const t = tuning.prefill?.[String(D)] ?? prefillTiles(D, smem);
    gpu.dispatch({
      file: 'attention_prefill.wgsl',
      constants: { HD: D, RM: t.RM, RG: t.RG, TPR: t.TPR, BK: t.BK, SHAREKV: t.SHAREKV, VSIZE: t.SHAREKV ? 1 : t.BK * D },
      params: new Params().u32(B).u32(T).u32(Hq).u32(Hkv).u32(S).u32(L).u32(G).u32(writeLse).f32(scale * LOG2E).u32(segmented),
      tensors: [q, kCache, vCache, slots, starts, o, lse, opts.segments ?? dummy(gpu, 'u32')],
      workgroups: [Math.ceil((T * G) / (t.RG * t.RM)), B * Hkv],
    });
  } else if (opts.decodeLanes ?? (usesDecodeLanes(gpu, B * Hkv, D, G) && opts.decodeKeySplit === undefined && opts.decodeRowGroups === undefined)) {
    if (!decodeLanesFit(D, G)) fail(OP, `the lanes decode kernel takes at most ${DECODE_LANES_MAX_Q} q floats a KV head (${G} heads of ${D} here)`);
    gpu.dispatch({
      file: 'attention_decode_lanes.wgsl',
      constants: { HD: D, GL: G, WG: DECODE_LANES_WG },
      params: new Params().u32(B).u32(Hq).u32(Hkv).u32(S).u32(L).u32(G).u32(writeLse).f32(scale * LOG2E),
      tensors: [q, kCache, vCache, slots, starts, o, lse],
      workgroups: [Math.ceil((B * Hkv) / DECODE_LANES_WG), 1],
    });
  } else {
    const t = decodeTiles(D, G, smem, gpu.info.software);
    if (opts.decodeKeySplit !== undefined) {
      const ks = opts.decodeKeySplit;
      if (!decodeKeySplitFits(gpu, t, ks)) fail(OP, `decodeKeySplit=${ks} is out of range for ${t.HPW} heads per workgroup`);
      t.KSPLIT = ks;
    } else {
      const ks = tuning.decodeKeySplit?.[String(D)];
      if (ks !== undefined && decodeKeySplitFits(gpu, t, ks)) t.KSPLIT = ks;
    }
    const rpw = opts.decodeRowGroups ?? decodeRowGroups(t, B * Hkv);
    if (!(Number.isInteger(rpw) && rpw >= 1 && (rpw === 1 || t.KSPLIT === 1) && t.HPW * t.KSPLIT * rpw <= gpu.limits.maxComputeInvocationsPerWorkgroup)) {
      fail(OP, `decodeRowGroups=${rpw} needs one key stream and at most ${gpu.limits.maxComputeInvocationsPerWorkgroup} threads a workgroup`);
    }
    gpu.dispatch({
      file: 'attention_decode.wgsl',
      constants: { HD: D, HPW: t.HPW, KSPLIT: t.KSPLIT, DC: t.DC, RPW: rpw, KB: decodeKeyBlock(gpu) },
      params: new Params().u32(B).u32(Hq).u32(Hkv).u32(S).u32(L).u32(G).u32(writeLse).f32(scale * LOG2E),
      tensors: [q, kCache, vCache, slots, starts, o, lse],
      workgroups: [Math.ceil(G / t.HPW), Math.ceil((B * Hkv) / rpw)],
    });
  }
  return o;
}

// ------------------------------------------------------------------ checks and tiling

export function checkCaches(op: string, kCache: Tensor, vCache: Tensor, Hkv: number, D: number, ref: string): readonly number[] {
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
  if (overlaps(kCache, vCache)) fail(op, 'kCache and vCache must be different buffers');
  return kCache.shape;
}

export function checkRowTensors(op: string, slots: Tensor, starts: Tensor, B: number): void {
  expectDtype(op, 'slots', slots, ['u32']);
  expectShape(op, 'slots', slots, [B], 'one per row b');
  expectDtype(op, 'starts', starts, ['u32']);
  expectShape(op, 'starts', starts, [B], 'one per row b');
}

/** segments: u32 [B, T], one id per token. */
export function checkSegments(op: string, segments: Tensor, B: number, T: number): void {
  expectDtype(op, 'segments', segments, ['u32']);
  expectShape(op, 'segments', segments, [B, T], 'B x T, one segment id per token');
}

/**
 * Bound when the caller passes no lse (f32, never written) or no segments (u32, never read): one
 * buffer per dtype, since a dispatch may not bind one buffer both writable and read-only.
 */
const dummies = new WeakMap<Gpu, Partial<Record<'f32' | 'u32', Tensor>>>();
export function dummy(gpu: Gpu, dtype: 'f32' | 'u32'): Tensor {
  let d = dummies.get(gpu);
  if (!d) {
    d = {};
    dummies.set(gpu, d);
  }
  d[dtype] ??= gpu.empty([1], dtype, `attention.no-${dtype === 'f32' ? 'lse' : 'segments'}`);
  return d[dtype]!;
}

export interface PrefillTiles {
  /** rows per thread */
  RM: number;
  /** row groups: the workgroup is RG·TPR threads and owns RG·RM rows */
  RG: number;
  /** lanes per row group */
  TPR: number;
  /** keys per tile (a multiple of TPR, or less than TPR) */
  BK: number;
  /** stage V into the K buffer (halves the staging memory, for large D) */
  SHAREKV: boolean;
}

/** Workgroup bytes of the prefill kernel: staged K (odd stride) and V tiles, P tile, row reductions. */
export function prefillSharedBytes(D: number, t: PrefillTiles): number {
  const BQ = t.RG * t.RM;
  return 4 * (t.BK * (D | 1) + (t.SHAREKV ? 1 : t.BK * D) + BQ * t.BK + BQ * t.TPR);
}

/**
 * Register micro-tiles of RM rows × ⌈D/TPR⌉ dims (≤ 32 accumulators) and 4 keys a thread, 32 keys a
 * tile, when workgroup memory allows; otherwise a shared K/V buffer, then smaller key tiles, then
 * fewer rows. Measured on lavapipe (D=64, T=256): TPR=8/RM=4/BK=32 beats TPR=16 by ~1.5x, since
 * each loaded value feeds more FMAs between the (costly, coroutine-based) barriers.
 */
export function prefillTiles(D: number, smemBytes: number): PrefillTiles {
  const TPR = D > 128 ? 16 : 8;
  const RM = D > 64 ? 2 : 4;
  for (const RG of [8, 4, 2, 1]) {
    for (const BK of [32, 16, 8, 4]) {
      for (const SHAREKV of [false, true]) {
        const t = { RM, RG, TPR, BK, SHAREKV };
        if (prefillSharedBytes(D, t) <= smemBytes) return t;
      }
    }
  }
  fail(OP, `head dim ${D} does not fit this device's ${smemBytes} bytes of workgroup memory`);
}

export interface DecodeTiles {
  /** query heads per workgroup (lanes of one key) */
  HPW: number;
  /** key streams; the workgroup is HPW·KSPLIT threads */
  KSPLIT: number;
  /** dims per round of the final merge */
  DC: number;
}

/**
 * HPW: the next power of two ≥ G, at most 8 — the heads sharing a K/V row read it once, and the
 * rounding keeps the pipeline count (seconds each to compile on lavapipe) small. KSPLIT: one key
 * stream on CPU adapters (each K/V load instruction then serves all HPW heads and the kernel has no
 * barrier; lavapipe runs kernels with barriers as coroutines), 128/HPW streams elsewhere so long
 * contexts spread over a workgroup of 128 threads.
 */
export function decodeTiles(D: number, G: number, smemBytes: number, software: boolean): DecodeTiles {
  let HPW = 1;
  while (HPW < Math.min(G, 8)) HPW *= 2;
  const KSPLIT = software ? 1 : Math.max(1, Math.floor(128 / HPW));
  const DC = 8;
  if (decodeSharedBytes({ HPW, KSPLIT, DC }) > smemBytes) fail(OP, `the decode kernel does not fit this device's ${smemBytes} bytes of workgroup memory`);
  if (D > MAX_HEAD_DIM) fail(OP, `head dim ${D} is unsupported (1..${MAX_HEAD_DIM})`);
  return { HPW, KSPLIT, DC };
}

/**
 * Keys per online-softmax block of attention_decode.wgsl: 8 on a CPU adapter, as
 * attention_decode_lanes.wgsl always takes, so the two kernels give the same bits there (and a
 * little faster than 4 on lavapipe: one rescale of the accumulators per 8 keys); 4 elsewhere, as
 * measured when the kernel was written.
 */
function decodeKeyBlock(gpu: Gpu): number {
  return gpu.info.software ? 8 : 4;
}

/** Lanes a workgroup of attention_decode_lanes.wgsl (one SIMD batch on a 16-lane lavapipe). */
const DECODE_LANES_WG = 16;
/** Its MAXQ: q floats a lane, G·D. */
const DECODE_LANES_MAX_Q = 512;
/** Fewest (sequence, KV head) pairs for which it is the default (usesDecodeLanes). */
const DECODE_LANES_MIN_PAIRS = 8;

/** Whether attention_decode_lanes.wgsl takes G query heads of D dims a KV head. */
export function decodeLanesFit(D: number, G: number): boolean {
  return G <= 8 && G * D <= DECODE_LANES_MAX_Q;
}

/**
 * Whether decode runs attention_decode_lanes.wgsl by default: on a CPU adapter (one key stream;
 * lanes are SIMD lanes, where a load costs the same whatever its addresses) with at least 8
 * (b, kv head) pairs. With fewer, a lane a head keeps both cores busy where a lane a pair fills one
 * workgroup, one core: `node scripts/profile-batched-ops.mjs` on lavapipe, 14/2 heads of 64 over
 * ~500 keys, 1 sequence 0.91 ms a head a lane against 1.84 a pair a lane, 2 sequences 1.75 against
 * 1.82, 4 sequences 2.35 against 1.85; 4/2 heads of 32 at 64 sequences and ~200 keys 1.96 against
 * 0.98. On a GPU the key-split kernel keeps its parallelism.
 */
export function usesDecodeLanes(gpu: Gpu, pairs: number, D: number, G: number): boolean {
  return gpu.info.software && pairs >= DECODE_LANES_MIN_PAIRS && decodeLanesFit(D, G);
}

/**
 * Row groups per decode workgroup: with one key stream (CPU adapters) a workgroup is only HPW
 * threads, so several (b, kv head) pairs share one, up to 32 threads, while at least 4 workgroups
 * remain to spread over the cores. A power of two, so batched sampling's shrinking batches compile
 * few pipeline variants.
 */
export function decodeRowGroups(t: DecodeTiles, rows: number): number {
  if (t.KSPLIT !== 1) return 1;
  let r = 1;
  while (r * 2 * t.HPW <= 32 && r * 2 * 4 <= rows) r *= 2;
  return r;
}

export function decodeSharedBytes(t: DecodeTiles): number {
  const wg = t.HPW * t.KSPLIT;
  return 4 * (2 * wg + 2 * t.HPW + wg * t.DC);
}

// ------------------------------------------------------------------ tuning

/**
 * Tuned attention settings per head dim (keys are D as a string): prefill tiles and the decode
 * kernel's key streams. Installed by the autotuner with setAttentionTuning, or read from the tune
 * cache (tune-cache.ts) the first time a Gpu runs attention. Settings a device cannot run are
 * ignored (the cache's with one warning); the defaults (prefillTiles, decodeTiles) apply otherwise.
 */
export interface AttentionTuning {
  prefill?: Record<string, PrefillTiles>;
  decodeKeySplit?: Record<string, number>;
}

const tuningOverrides = new WeakMap<Gpu, AttentionTuning>();
const tuningFromCache = new WeakMap<Gpu, AttentionTuning>();

/** Installs `t` for later attention calls on `gpu` (undefined: back to the cache/defaults). Throws DEVICE_LIMIT if it cannot run. */
export function setAttentionTuning(gpu: Gpu, t: AttentionTuning | undefined): void {
  if (t === undefined) {
    tuningOverrides.delete(gpu);
    return;
  }
  const problem = attentionTuningProblem(gpu, t);
  if (problem) throw new PonderError('DEVICE_LIMIT', `attention tuning: ${problem}`);
  tuningOverrides.set(gpu, t);
}

/** The tuning attention uses on this Gpu: an installed override, else the tune cache's entry, else none. */
export function attentionTuning(gpu: Gpu): AttentionTuning {
  const o = tuningOverrides.get(gpu);
  if (o) return o;
  let t = tuningFromCache.get(gpu);
  if (!t) {
    t = {};
    const cached = tunedEntry(gpu)?.attention as AttentionTuning | undefined;
    if (cached) {
      const problem = attentionTuningProblem(gpu, cached);
      if (problem) tuneCacheWarning(`ignoring the tuned attention settings: ${problem}`);
      else t = cached;
    }
    tuningFromCache.set(gpu, t);
  }
  return t;
}

/** Forgets the tuning read from the cache for `gpu` (after the cache changed). */
export function resetAttentionTuning(gpu: Gpu): void {
  tuningFromCache.delete(gpu);
}

const MAX_RM = 4;
const MAX_CN = 8;
const MAX_DPT = 16;
const MAX_ACC = 64;

/** Why prefill tiles cannot run for head dim D on this device (the kernel's register arrays and limits), or undefined. */
export function prefillTilesProblem(gpu: Gpu, D: number, t: PrefillTiles): string | undefined {
  const ints = [t.RM, t.RG, t.TPR, t.BK];
  if (!ints.every((v) => Number.isInteger(v) && v >= 1)) return `prefill tiles for D=${D} need positive integers, got ${JSON.stringify(t)}`;
  if (typeof t.SHAREKV !== 'boolean') return `prefill tiles for D=${D}: SHAREKV must be true or false`;
  const CN = Math.ceil(t.BK / t.TPR);
  const DPT = Math.ceil(D / t.TPR);
  if (t.RM > MAX_RM || CN > MAX_CN || DPT > MAX_DPT || t.RM * DPT > MAX_ACC || t.RM * CN > MAX_RM * MAX_CN) {
    return `prefill tiles ${JSON.stringify(t)} exceed the kernel's register tiles for D=${D}`;
  }
  if (t.BK >= t.TPR && t.BK % t.TPR !== 0) return `prefill BK=${t.BK} must be a multiple of TPR=${t.TPR} or below it`;
  const wg = t.RG * t.TPR;
  if (wg > gpu.limits.maxComputeInvocationsPerWorkgroup || wg > gpu.limits.maxComputeWorkgroupSizeX) return `prefill workgroup of ${wg} invocations exceeds this device's limit`;
  const bytes = prefillSharedBytes(D, t);
  if (bytes > gpu.limits.maxComputeWorkgroupStorageSize) return `prefill tiles need ${bytes} bytes of workgroup memory, over this device's ${gpu.limits.maxComputeWorkgroupStorageSize}`;
  return undefined;
}

function decodeKeySplitFits(gpu: Gpu, t: DecodeTiles, ks: number): boolean {
  const maxWg = Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup ?? 256, gpu.limits.maxComputeWorkgroupSizeX ?? 256);
  return Number.isInteger(ks) && ks >= 1 && ks * t.HPW <= maxWg && decodeSharedBytes({ ...t, KSPLIT: ks }) <= (gpu.limits.maxComputeWorkgroupStorageSize ?? 16384);
}

function attentionTuningProblem(gpu: Gpu, t: AttentionTuning): string | undefined {
  if (typeof t !== 'object' || t === null) return 'not an object';
  for (const [d, tiles] of Object.entries(t.prefill ?? {})) {
    const D = Number(d);
    if (!Number.isInteger(D) || D < 1 || D > MAX_HEAD_DIM) return `prefill head dim "${d}" is not 1..${MAX_HEAD_DIM}`;
    if (typeof tiles !== 'object' || tiles === null) return `prefill tiles for D=${d} are not an object`;
    const problem = prefillTilesProblem(gpu, D, tiles);
    if (problem) return problem;
  }
  for (const [d, ks] of Object.entries(t.decodeKeySplit ?? {})) {
    const D = Number(d);
    if (!Number.isInteger(D) || D < 1 || D > MAX_HEAD_DIM) return `decode head dim "${d}" is not 1..${MAX_HEAD_DIM}`;
    // the widest case: 8 heads per workgroup
    if (!decodeKeySplitFits(gpu, { HPW: 8, KSPLIT: 1, DC: 8 }, ks)) return `decode key split ${JSON.stringify(ks)} for D=${d} does not fit this device`;
  }
  return undefined;
}

/** A named attention setting the autotuner measures (for head dim `D`). */
export interface AttentionTuneCandidate {
  name: string;
  part: 'prefill' | 'decode';
  tuning: AttentionTuning;
}

/** The attention settings `ponder bench --tune` measures for head dim D; all runnable here, all tested. */
export function attentionTuneCandidates(gpu: Gpu, D: number): AttentionTuneCandidate[] {
  const smem = gpu.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const base = prefillTiles(D, smem);
  const key = String(D);
  const tiles: PrefillTiles[] = [
    base,
    { ...base, RG: Math.max(1, base.RG / 2) },
    { ...base, BK: Math.max(4, base.BK / 2) },
    { ...base, TPR: base.TPR * 2, RM: Math.max(1, base.RM / 2) },
  ];
  const out: AttentionTuneCandidate[] = [];
  const seen = new Set<string>();
  for (const t of tiles) {
    const name = `prefill rm${t.RM} rg${t.RG} tpr${t.TPR} bk${t.BK}${t.SHAREKV ? ' sharekv' : ''}`;
    if (seen.has(name) || prefillTilesProblem(gpu, D, t)) continue;
    seen.add(name);
    out.push({ name, part: 'prefill', tuning: { prefill: { [key]: t } } });
  }
  for (const ks of gpu.info.software ? [1, 2, 4] : [4, 8, 16]) {
    if (!decodeKeySplitFits(gpu, { HPW: 8, KSPLIT: 1, DC: 8 }, ks)) continue;
    out.push({ name: `decode keysplit ${ks}`, part: 'decode', tuning: { decodeKeySplit: { [key]: ks } } });
  }
  return out;
}
