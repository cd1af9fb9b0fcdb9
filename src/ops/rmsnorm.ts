import type { Gpu } from '../gpu/gpu.js';
import { grid1d } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { overlaps, type Tensor } from '../gpu/tensor.js';
import { expectDtype, expectRank, expectShape, expectSize, fail } from './check.js';

export interface RmsNormOptions {
  /** added to mean(x^2) before the square root (Qwen2/3: 1e-6) */
  eps: number;
  /** optional f32 output with one element per row (any shape of that size): 1/sqrt(mean(x^2)+eps) */
  rstd?: Tensor;
  /** thread layout override (tests and tuning); default rmsnormLayout(dim, adapter is software) */
  layout?: RmsNormLayout;
}

export interface RmsNormLayout {
  /** vec4 loads (D % 4 == 0) */
  vec4: boolean;
  /** threads per row (a power of two) */
  tpr: number;
  /** rows per workgroup */
  rpw: number;
}

function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * How rmsnorm.wgsl (and rmsnorm_backward.wgsl's dx) split rows over threads. On a software adapter
 * (lavapipe: a workgroup is a loop on one CPU thread, and invocations cost more than memory traffic)
 * one thread a row (vec4 loads, no reduction tree and so no barrier) and 16 rows a workgroup:
 * against 4 threads a row, [4096 x 128] (a training step's norm) 0.98 → 0.65 ms, [64 x 128] (a
 * batched decode step's) 0.064 → 0.054, [512 x 896] 0.63 → 0.55 (`node
 * scripts/profile-batched-ops.mjs`, lavapipe, 2 Zen 4 cores); 4 had beaten 128 scalar threads a
 * row ~3x. On GPUs (not measured here): ~4 loads per thread up to 256
 * threads per row, and at least 64 threads per workgroup (several rows per workgroup when rows are
 * short).
 */
export function rmsnormLayout(dim: number, software: boolean): RmsNormLayout {
  const vec4 = dim % 4 === 0;
  const units = vec4 ? dim / 4 : dim;
  if (software) return { vec4, tpr: 1, rpw: 16 };
  const tpr = Math.min(256, pow2ceil(Math.ceil(units / 4)));
  return { vec4, tpr, rpw: Math.max(1, 64 / tpr) };
}

/** A 4-byte stand-in bound as rstd when the caller wants none (the kernel then never writes it). */
const dummies = new WeakMap<Gpu, Tensor>();
function dummyRstd(gpu: Gpu): Tensor {
  let t = dummies.get(gpu);
  if (!t) dummies.set(gpu, (t = gpu.empty([1], 'f32', 'rmsnorm.no-rstd')));
  return t;
}

/**
 * RMSNorm over the last dim: y = x / sqrt(mean(x^2) + eps) * weight, computed in f32.
 * x f32 [..., D], weight f32 [D] -> out f32 (same shape as x). `out` may be x itself (or another
 * tensor over x's buffer): the norm is then done in place. `opts.rstd` (rows elements) receives the
 * per-row reciprocal RMS for the backward pass.
 */
export function rmsnorm(gpu: Gpu, x: Tensor, weight: Tensor, opts: RmsNormOptions, out?: Tensor): Tensor {
  expectDtype('rmsnorm', 'x', x, ['f32']);
  expectDtype('rmsnorm', 'weight', weight, ['f32']);
  if (x.shape.length === 0) expectRank('rmsnorm', 'x', x, [1, 2, 3, 4]);
  const dim = x.shape[x.shape.length - 1];
  if (dim === 0) fail('rmsnorm', `x has shape [${x.shape.join('x')}], expected a last dim > 0`);
  expectShape('rmsnorm', 'weight', weight, [dim], `[D], D = last dim of x [${x.shape.join('x')}]`);
  if (!Number.isFinite(opts.eps) || opts.eps < 0) fail('rmsnorm', `eps must be a finite number >= 0, got ${opts.eps}`);
  const rows = x.size / dim;
  const o = out ?? gpu.empty(x.shape, 'f32', 'rmsnorm.out');
  expectDtype('rmsnorm', 'out', o, ['f32']);
  expectShape('rmsnorm', 'out', o, x.shape, 'same as x');
  const inPlace = overlaps(o, x);
  if (opts.rstd) {
    expectDtype('rmsnorm', 'rstd', opts.rstd, ['f32']);
    expectSize('rmsnorm', 'rstd', opts.rstd, rows);
    if (overlaps(opts.rstd, x) || overlaps(opts.rstd, o)) fail('rmsnorm', 'rstd must not share a buffer with x or out');
  }
  if (!inPlace && overlaps(weight, o)) fail('rmsnorm', 'out must not share a buffer with weight');

  const { vec4, tpr, rpw } = opts.layout ?? rmsnormLayout(dim, gpu.info.software);
  if (vec4 && dim % 4 !== 0) fail('rmsnorm', `layout.vec4 needs a last dim divisible by 4, got ${dim}`);
  if (!Number.isInteger(Math.log2(tpr)) || tpr > 256 || !Number.isInteger(rpw) || rpw < 1 || tpr * rpw > 256) {
    fail('rmsnorm', `bad layout: tpr ${tpr} must be a power of two, rpw ${rpw} >= 1, tpr * rpw <= 256`);
  }
  const rstd = opts.rstd ?? dummyRstd(gpu);
  gpu.dispatch({
    file: inPlace ? 'rmsnorm_inplace.wgsl' : 'rmsnorm.wgsl',
    entry: vec4 ? 'main_vec4' : 'main',
    constants: { TPR: tpr, RPW: rpw },
    params: new Params()
      .u32(rows)
      .u32(dim)
      .f32(opts.eps)
      .u32(opts.rstd ? 1 : 0),
    tensors: inPlace ? [x, weight, rstd] : [x, weight, o, rstd],
    workgroups: grid1d(Math.ceil(rows / rpw), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return o;
}

export interface RmsNormBackwardOptions {
  /** optional preallocated f32 output, x's shape; must not share a buffer with the inputs */
  dx?: Tensor;
  /** f32 [D]: receives dL/dweight summed over all rows */
  dweight: Tensor;
  /** add into dweight (gradient accumulation over micro-batches) instead of overwriting it */
  accumulate?: boolean;
  /**
   * add into dx instead of overwriting it (needs `dx`): a block's input gradient added straight into
   * the residual gradient, bit-identical to writing it and running addInPlace, one dispatch fewer
   */
  accumulateDx?: boolean;
  /** thread layout of the dx kernel; default rmsnormLayout(dim, adapter is software) */
  layout?: RmsNormLayout;
}

/** Columns per workgroup of the dweight kernels. */
const WGC = 64;

/**
 * Rows per dweight partial sum. The split depends on `rows` only, so results are reproducible bit
 * for bit; ~256 blocks at most keep the partials small and the reduce short, and >= 32 rows per
 * block keeps each thread's serial loop worth a workgroup.
 */
export function rmsnormDwRowsPerBlock(rows: number): number {
  return Math.max(32, Math.ceil(rows / 256));
}

/**
 * RMSNorm backward. dy, x f32 [..., D] (x the forward's input), weight f32 [D], rstd (rows elements,
 * saved by the forward's `opts.rstd`). Computes
 *   dx = rstd * dy * w - x * rstd^3 / D * sum_d(dy * w * x)   per row, and
 *   dweight = sum over rows of dy * x * rstd                  (or += with opts.accumulate).
 * dweight is reduced without atomics: per-block partial sums, then a fixed-order sum of the partials,
 * so repeated runs are bit-identical. 2 dispatches for <= 32 rows (one block), else 3.
 */
export function rmsnormBackward(gpu: Gpu, dy: Tensor, x: Tensor, weight: Tensor, rstd: Tensor, opts: RmsNormBackwardOptions): { dx: Tensor; dweight: Tensor } {
  const op = 'rmsnormBackward';
  expectDtype(op, 'x', x, ['f32']);
  expectDtype(op, 'dy', dy, ['f32']);
  expectDtype(op, 'weight', weight, ['f32']);
  expectDtype(op, 'rstd', rstd, ['f32']);
  if (x.shape.length === 0) expectRank(op, 'x', x, [1, 2, 3, 4]);
  const dim = x.shape[x.shape.length - 1];
  if (dim === 0) fail(op, `x has shape [${x.shape.join('x')}], expected a last dim > 0`);
  expectShape(op, 'dy', dy, x.shape, 'same as x');
  expectShape(op, 'weight', weight, [dim], `[D], D = last dim of x [${x.shape.join('x')}]`);
  const rows = x.size / dim;
  expectSize(op, 'rstd', rstd, rows);
  const dweight = opts.dweight;
  expectDtype(op, 'dweight', dweight, ['f32']);
  expectShape(op, 'dweight', dweight, [dim], `[D], D = last dim of x [${x.shape.join('x')}]`);
  if (opts.accumulateDx && !opts.dx) fail(op, 'accumulateDx needs the tensor to accumulate into as `dx`');
  const dx = opts.dx ?? gpu.empty(x.shape, 'f32', 'rmsnorm.dx');
  expectDtype(op, 'dx', dx, ['f32']);
  expectShape(op, 'dx', dx, x.shape, 'same as x');
  const inputs = [dy, x, weight, rstd];
  if (inputs.some((t) => overlaps(t, dx))) fail(op, 'dx must not share a buffer with dy, x, weight or rstd');
  if (inputs.some((t) => overlaps(t, dweight)) || overlaps(dweight, dx)) fail(op, 'dweight must not share a buffer with dy, x, weight, rstd or dx');

  const { vec4, tpr, rpw } = opts.layout ?? rmsnormLayout(dim, gpu.info.software);
  if (vec4 && dim % 4 !== 0) fail(op, `layout.vec4 needs a last dim divisible by 4, got ${dim}`);
  if (!Number.isInteger(Math.log2(tpr)) || tpr > 256 || !Number.isInteger(rpw) || rpw < 1 || tpr * rpw > 256) {
    fail(op, `bad layout: tpr ${tpr} must be a power of two, rpw ${rpw} >= 1, tpr * rpw <= 256`);
  }
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  gpu.dispatch({
    file: 'rmsnorm_backward.wgsl',
    entry: vec4 ? 'dx_vec4' : 'dx_main',
    constants: { TPR: tpr, RPW: rpw },
    params: new Params()
      .u32(rows)
      .u32(vec4 ? dim / 4 : dim)
      .u32(0)
      .u32(0)
      .u32(opts.accumulateDx ? 1 : 0),
    tensors: [dy, x, weight, rstd, dx],
    workgroups: grid1d(Math.ceil(rows / rpw), maxWg),
  });

  const accumulate = opts.accumulate ? 1 : 0;
  const rowsPerBlock = rmsnormDwRowsPerBlock(rows);
  const blocks = Math.max(1, Math.ceil(rows / rowsPerBlock));
  const colGroups = Math.ceil(dim / WGC);
  const partials = blocks === 1 ? dweight : gpu.empty([blocks, dim], 'f32', 'rmsnorm.dw-partials');
  gpu.dispatch({
    file: 'rmsnorm_backward.wgsl',
    entry: 'dw_partial',
    constants: { WGC },
    params: new Params().u32(rows).u32(dim).u32(rowsPerBlock).u32(blocks).u32(blocks === 1 ? accumulate : 0),
    tensors: [dy, x, partials, rstd],
    workgroups: [colGroups, blocks],
  });
  if (blocks > 1) {
    gpu.dispatch({
      file: 'rmsnorm_backward.wgsl',
      entry: 'dw_reduce',
      constants: { WGC },
      params: new Params().u32(rows).u32(dim).u32(rowsPerBlock).u32(blocks).u32(accumulate),
      tensors: [partials, dweight],
      workgroups: [colGroups],
    });
    // Safe to recycle now: later users of the buffer are recorded (or written) after these dispatches.
    partials.release();
  }
  return { dx, dweight };
}
