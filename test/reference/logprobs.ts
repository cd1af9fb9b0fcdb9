/**
 * Float64 references of the per-token objective kernels (test-only): log-probs and entropies at a
 * temperature (wgsl/token_logprobs.wgsl) and the per-row weighted cross-entropy backward
 * (wgsl/cross_entropy_weighted.wgsl). Written from the definitions, not from the kernels:
 *   z = row / T,  log p = z − logsumexp(z),  entropy = −Σ p log p,
 *   dlogits = w / T · (softmax(z) − onehot(t)),  loss = −log p[t].
 */
import type { ModelConfig, Weights } from '../../src/model/config.js';
import { transformerRef } from './transformer.js';

const IGNORE = 0xffffffff;

/** log softmax of row n of x / T, float64 (−inf entries give log p = −inf, p = 0). */
export function logSoftmaxRow(x: ArrayLike<number>, n: number, cols: number, temperature: number): Float64Array {
  const o = n * cols;
  let m = -Infinity;
  for (let i = 0; i < cols; i++) m = Math.max(m, x[o + i] / temperature);
  let s = 0;
  for (let i = 0; i < cols; i++) s += Math.exp(x[o + i] / temperature - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(cols);
  for (let i = 0; i < cols; i++) out[i] = x[o + i] / temperature - lse;
  return out;
}

/** logp[n] = log softmax(x[n]/T)[t], entropy[n] = −Σ p log p; ignored rows 0, 0; t >= V: NaN logp. */
export function tokenLogprobsRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  rows: number,
  cols: number,
  temperature: number,
): { logp: Float64Array; entropy: Float64Array } {
  const logp = new Float64Array(rows);
  const entropy = new Float64Array(rows);
  for (let n = 0; n < rows; n++) {
    const t = targets[n];
    if (t === IGNORE) continue;
    const lp = logSoftmaxRow(logits, n, cols, temperature);
    logp[n] = t < cols ? lp[t] : NaN;
    let h = 0;
    for (const l of lp) if (l > -Infinity) h -= Math.exp(l) * l;
    entropy[n] = h;
  }
  return { logp, entropy };
}

/** dlogits[n] = w[n]/T · (softmax(x[n]/T) − onehot(t)), loss[n] = −logp; ignored rows 0 and 0. */
export function weightedCrossEntropyRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  weights: ArrayLike<number>,
  rows: number,
  cols: number,
  temperature: number,
): { loss: Float64Array; dlogits: Float64Array } {
  const loss = new Float64Array(rows);
  const dlogits = new Float64Array(rows * cols);
  for (let n = 0; n < rows; n++) {
    const t = targets[n];
    if (t === IGNORE) continue;
    const lp = logSoftmaxRow(logits, n, cols, temperature);
    loss[n] = t < cols ? -lp[t] : NaN;
    const scale = weights[n] / temperature;
    for (let i = 0; i < cols; i++) dlogits[n * cols + i] = (Math.exp(lp[i]) - (i === t ? 1 : 0)) * scale;
  }
  return { loss, dlogits };
}

/**
 * Float64 per-token log-probs of a batch through the float64 reference model
 * (test/reference/transformer.ts): rows[b] are the input ids, targets[b] the next-token targets
 * (0xffffffff: no log-prob, 0 returned); logp[b·T + t] = log softmax(logits[t] / T)[targets[b][t]].
 * Weights may be float64 (finite differences perturb them).
 */
export function batchLogprobsRef(c: ModelConfig, w: Map<string, { shape: number[]; data: ArrayLike<number> }>, inputs: readonly number[][], targets: readonly number[][], temperature: number): Float64Array {
  const T = inputs[0].length;
  const out = new Float64Array(inputs.length * T);
  inputs.forEach((ids, b) => {
    const logits = transformerRef(c, w as unknown as Weights, ids);
    const { logp } = tokenLogprobsRef(logits, targets[b], T, c.vocab_size, temperature);
    out.set(logp, b * T);
  });
  return out;
}
