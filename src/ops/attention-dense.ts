import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectShape } from './check.js';
import { matmul } from './matmul.js';

/**
 * The backward of causal grouped-query attention over whole training rows, computed densely: the
 * B·Hq·T² scores are materialised and every product runs as a batched matmul on the tuned matmul
 * kernels. The flash backward (attention_backward_dkdv.wgsl, _dq.wgsl) never stores a T×T matrix,
 * but on lavapipe it runs far below matmul speed (a training step of the bundled model's shape, B=16
 * rows of T=128 with 4/2 heads of 32, spent ~70% of its time there at under 1 GFLOP/s while the
 * matmuls ran at ~20; bench/RESULTS.md). For the short rows ponder trains on, the scores are small
 * (4 MiB a layer at that shape), so the dense form wins. The forward has a dense path too, taken
 * for rows of DENSE_FORWARD_MIN_T and more (below it the flash prefill is as fast).
 *
 * Layout: per (b, kv head) the G query heads' T rows form one [G·T, D] matrix once q is head-major
 * ([B, Hq, T, D], permute_heads.wgsl), and the cache block [T, D] of that kv head holds its keys, so
 * the batch is B·Hkv entries; scores are [B·Hkv, G·T, T] (row ρ = g·T + t, column = key position).
 *
 *   backward  S = qH·kᵀ, dP = doutH·vᵀ; P, dS = P∘(dP − delta) (attention_backward_probs);
 *             dV = Pᵀ·doutH, dK = scale·dSᵀ·qH, dQ = scale·dS·k            10·D flops a pair
 *
 * over the causal half of the T² pairs where the matmul kernel takes the causal hint (the subgroup
 * kernel, in 64-row blocks: ~(1/2 + 1/n_blocks) of them), else over all (the flash kernels do the
 * causal half: 14·D). The scores past the diagonal may then stay unwritten: the row kernel reads
 * only j ≤ t and writes exact zeros there, which the later products' skipped sums rely on. Same
 * results as the flash kernels to float32 rounding (the sums run in another order); both are tested against one float64
 * reference. Only the training layout: the caches hold exactly slot b = row b, positions 0..T-1.
 */

/**
 * The largest scores buffer (B·Hq·T² floats) the dense path takes; above it the flash kernels run.
 * 64 MiB covers B=16 rows of T=512 with 4 heads, or B=8 of T=1024 with 2.
 */
export const DENSE_SCRATCH_BYTES = 64 * 2 ** 20;

/**
 * The bytes of one [B·Hq, T, T] scores buffer, or undefined where the dense path cannot run (the
 * cache holds more slots or positions than the rows: its per-head blocks are then not one batch).
 */
export function denseAttentionScratchBytes(B: number, T: number, Hq: number, cacheSlots = B, cachePositions = T): number | undefined {
  if (cacheSlots !== B || cachePositions !== T) return undefined;
  return B * Hq * T * T * 4;
}

/** Whether the scores buffer fits the cap and one binding of `maxBindingBytes` (training layout). */
export function denseAttentionFits(B: number, T: number, Hq: number, maxBindingBytes: number): boolean {
  return denseAttentionScratchBytes(B, T, Hq)! <= Math.min(DENSE_SCRATCH_BYTES, maxBindingBytes);
}

/** Whether the attention backward over these shapes takes the dense path. */
export function usesDenseAttention(gpu: Gpu, B: number, T: number, Hq: number, cacheSlots = B, cachePositions = T): boolean {
  return denseAttentionScratchBytes(B, T, Hq, cacheSlots, cachePositions) !== undefined && denseAttentionFits(B, T, Hq, gpu.limits.maxStorageBufferBindingSize);
}

/**
 * Rows from which the training forward takes the dense path instead of the flash prefill
 * (attention_prefill.wgsl). With the causal hints the dense products skip the blocks past the
 * diagonal, so the gain grows with T: on lavapipe a training step of the bundled model's shape was
 * level at T=128 (2,427 against 2,412-2,466 tokens/s) and 16% shorter at T=512 (B=8: 1.92 s
 * against 2.26-2.29 s); bench/RESULTS.md "Causal hints".
 */
export const DENSE_FORWARD_MIN_T = 256;

/** Whether the training forward over these rows takes the dense path, for a device's largest binding. */
function denseForwardFits(B: number, T: number, Hq: number, maxBindingBytes: number): boolean {
  return T >= DENSE_FORWARD_MIN_T && denseAttentionFits(B, T, Hq, maxBindingBytes);
}

/** Whether the training forward over these rows takes the dense path (the caller checked the layout). */
export function usesDenseAttentionForward(gpu: Gpu, B: number, T: number, Hq: number): boolean {
  return denseForwardFits(B, T, Hq, gpu.limits.maxStorageBufferBindingSize);
}

