import type { Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { shapeString, overlaps, type Tensor } from '../gpu/tensor.js';
import { expectDtype, expectRank, expectShape, fail } from './check.js';
import { pickMatmulConfig, type MatmulConfig } from './matmul-configs.js';

export { DEFAULT_MATMUL_CONFIGS, pickMatmulConfig, setMatmulConfig, validateMatmulConfig, type MatmulConfig, type MatmulConfigPatch } from './matmul-configs.js';

export interface MatmulOptions {
  /** A is stored [K,M] (or [batch,K,M]) and used transposed. */
  transA?: boolean;
  /** B is stored [N,K] (or [batch,N,K]) and used transposed: y = x·Wᵀ with HF Linear weights. */
  transB?: boolean;
  /** C += result instead of C = result (gradient accumulation); needs `out`. */
  accumulate?: boolean;
  /** [N] added to every row (Qwen2 q/k/v bias). */
  bias?: Tensor;
  /** scales op(A)·op(B) before bias and accumulation; default 1 */
  alpha?: number;
  /**
   * A hint for attention's causal products, whose rows repeat a causal pattern every `period` rows
   * (row ρ's diagonal is ρ mod period): 'scores', C[ρ, n] is only wanted for n ≤ ρ mod period (the
   * rest may be left unwritten); 'lowerA', op(A)[ρ, k] = 0 for k > ρ mod period; 'upperA',
   * op(A)[m, k] = 0 for k mod period < m. A kernel that uses it skips the work that is zero or
   * unwanted (matmul_sg.wgsl); the others compute everything, the same values wherever wanted.
   */
  causal?: { kind: 'scores' | 'lowerA' | 'upperA'; period: number };
}

const CAUSAL_KINDS = { scores: 1, lowerA: 2, upperA: 3 } as const;

/** Which kernel `matmul` would run for a problem (exported for benchmarks and tests). */
export type MatmulKernel = 'subgroup' | 'tiled' | 'gemv' | 'gemvSubgroup';

export interface MatmulProblem {
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

const OP = 'matmul';

/**
 * C = alpha · op(A)·op(B) (+ bias[N] on every row) (+ C when accumulating), row-major f32.
 * A is [M,K] ([K,M] with transA) or [batch,M,K]; B is [K,N] ([N,K] with transB), or [batch,K,N]
 * with the same batch as A, or rank 2 and shared by every batch entry (weights). A rank-2 A with a
 * batched B is shared the same way: one input through several stacked weights of one shape (gate
 * and up, or k and v, as one view [2, N, K]) in one dispatch, C [batch, M, N] holding each result.
 * Returns C: [M,N] or [batch,M,N] (`out` when given).
 */
export function matmul(gpu: Gpu, a: Tensor, b: Tensor, opts: MatmulOptions = {}, out?: Tensor): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const alpha = opts.alpha ?? 1;
  expectDtype(OP, 'a', a, ['f32']);
  expectDtype(OP, 'b', b, ['f32']);
  expectRank(OP, 'a', a, [2, 3]);
  expectRank(OP, 'b', b, [2, 3]);
  if (!Number.isFinite(alpha)) fail(OP, `alpha must be a finite number, got ${alpha}`);

  const sharedA = a.shape.length === 2 && b.shape.length === 3;
  const batched = a.shape.length === 3 || sharedA;
  const batch = a.shape.length === 3 ? a.shape[0] : sharedA ? b.shape[0] : 1;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  const aDesc = `a ${shapeString(a.shape)}${transA ? ' (transposed)' : ''}`;
  const bDesc = `b ${shapeString(b.shape)}${transB ? ' (transposed)' : ''}`;
  if (K !== Kb) fail(OP, `inner dimensions differ: ${aDesc} has K=${K} but ${bDesc} has K=${Kb}`);
  const sharedB = b.shape.length === 2;
  if (!sharedB) {
    if (b.shape[0] !== batch) fail(OP, `batch sizes differ: ${aDesc} has ${batch}, ${bDesc} has ${b.shape[0]}`);
  }
  if (opts.bias) {
    expectDtype(OP, 'bias', opts.bias, ['f32']);
    expectShape(OP, 'bias', opts.bias, [N], `[N=${N}] for ${aDesc} · ${bDesc}`);
  }
  const outShape = batched ? [batch, M, N] : [M, N];
  if (opts.accumulate && !out) fail(OP, 'accumulate needs the tensor to accumulate into as `out`');
  const o = out ?? gpu.empty(outShape, 'f32', 'matmul.out');
  expectDtype(OP, 'out', o, ['f32']);
  expectShape(OP, 'out', o, outShape, `${batched ? 'batch x ' : ''}M x N for ${aDesc} · ${bDesc}`);
  if (overlaps(o, a) || overlaps(o, b) || (opts.bias && overlaps(o, opts.bias))) {
    fail(OP, 'out must not share a buffer with a, b or bias');
  }
  if (o.size === 0) return o;

  // A batch of row-major A against shared weights is one tall matrix: better tiles, one grid.
  const flat = batched && sharedB && !transA;
  const prob: MatmulProblem = { batch: flat ? 1 : batch, M: flat ? batch * M : M, N, K, transA, transB };
  if (opts.causal && !(Number.isInteger(opts.causal.period) && opts.causal.period > 0)) fail(OP, `causal period must be a positive integer, got ${opts.causal.period}`);
  dispatchMatmul(gpu, a, b, o, prob, sharedA, sharedB, alpha, opts.bias, opts.accumulate ?? false, flat ? undefined : opts.causal);
  return o;
}

/** The kernel matmul picks for a problem under a config. */
export function chooseMatmulKernel(cfg: MatmulConfig, p: MatmulProblem): MatmulKernel {
  const { M, N, K, transA, transB } = p;
  if (M <= cfg.smallM && !transA && K % 4 === 0) {
    if (cfg.smallMKernel === 'gemv' && (transB || N % 4 === 0)) return 'gemv';
    if (cfg.smallMKernel === 'gemvSubgroup' && transB) return 'gemvSubgroup';
  }
  if (cfg.kernel === 'subgroup') {
    const bAligned = transB ? K % 4 === 0 : N % 4 === 0;
    if (bAligned) return 'subgroup';
  }
  return 'tiled';
}

/** Rows per workgroup for the subgroup kernel: a few fixed sizes so few pipelines get compiled. */
export function subgroupRows(cfg: MatmulConfig, M: number): number {
  const max = cfg.subgroup.rows;
  if (M <= 8) return Math.min(8, max);
  if (M <= 32) return Math.min(32, max);
  if (M <= 64) return Math.min(64, max);
  return max;
}

/**
 * Lanes that share A rows in matmul_sg.wgsl (its LANES: k's per step): 16 when every subgroup has
 * 16 lanes or more and a workgroup fills them (lavapipe with 512-bit vectors), else 8. Sixteen
 * halves the A loads per multiply-add, the loads being what a CPU SIMD adapter pays most for.
 */
export function subgroupLanes(gpu: Gpu, wg: number): number {
  return (gpu.info.subgroupMinSize ?? 0) >= 16 && wg % 16 === 0 ? 16 : 8;
}

function dispatchMatmul(
  gpu: Gpu,
  a: Tensor,
  b: Tensor,
  c: Tensor,
  prob: MatmulProblem,
  sharedA: boolean,
  sharedB: boolean,
  alpha: number,
  bias: Tensor | undefined,
  accumulate: boolean,
  causal?: MatmulOptions['causal'],
): void {
  const cfg = pickMatmulConfig(gpu);
  const { batch, M, N, K, transA, transB } = prob;
  const kernel = chooseMatmulKernel(cfg, prob);
  // Without a bias the binding still has to be filled; A is read-only already, so reuse it.
  const tensors = [a, b, bias ?? a, c];
  const aStride = sharedA ? 0 : M * K;
  const bStride = sharedB ? 0 : K * N;
  // Strides are in the element type each kernel binds (f32 or vec4); alignment makes them exact.
  const params = (aStrideUnits: number, bStrideUnits: number) =>
    new Params().u32(M).u32(N).u32(K).u32(aStrideUnits).u32(bStrideUnits).f32(alpha).u32(bias ? 1 : 0).u32(accumulate ? 1 : 0);

  if (kernel === 'tiled') {
    const t = cfg.tiled;
    gpu.dispatch({
      file: 'matmul.wgsl',
      constants: { TX: t.tx, TY: t.ty, BK: t.bk, TRANS_A: transA, TRANS_B: transB },
      params: params(aStride, bStride),
      tensors,
      workgroups: [Math.ceil(N / (4 * t.tx)), Math.ceil(M / (4 * t.ty)), batch],
    });
    return;
  }

  if (kernel === 'gemv') {
    const g = cfg.gemv;
    if (transB) {
      gpu.dispatch({
        file: 'matmul_gemv.wgsl',
        entry: 'nk',
        constants: { TPC: g.threadsPerCol, COLS: g.cols },
        params: params(aStride / 4, bStride / 4),
        tensors,
        workgroups: [Math.ceil(N / g.cols), 1, batch],
      });
    } else {
      gpu.dispatch({
        file: 'matmul_gemv.wgsl',
        entry: 'kn',
        constants: { WG: g.wgKN },
        params: params(aStride / 4, bStride / 4),
        tensors,
        workgroups: [Math.ceil(N / 4 / g.wgKN), 1, batch],
      });
    }
    return;
  }

  if (kernel === 'gemvSubgroup') {
    const g = cfg.gemvSubgroup;
    gpu.dispatch({
      file: 'matmul_gemv_sg.wgsl',
      constants: { WG: g.wg, R: M <= 1 ? 1 : M <= 2 ? 2 : M <= 4 ? 4 : 8, C: g.cols },
      params: params(aStride / 4, bStride / 4),
      tensors,
      workgroups: [Math.ceil(N / (g.cols * (g.wg / 8))), 1, batch],
    });
    return;
  }

  const s = cfg.subgroup;
  const R = subgroupRows(cfg, M);
  const lanes = subgroupLanes(gpu, s.wg);
  // the causal hint needs every period to start on the k loop's step (LANES k's)
  const tri = causal && causal.period % lanes === 0 ? CAUSAL_KINDS[causal.kind] : 0;
  // A as vec4s where its rows (A stored [M,K]) or columns ([K,M]) come in whole quads
  const avec = !transA && K % 4 === 0 ? 1 : transA && M % 4 === 0 ? 2 : 0;
  // C (and the bias) in vec4s when its rows come in whole quads
  const cvec = N % 4 === 0;
  gpu.dispatch({
    file: 'matmul_sg.wgsl',
    entry: cvec ? 'main4' : 'main',
    constants: { WG: s.wg, R, CV: s.colQuads, LANES: lanes, AVEC: avec, TRANS_A: transA, TRANS_B: transB },
    params: params(aStride, bStride / 4).u32(tri).u32(tri ? causal!.period : 1).u32(0).u32(0),
    // binding 5 is A as vec4s; without AVEC it is unread, and B (a vec4 array already) fills it (an A
    // of fewer than 4 floats is under a vec4 binding's minimum size); so does it main4's unread bias
    tensors: [a, b, bias ?? (cvec ? b : a), c, avec ? a : b],
    workgroups: [Math.ceil(N / (4 * s.colQuads * s.wg)), Math.ceil(M / R), batch],
  });
}
