import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectDtype, expectRank, expectShape, fail } from './check.js';
import { expectDistinct, rowWorkgroupSize } from './softmax.js';
import { expectTemperature } from './token-logprobs.js';

export interface WeightedCrossEntropyOptions {
  /** T > 0: the gradient is of log softmax(logits / T). Default 1. */
  temperature?: number;
  /** Preallocated f32 [N] loss rows (-logp, unweighted). */
  loss?: Tensor;
}

/**
 * The backward every per-token objective shares, IN PLACE over logits [N, V] (f32), with targets
 * [N] (u32) and per-row weights [N] (f32) (wgsl/cross_entropy_weighted.wgsl):
 *   logits[n, :] ← weights[n] / T · (softmax(logits[n] / T) − onehot(targets[n]))
 *   loss[n]       = −log softmax(logits[n] / T)[targets[n]]   (unweighted, from the same pass)
 * i.e. the gradient of Σ_n weights[n] · (−logp[n]); an objective L(logp) passes weights = −∂L/∂logp.
 * With weights = gradScale everywhere and T = 1 this is crossEntropy(…, {inPlace: true}).
 * IGNORE_INDEX rows get a zero gradient row and loss 0. Returns the loss tensor.
 */
export function weightedCrossEntropy(gpu: Gpu, logits: Tensor, targets: Tensor, weights: Tensor, opts: WeightedCrossEntropyOptions = {}): Tensor {
  const op = 'weightedCrossEntropy';
  expectDtype(op, 'logits', logits, ['f32']);
  expectRank(op, 'logits', logits, [2]);
  const [rows, cols] = logits.shape;
  if (cols === 0) fail(op, `logits has shape [${rows}x${cols}]: the vocabulary dimension is empty`);
  expectDtype(op, 'targets', targets, ['u32']);
  expectShape(op, 'targets', targets, [rows], 'N, the rows of logits [N x V]');
  expectDtype(op, 'weights', weights, ['f32']);
  expectShape(op, 'weights', weights, [rows], 'N, the rows of logits [N x V]');
  const temperature = opts.temperature ?? 1;
  expectTemperature(op, temperature);
  const loss = opts.loss ?? gpu.empty([rows], 'f32', 'weightedCrossEntropy.loss');
  expectDtype(op, 'loss', loss, ['f32']);
  expectShape(op, 'loss', loss, [rows], 'N, the rows of logits [N x V]');
  for (const [name, t] of [['targets', targets], ['weights', weights], ['loss', loss]] as const) expectDistinct(op, 'logits', logits, name, t);
  expectDistinct(op, 'targets', targets, 'loss', loss);
  expectDistinct(op, 'weights', weights, 'loss', loss);
  gpu.dispatch({
    file: 'cross_entropy_weighted.wgsl',
    entry: 'cross_entropy_weighted',
    constants: { WG: rowWorkgroupSize(cols) },
    params: new Params().u32(rows).u32(cols).f32(temperature),
    tensors: [logits, targets, weights, loss],
    workgroups: grid1d(rows, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return loss;
}