/** [A, X, Y, D] -> [A, Y, X, D] (permute_heads.wgsl) into `out`. */
export function permuteHeads(gpu: Gpu, x: Tensor, A: number, X: number, Y: number, D: number, out: Tensor): Tensor {
  const WG = 256;
  // whole vec4s along D, 4 a thread (`main4`), when D allows; else element by element
  const vec4 = D % 4 === 0;
  const lanes = vec4 ? 4 : 1;
  const items = vec4 ? 4 : 1;
  const n = x.size / lanes;
  gpu.dispatch({
    file: 'permute_heads.wgsl',
    entry: vec4 ? 'main4' : 'main',
    constants: vec4 ? { WG, ITEMS: items } : { WG },
    params: new Params().u32(n).u32(X).u32(Y).u32(D / lanes),
    tensors: [x, out],
    workgroups: grid1d(Math.ceil(n / (WG * items)), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/** Scratch buffers of one call, released together at its end. */
function scratchList(gpu: Gpu, op: string) {
  const list: Tensor[] = [];
  return {
    tmp(shape: number[], label: string): Tensor {
      const x = gpu.empty(shape, 'f32', `${op}.${label}`);
      list.push(x);
      return x;
    },
    // safe to recycle: later users of these buffers are recorded, and so run, after this call's kernels
    release(): void {
      for (const x of list) x.release();
    },
  };
}

/** The row-wise kernels' shared params: rows, T, G, Hkv, scale·log2(e), segmented, P given (the backward's probs kernel). */
function rowParams(B: number, T: number, Hq: number, Hkv: number, scale: number, segmented: boolean, probsGiven = false): Params {
  return new Params().u32(B * Hq * T).u32(T).u32(Hq / Hkv).u32(Hkv).f32(scale * Math.LOG2E).u32(segmented ? 1 : 0).u32(probsGiven ? 1 : 0).u32(0);
}

/**
 * What the dense forward can leave for the backward: q head-major [B·Hkv, G·T, D] and P [B·Hkv, G·T, T].
 * The backward then skips its q permute, the scores matmul and P's exponentials (a training step at
 * T = 512 spends ~1/8 there), at the cost of holding B·Hq·T² floats a layer from forward to backward.
 */
export interface DenseAttentionKept {
  qH: Tensor;
  probs: Tensor;
}

/** Bytes of one layer's DenseAttentionKept. */
export function denseAttentionKeptBytes(B: number, T: number, Hq: number, D: number): number {
  return 4 * B * Hq * T * (T + D);
}

/** Most bytes a training step keeps from forward to backward over all its layers; above it the backward recomputes. */
export const DENSE_KEEP_BYTES = 256 * 2 ** 20;

/**
 * Whether a training step of `blocks` attention layers (trunk and MTP modules) keeps q head-major
 * and P from the dense forward for the backward: where the forward is dense and all of it fits
 * DENSE_KEEP_BYTES (the bundled model at B=8, T=512: 4 layers + 1 module, ~180 MB).
 */
export function keepsDenseAttention(B: number, T: number, Hq: number, D: number, blocks: number, maxBindingBytes: number): boolean {
  return denseForwardFits(B, T, Hq, maxBindingBytes) && blocks * denseAttentionKeptBytes(B, T, Hq, D) <= DENSE_KEEP_BYTES;
}

/** Checks a DenseAttentionKept's shapes for `op` (attention's keep, attentionBackward's kept). */
export function checkKept(op: string, kept: DenseAttentionKept, B: number, T: number, Hq: number, Hkv: number, D: number): void {
  expectShape(op, 'kept.qH', kept.qH, [B * Hkv, (Hq / Hkv) * T, D], 'B·Hkv x G·T x D');
  expectShape(op, 'kept.probs', kept.probs, [B * Hkv, (Hq / Hkv) * T, T], 'B·Hkv x G·T x T');
}

/**
 * The forward's dense path for training rows (attention.ts checks the shapes; the keys and values
 * are already in the caches): S = qH·kᵀ, P and lse (attention_dense_softmax.wgsl), out = P·v, both
 * products with the causal hints. out [B,T,Hq,D] and lse [B,T,Hq] as the flash forward writes them.
 * Its scratch (one scores buffer and qH) is live during one layer's forward, smaller than the
 * backward's, whose buffers the pool then hands back (the memory floor counts the backward's).
 */
export function denseAttentionForward(
  gpu: Gpu,
  t: { q: Tensor; kCache: Tensor; vCache: Tensor; lse: Tensor; segments: Tensor; segmented: boolean },
  dims: { B: number; T: number; Hq: number; Hkv: number; D: number; scale: number },
  out: Tensor,
  keep?: DenseAttentionKept,
): void {
  const { B, T, Hq, Hkv, D, scale } = dims;
  const G = Hq / Hkv;
  const BK = B * Hkv;
  const s = scratchList(gpu, 'attention');
  const qH = permuteHeads(gpu, t.q, B, T, Hq, D, keep?.qH ?? s.tmp([BK, G * T, D], 'qH'));
  const sc = matmul(gpu, qH, t.kCache.reshape([BK, T, D]), { transB: true, causal: { kind: 'scores', period: T } }, keep?.probs ?? s.tmp([BK, G * T, T], 'scores'));
  gpu.dispatch({
    file: 'attention_dense_softmax.wgsl',
    constants: { WG: 16 },
    params: rowParams(B, T, Hq, Hkv, scale, t.segmented),
    tensors: [sc, t.lse, t.segments],
    workgroups: grid1d(B * Hq * T, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  // out (head-major) into qH's buffer (its only reader, the scores matmul, is recorded before)
  // unless qH is kept for the backward
  const oH = matmul(gpu, sc, t.vCache.reshape([BK, T, D]), { causal: { kind: 'lowerA', period: T } }, keep ? s.tmp([BK, G * T, D], 'outH') : qH);
  permuteHeads(gpu, oH, B, Hq, T, D, out);
  s.release();
}

/**
 * The backward's dense path (attention-backward.ts checks the shapes and computes delta): the three
 * gradients into `g`, in the token-major layouts dq [B,T,Hq,D], dk/dv [B,T,Hkv,D].
 */
export function denseAttentionBackward(
  gpu: Gpu,
  t: { dout: Tensor; q: Tensor; kCache: Tensor; vCache: Tensor; lse: Tensor; delta: Tensor; segments: Tensor; segmented: boolean },
  dims: { B: number; T: number; Hq: number; Hkv: number; D: number; scale: number },
  g: { dq: Tensor; dk: Tensor; dv: Tensor },
  kept?: DenseAttentionKept,
): void {
  const { B, T, Hq, Hkv, D, scale } = dims;
  const G = Hq / Hkv;
  const BK = B * Hkv;
  const s = scratchList(gpu, 'attentionBackward');
  const doH = permuteHeads(gpu, t.dout, B, T, Hq, D, s.tmp([BK, G * T, D], 'doutH'));
  const kH = t.kCache.reshape([BK, T, D]);
  const vH = t.vCache.reshape([BK, T, D]);
  // causal hints (matmul `causal`): the products skip the score blocks past every row's diagonal
  // and the zero halves of P and dS in their sums, about half the work at long rows
  const scores = { kind: 'scores', period: T } as const;
  // q head-major and P: the forward's when it kept them (the probs kernel then only forms dS)
  const qH = kept?.qH ?? permuteHeads(gpu, t.q, B, T, Hq, D, s.tmp([BK, G * T, D], 'qH'));
  const sc = kept?.probs ?? matmul(gpu, qH, kH, { transB: true, causal: scores }, s.tmp([BK, G * T, T], 'scores'));
  const dp = matmul(gpu, doH, vH, { transB: true, causal: scores }, s.tmp([BK, G * T, T], 'dP'));
  gpu.dispatch({
    file: 'attention_backward_probs.wgsl',
    constants: { WG: 64 },
    params: rowParams(B, T, Hq, Hkv, scale, t.segmented, kept !== undefined),
    tensors: [sc, dp, t.lse, t.delta, t.segments],
    workgroups: grid1d(B * Hq * T, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  // sc = P, dp = dS, stored [G·T, T] per entry: the transposed A of a [T x G·T] product
  // (P and dS are exactly 0 past each row's diagonal: Pᵀ and dSᵀ are 'upperA', dS is 'lowerA')
  const upperA = { kind: 'upperA', period: T } as const;
  const dvH = matmul(gpu, sc, doH, { transA: true, causal: upperA }, s.tmp([BK, T, D], 'dvH'));
  const dkH = matmul(gpu, dp, qH, { transA: true, alpha: scale, causal: upperA }, s.tmp([BK, T, D], 'dkH'));
  // dQ into doutH's buffer (its last reader, the dV matmul, is recorded before)
  const dqH = matmul(gpu, dp, kH, { alpha: scale, causal: { kind: 'lowerA', period: T } }, doH);
  permuteHeads(gpu, dqH, B, Hq, T, D, g.dq);
  permuteHeads(gpu, dkH, B, Hkv, T, D, g.dk);
  permuteHeads(gpu, dvH, B, Hkv, T, D, g.dv);
  s.release();
}
