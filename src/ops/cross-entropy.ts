import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectDtype, expectRank, expectShape, fail } from './check.js';
import { expectDistinct, rowWorkgroupSize } from './softmax.js';

/** A target equal to this (u32 0xffffffff, i.e. -1 as i32) contributes no loss and no gradient. */
export const IGNORE_INDEX = 0xffffffff;

export interface CrossEntropyOptions {
  /** Multiplies the gradient, e.g. 1 / (number of non-ignored targets) for a mean loss. */
  gradScale: number;
  /** Write the gradient over `logits` (no [N, V] dlogits buffer); `dlogits` must then be undefined. */
  inPlace?: boolean;
  /** Preallocated f32 [N] loss output. */
  loss?: Tensor;
  /** Preallocated f32 [N, V] gradient output (not with inPlace). */
  dlogits?: Tensor;
}

/**
 * Fused softmax + cross-entropy over logits [N, V] (f32) and targets [N] (u32), one kernel:
 *   loss[n]       = logsumexp(logits[n]) - logits[n, t]      (per row, not averaged)
 *   dlogits[n, :] = (softmax(logits[n]) - onehot(t)) * gradScale
 * Rows whose target is IGNORE_INDEX get loss 0 and a zero gradient. A target >= V (other than
 * IGNORE_INDEX) cannot be caught before the GPU runs: that row's loss is NaN.
 * With `inPlace`, the returned dlogits is `logits` itself, now holding the gradient.
 */
export function crossEntropy(gpu: Gpu, logits: Tensor, targets: Tensor, opts: CrossEntropyOptions): { loss: Tensor; dlogits: Tensor } {
  const op = 'crossEntropy';
  expectDtype(op, 'logits', logits, ['f32']);
  expectRank(op, 'logits', logits, [2]);
  const [rows, cols] = logits.shape;
  if (cols === 0) fail(op, `logits has shape [${rows}x${cols}]: the vocabulary dimension is empty`);
  expectDtype(op, 'targets', targets, ['u32']);
  expectShape(op, 'targets', targets, [rows], 'N, the rows of logits [N x V]');
  if (!Number.isFinite(opts.gradScale)) fail(op, `gradScale must be a finite number, got ${opts.gradScale}`);
  if (opts.inPlace && opts.dlogits) fail(op, `dlogits ${opts.dlogits} was given with inPlace (the gradient overwrites logits ${logits})`);

  const loss = opts.loss ?? gpu.empty([rows], 'f32', 'crossEntropy.loss');
  expectDtype(op, 'loss', loss, ['f32']);
  expectShape(op, 'loss', loss, [rows], 'N, the rows of logits [N x V]');
  expectDistinct(op, 'logits', logits, 'loss', loss);
  expectDistinct(op, 'targets', targets, 'loss', loss);

  const params = new Params().u32(rows).u32(cols).f32(opts.gradScale);
  const constants = { WG: rowWorkgroupSize(cols) };
  const workgroups = grid1d(rows, gpu.limits.maxComputeWorkgroupsPerDimension);
  if (opts.inPlace) {
    expectDistinct(op, 'targets', targets, 'logits', logits);
    gpu.dispatch({ file: 'cross_entropy.wgsl', entry: 'cross_entropy_inplace', constants, params, tensors: [logits, targets, loss], workgroups });
    return { loss, dlogits: logits };
  }
  const dlogits = opts.dlogits ?? gpu.empty(logits.shape, 'f32', 'crossEntropy.dlogits');
  expectDtype(op, 'dlogits', dlogits, ['f32']);
  expectShape(op, 'dlogits', dlogits, logits.shape, 'same as logits');
  expectDistinct(op, 'logits', logits, 'dlogits', dlogits);
  expectDistinct(op, 'targets', targets, 'dlogits', dlogits);
  expectDistinct(op, 'loss', loss, 'dlogits', dlogits);
  gpu.dispatch({ file: 'cross_entropy.wgsl', entry: 'cross_entropy', constants, params, tensors: [logits, targets, loss, dlogits], workgroups });
  return { loss, dlogits };
}
