/**
 * Float64 references for token sampling (test-only): the exact distribution each sampling mode
 * draws from, and float64 mirrors of the two samplers driven by the same Philox draws as the GPU.
 */
import { candidateUniform, gumbelUniform } from '../../src/sample/rng.js';
import { ranksBefore } from './reductions.js';

export interface SamplingRefOptions {
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
}

const MAX_CANDIDATES = 64;

/** Indices of one row sorted in the kernels' order (value desc, NaN first, ties -> lower index). */
function sortedOrder(logits: ArrayLike<number>): number[] {
  const idx = Array.from({ length: logits.length }, (_, i) => i);
  return idx.sort((a, b) => (ranksBefore(logits[a], a, logits[b], b) ? -1 : 1));
}

/** True when the options make the sampler use the candidate path (some filter is on). */
export function usesCandidates(o: SamplingRefOptions, vocab: number): boolean {
  const topK = o.topK ?? 0;
  return o.temperature > 0 && ((topK > 0 && topK < vocab) || (o.topP ?? 1) < 1 || (o.minP ?? 0) > 0);
}

/**
 * The candidate path's kept tokens (in order) and their unnormalised weights, in float64:
 * K = min(topK || 64, 64, V) best, softmax at T, min-p (p >= minP * pmax), top-p (smallest prefix with
 * cumulative >= topP of the min-p set's mass, at least one token).
 */
export function candidateSetRef(logits: ArrayLike<number>, o: SamplingRefOptions): { tokens: number[]; weights: number[] } {
  const vocab = logits.length;
  const topK = o.topK ?? 0;
  const k = Math.min(topK > 0 ? topK : MAX_CANDIDATES, MAX_CANDIDATES, vocab);
  const order = sortedOrder(logits).slice(0, k);
  const v0 = logits[order[0]];
  const w = order.map((i) => Math.exp((logits[i] - v0) / o.temperature));
  const minP = o.minP ?? 0;
  let n = 1;
  while (n < k && w[n] >= minP * w[0] && w[n] > 0) n++;
  const topP = o.topP ?? 1;
  if (topP < 1) {
    let mass = 0;
    for (let j = 0; j < n; j++) mass += w[j];
    let c = 0;
    let m = 0;
    do {
      c += w[m++];
    } while (c < topP * mass && m < n);
    n = m;
  }
  return { tokens: order.slice(0, n), weights: w.slice(0, n) };
}

/** The probability of each token under the sampler's distribution, in float64. */
export function samplingDistributionRef(logits: ArrayLike<number>, o: SamplingRefOptions): Float64Array {
  const vocab = logits.length;
  const p = new Float64Array(vocab);
  if (o.temperature === 0) {
    p[sortedOrder(logits)[0]] = 1;
    return p;
  }
  if (!usesCandidates(o, vocab)) {
    let m = -Infinity;
    for (let i = 0; i < vocab; i++) m = Math.max(m, logits[i]);
    let s = 0;
    for (let i = 0; i < vocab; i++) s += p[i] = Math.exp((logits[i] - m) / o.temperature);
    for (let i = 0; i < vocab; i++) p[i] /= s;
    return p;
  }
  const { tokens, weights } = candidateSetRef(logits, o);
  const s = weights.reduce((a, b) => a + b, 0);
  tokens.forEach((t, j) => (p[t] = weights[j] / s));
  return p;
}

/**
 * Float64 mirror of the GPU sampler for one row, with the same Philox draws: the token, and a
 * margin telling how far the draw was from flipping (key gap between the best two Gumbel keys, or
 * the distance of u from the nearest cumulative boundary, relative to the scale of the decision).
 * f32 rounding on the GPU can only change the outcome when the margin is tiny.
 */
export function sampleRowRef(
  logits: ArrayLike<number>,
  o: SamplingRefOptions,
  seed: number,
  stream: number,
  step: number,
): { token: number; margin: number } {
  const vocab = logits.length;
  if (o.temperature === 0) return { token: sortedOrder(logits)[0], margin: Infinity };
  if (!usesCandidates(o, vocab)) {
    let best = -Infinity;
    let second = -Infinity;
    let token = 0;
    for (let i = 0; i < vocab; i++) {
      const u = gumbelUniform(seed, stream, step, i);
      const key = logits[i] + o.temperature * -Math.log(-Math.log(u));
      if (key > best) {
        second = best;
        best = key;
        token = i;
      } else if (key > second) second = key;
    }
    return { token, margin: (best - second) / (1 + Math.abs(best)) };
  }
  const { tokens, weights } = candidateSetRef(logits, o);
  const mass = weights.reduce((a, b) => a + b, 0);
  const target = candidateUniform(seed, stream, step) * mass;
  let c = 0;
  let margin = Infinity;
  let token = tokens[tokens.length - 1];
  let found = false;
  for (let j = 0; j < tokens.length; j++) {
    const prev = c;
    c += weights[j];
    margin = Math.min(margin, Math.abs(target - c) / mass, j > 0 ? Math.abs(target - prev) / mass : Infinity);
    if (!found && target < c) {
      token = tokens[j];
      found = true;
    }
  }
  return { token, margin };
}
