import { availableParallelism } from 'node:os';
import type { Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { overlaps, shapeString, type Tensor } from '../gpu/tensor.js';
import { expectDtype, expectShape, fail } from './check.js';
import type { RopeTables } from './rope.js';

/**
 * A whole Llama layer (attention and MLP, pre-norm, residuals) for a few new tokens of each of a few
 * sequences, in one dispatch: decode_layer.wgsl, a workgroup per sequence, or per row when there are
 * fewer rows than cores (splitsRows). The decode step of a small model on a software adapter is a
 * few dozen tiny kernels, each paying ~50-100 µs of driver overhead on lavapipe (bench/RESULTS.md);
 * this does a layer's twelve in one. Same arithmetic as the separate
 * ops (ops/rmsnorm, matmul, rope, attention.kvWrite, attention, swiglu), in another summation order.
 *
 * Scope (decodeLayerFits): T ≤ 4 new rows per sequence, B ≤ 8 sequences, (Hq / Hkv)·T ≤ 16, no
 * q/k/v biases and no q/k norms, full rotary dims, sizes that are multiples of 4 and small enough
 * for one workgroup's memory; the caller falls back to the separate ops otherwise.
 */

const OP = 'decodeLayer';
const WG = 128;
/** Most rows per sequence (the kernel's per-thread accumulators) and sequences (the params' slot arrays). */
export const DECODE_LAYER_MAX_T = 4;
export const DECODE_LAYER_MAX_B = 8;
/** Largest H, I the fused layer takes: beyond these a workgroup per sequence does too much serial work. */
const MAX_HIDDEN = 512;
const MAX_INTERMEDIATE = 2048;
/** Most query heads per kv head times rows (the attention's per-lane accumulators). */
const MAX_HEAD_ROWS = 16;

export interface DecodeLayerWeights {
  inputNorm: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  o: Tensor;
  postNorm: Tensor;
  gate: Tensor;
  up: Tensor;
  down: Tensor;
}

export interface DecodeLayerDims {
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
}

/**
 * Whether B sequences of T rows run as B·T workgroups, one a row, instead of B. A workgroup runs on
 * one core of a software adapter, so a verify pass (B = 1, T = 2) would leave a second core idle;
 * split, each workgroup computes every row's key and value (cheap) but only its own row's query,
 * attention and MLP, so the two rows take about one row's time. Only while the rows fit the cores.
 */
export function splitsRows(B: number, T: number): boolean {
  return T > 1 && B * T <= CORES;
}

/** Read once: splitsRows is asked on every layer of every decode step. */
const CORES = availableParallelism();

const workgroupBytes = (gpu: Gpu) => gpu.limits.maxComputeWorkgroupStorageSize ?? 16384;

/** Workgroup-memory sizes of the kernel (override constants) when a workgroup finishes TO of the T rows, in floats / vec4s. */
function memory(d: DecodeLayerDims, T: number, TO: number, L: number) {
  const Nq = d.heads * d.headDim;
  const Nkv = d.kvHeads * d.headDim;
  const big = Math.max(TO * d.heads * L, TO * d.intermediate);
  const sizes = { XS: T * d.hidden, NS4: (T * d.hidden) / 4, QS: TO * Nq, KVS: T * Nkv, AS4: (TO * Nq) / 4, BIGS: big };
  const bytes = 4 * (sizes.XS + 4 * sizes.NS4 + sizes.QS + 2 * sizes.KVS + 4 * sizes.AS4 + sizes.BIGS + WG + 256);
  return { sizes, bytes };
}

/**
 * The cache length the kernel's workgroup memory is sized for (its BIGS constant holds a row's scores
 * over the whole cache): L rounded up to a power of two, or L itself where the rounded size would
 * not fit. Sized by the exact length, every new cache length (a prompt's length plus its token
 * budget) was a new pipeline: `ponder generate --json` spent ~10 s compiling before the first
 * token of a prompt of a length not seen before; rounded, a model's lengths share a few pipelines.
 * L itself stays in the params.
 */
export function sizingPositions(d: DecodeLayerDims, T: number, TO: number, L: number, maxBytes: number): number {
  const rounded = 2 ** Math.ceil(Math.log2(Math.max(1, L)));
  return memory(d, T, TO, rounded).bytes <= maxBytes ? rounded : L;
}

/**
 * The kernel's override constants for T rows (TO a workgroup) over a cache of L positions. Asked on
 * every layer of every decode step with the same few arguments, so made once per (dims, T, TO, L,
 * workgroup memory) instead of sized again per dispatch.
 */
function layerConstants(d: DecodeLayerDims, T: number, TO: number, L: number, maxBytes: number): Record<string, number> {
  let byShape = constantsMade.get(d);
  if (!byShape) constantsMade.set(d, (byShape = new Map()));
  const key = `${T}/${TO}/${L}/${maxBytes}`;
  let c = byShape.get(key);
  if (!c) byShape.set(key, (c = { WG, T, TO, G: d.heads / d.kvHeads, ...memory(d, T, TO, sizingPositions(d, T, TO, L, maxBytes)).sizes }));
  return c;
}
const constantsMade = new WeakMap<DecodeLayerDims, Map<string, Record<string, number>>>();

/**
 * Whether `decodeLayer` takes B sequences of T rows of this model with a cache of L positions on
 * this device: the kernel's scope (see the header), its 15 storage bindings, and its workgroup memory.
 * `softwareOnly` (the default): only on a software adapter, where dispatch overhead dominates; on a
 * GPU one workgroup per sequence would leave the chip idle. `splitRows`: as decodeLayer will be
 * called (default splitsRows), since a workgroup finishing all T rows needs more memory.
 */
export function decodeLayerFits(gpu: Gpu, d: DecodeLayerDims & { bias: boolean; qkNorm: boolean; rotaryDim: number }, B: number, T: number, L: number, opts: { softwareOnly?: boolean; splitRows?: boolean } = {}): boolean {
  if ((opts.softwareOnly ?? true) && !gpu.info.software) return false;
  if (d.bias || d.qkNorm || d.rotaryDim !== d.headDim) return false;
  if (B < 1 || B > DECODE_LAYER_MAX_B || T < 1 || T > DECODE_LAYER_MAX_T) return false;
  if (d.hidden > MAX_HIDDEN || d.intermediate > MAX_INTERMEDIATE || d.heads > 32) return false;
  // the attention's accumulators: G = Hq / Hkv query heads for each of T rows, per lane
  if (d.heads % d.kvHeads || (d.heads / d.kvHeads) * T > MAX_HEAD_ROWS) return false;
  if (d.hidden % 4 || d.intermediate % 4 || (d.heads * d.headDim) % 4 || d.headDim % 2) return false;
  if ((gpu.limits.maxStorageBuffersPerShaderStage ?? 8) < 15) return false;
  return memory(d, T, (opts.splitRows ?? splitsRows(B, T)) ? 1 : T, L).bytes <= workgroupBytes(gpu);
}

export interface DecodeLayerOptions {
  /** where the layer's output rows go (a tensor shaped like x, not x): by default into x, via a copy */
  out?: Tensor;
  /** a workgroup per row instead of per sequence (default: splitsRows; tests pin it either way) */
  splitRows?: boolean;
}

/**
 * x [B·T, hidden] (rows b·T .. b·T+T−1 are sequence b's new tokens, at positions starts[b] ..) goes
 * through one layer into `out` (x itself when omitted); the rows' keys and values are written into
 * kCache/vCache [S, Hkv, L, D] at slots[b]. `rope` holds the cos/sin tables of the full head dim.
 * The kernel reads x and writes another buffer; a caller running layers back to back passes `out`
 * and alternates the two, which saves the copy.
 */
export function decodeLayer(gpu: Gpu, x: Tensor, w: DecodeLayerWeights, d: DecodeLayerDims, kCache: Tensor, vCache: Tensor, rope: RopeTables, slots: readonly number[], starts: readonly number[], T: number, opts: DecodeLayerOptions = {}): void {
  const B = slots.length;
  const TO = (opts.splitRows ?? splitsRows(B, T)) ? 1 : T;
  if (opts.out) {
    expectShape(OP, 'out', opts.out, x.shape, 'same as x');
    if (overlaps(opts.out, x)) fail(OP, 'out overlaps x; the kernel reads every row of x while it writes out');
  }
  const { hidden: H, intermediate: I, heads: Hq, kvHeads: Hkv, headDim: D } = d;
  const Nq = Hq * D;
  const Nkv = Hkv * D;
  if (starts.length !== B) fail(OP, `${starts.length} starts for ${B} slots`);
  if (B > DECODE_LAYER_MAX_B || T < 1 || T > DECODE_LAYER_MAX_T) fail(OP, `B=${B} sequences of T=${T} rows: at most ${DECODE_LAYER_MAX_B} of ${DECODE_LAYER_MAX_T}`);
  expectDtype(OP, 'x', x, ['f32']);
  expectShape(OP, 'x', x, [B * T, H], 'B·T x hidden');
  for (const [name, t, shape] of [
    ['inputNorm', w.inputNorm, [H]],
    ['q', w.q, [Nq, H]],
    ['k', w.k, [Nkv, H]],
    ['v', w.v, [Nkv, H]],
    ['o', w.o, [H, Nq]],
    ['postNorm', w.postNorm, [H]],
    ['gate', w.gate, [I, H]],
    ['up', w.up, [I, H]],
    ['down', w.down, [H, I]],
  ] as const) {
    expectShape(OP, name, t, shape, `the layer's ${name} weight`);
  }
  const [S, Hc, L, Dc] = kCache.shape;
  if (kCache.shape.length !== 4 || Hc !== Hkv || Dc !== D) fail(OP, `kCache ${shapeString(kCache.shape)} is not [S x ${Hkv} x L x ${D}]`);
  expectShape(OP, 'vCache', vCache, kCache.shape, 'same as kCache');
  const maxPos = rope.cos.shape[0]!;
  if (rope.cos.shape[1] !== D / 2) fail(OP, `rope tables ${shapeString(rope.cos.shape)} are not of the full head dim ${D}`);
  for (let b = 0; b < B; b++) {
    if (!(slots[b]! >= 0 && slots[b]! < S!)) fail(OP, `slot ${slots[b]} of sequence ${b} is outside the cache's ${S} slots`);
    if (!(starts[b]! >= 0 && starts[b]! + T <= L!)) fail(OP, `positions ${starts[b]}..${starts[b]! + T - 1} of sequence ${b} are outside the cache's ${L} positions`);
  }
  const slotWords = Array.from({ length: DECODE_LAYER_MAX_B }, (_, b) => slots[b] ?? 0);
  const startWords = Array.from({ length: DECODE_LAYER_MAX_B }, (_, b) => starts[b] ?? 0);
  const params = new Params().u32(H).u32(Nq).u32(Nkv).u32(I).u32(Hq).u32(Hkv).u32(D).u32(D / 2).u32(L!).u32(maxPos).f32(d.eps).f32(Math.LOG2E / Math.sqrt(D)).u32(0).u32(0).u32(0).u32(0);
  for (const v of slotWords) params.u32(v);
  for (const v of startWords) params.u32(v);
  const out = opts.out ?? gpu.empty(x.shape, 'f32', 'decode_layer.out');
  gpu.dispatch({
    file: 'decode_layer.wgsl',
    constants: layerConstants(d, T, TO, L!, workgroupBytes(gpu)),
    params,
    tensors: [x, w.inputNorm, w.q, w.k, w.v, w.o, w.postNorm, w.gate, w.up, w.down, kCache, vCache, rope.cos, rope.sin, out],
    workgroups: [B, T / TO],
  });
  if (!opts.out) {
    gpu.copy(out, x);
    out.release();
  }
}
