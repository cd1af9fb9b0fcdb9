import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectDtype, expectRank, expectShape, fail } from './check.js';
import { expectDistinct, rowWorkgroupSize } from './softmax.js';

export interface TokenLogprobsOptions {
  /** T > 0: the log-probs and entropies are of softmax(logits / T). Default 1. */
  temperature?: number;
  /** Preallocated f32 [N] outputs. */
  logp?: Tensor;
  entropy?: Tensor;
}

/** Rejects a temperature the kernels cannot divide by (0, negative, NaN, Inf). */
export function expectTemperature(op: string, temperature: number): void {
  if (!Number.isFinite(temperature) || temperature <= 0) fail(op, `temperature must be a finite number > 0, got ${temperature}`);
}

/**
 * Per-token log-probabilities and entropies over logits [N, V] (f32) and targets [N] (u32), one
 * kernel and one read of the logits (wgsl/token_logprobs.wgsl):
 *   logp[n]    = log softmax(logits[n] / T)[targets[n]]
 *   entropy[n] = -Σ_i p_i log p_i  of  p = softmax(logits[n] / T)
 * Rows whose target is IGNORE_INDEX get 0 and 0; a target >= V (not IGNORE_INDEX) a NaN logp. The
 * logits are left as they were. Returns fresh (or the given) f32 [N] tensors.
 */
export function tokenLogprobs(gpu: Gpu, logits: Tensor, targets: Tensor, opts: TokenLogprobsOptions = {}): { logp: Tensor; entropy: Tensor } {
  const op = 'tokenLogprobs';
  expectDtype(op, 'logits', logits, ['f32']);
  expectRank(op, 'logits', logits, [2]);
  const [rows, cols] = logits.shape;
  if (cols === 0) fail(op, `logits has shape [${rows}x${cols}]: the vocabulary dimension is empty`);
  expectDtype(op, 'targets', targets, ['u32']);
  expectShape(op, 'targets', targets, [rows], 'N, the rows of logits [N x V]');
  const temperature = opts.temperature ?? 1;
  expectTemperature(op, temperature);
  const logp = opts.logp ?? gpu.empty([rows], 'f32', 'tokenLogprobs.logp');
  const entropy = opts.entropy ?? gpu.empty([rows], 'f32', 'tokenLogprobs.entropy');
  for (const [name, t] of [['logp', logp], ['entropy', entropy]] as const) {
    expectDtype(op, name, t, ['f32']);
    expectShape(op, name, t, [rows], 'N, the rows of logits [N x V]');
    expectDistinct(op, 'logits', logits, name, t);
    expectDistinct(op, 'targets', targets, name, t);
  }
  expectDistinct(op, 'logp', logp, 'entropy', entropy);
  gpu.dispatch({
    file: 'token_logprobs.wgsl',
    entry: 'token_logprobs',
    constants: { WG: rowWorkgroupSize(cols) },
    params: new Params().u32(rows).u32(cols).f32(temperature),
    tensors: [logits, targets, logp, entropy],
    workgroups: grid1d(rows, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return { logp, entropy };
}
