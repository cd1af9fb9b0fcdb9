import type { ResolvedSampling } from './sampler.js';
import { drawU32, u32ToUnit } from './rng.js';

/**
 * The distribution the GPU sampler (sampler.ts, wgsl/sample.wgsl) draws a row's token from, on the
 * CPU, for algorithms that need probabilities rather than one draw (speculative sampling's
 * acceptance test). The same rules as the kernels:
 *
 *   temperature 0     all mass on the argmax (ties -> the lowest index)
 *   no filter         softmax(logits / T) over the whole vocabulary
 *   filters           the K = candidates best logits (value desc, ties -> lower index), weights
 *                     exp((l - l_max) / T); min-p keeps the leading run with w >= minP · w_max;
 *                     top-p keeps the shortest prefix of those whose weight reaches topP of their
 *                     mass (at least one token); renormalised
 *
 * Returned sparse: the tokens with non-zero probability and their probabilities (summing to 1).
 */
export interface TokenDistribution {
  tokens: number[];
  probs: number[];
}

export function samplingDistribution(logits: ArrayLike<number>, s: Pick<ResolvedSampling, 'temperature' | 'candidates' | 'topP' | 'minP'>): TokenDistribution {
  const V = logits.length;
  if (s.temperature === 0) return { tokens: [argmaxIndex(logits)], probs: [1] };
  if (s.candidates === 0) {
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[i]! > max) max = logits[i]!;
    const w = new Float64Array(V);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += w[i] = Math.exp((logits[i]! - max) / s.temperature);
    const tokens: number[] = [];
    const probs: number[] = [];
    for (let i = 0; i < V; i++) {
      if (w[i]! > 0) {
        tokens.push(i);
        probs.push(w[i]! / sum);
      }
    }
    return { tokens, probs };
  }
  const order = topIndices(logits, Math.min(s.candidates, V));
  const top = logits[order[0]!]!;
  const w = order.map((i) => Math.exp((logits[i]! - top) / s.temperature));
  let n = 1;
  while (n < w.length && w[n]! >= s.minP * w[0]! && w[n]! > 0) n++;
  if (s.topP < 1) {
    let mass = 0;
    for (let j = 0; j < n; j++) mass += w[j]!;
    let c = 0;
    let m = 0;
    do c += w[m++]!;
    while (c < s.topP * mass && m < n);
    n = m;
  }
  const kept = w.slice(0, n);
  const sum = kept.reduce((a, b) => a + b, 0);
  return { tokens: order.slice(0, n), probs: kept.map((x) => x / sum) };
}

/** The probability of `token` under `d` (0 when it is not kept). */
export function probabilityOf(d: TokenDistribution, token: number): number {
  const i = d.tokens.indexOf(token);
  return i < 0 ? 0 : d.probs[i]!;
}

/** Inverse-CDF draw from `d` with the uniform u in (0, 1). */
export function drawFrom(d: TokenDistribution, u: number): number {
  let c = 0;
  for (let i = 0; i < d.tokens.length; i++) {
    c += d.probs[i]!;
    if (u < c) return d.tokens[i]!;
  }
  return d.tokens[d.tokens.length - 1]!;
}

/**
 * The residual distribution of speculative sampling, norm(max(0, p - q)): what a rejected draft is
 * replaced by so that the accepted-or-replaced token is distributed exactly as p. Falls back to p
 * when p - q has no positive mass (it cannot have none after a rejection, but rounding might).
 */
export function residual(p: TokenDistribution, q: TokenDistribution): TokenDistribution {
  const tokens: number[] = [];
  const mass: number[] = [];
  p.tokens.forEach((t, i) => {
    const r = p.probs[i]! - probabilityOf(q, t);
    if (r > 0) {
      tokens.push(t);
      mass.push(r);
    }
  });
  const sum = mass.reduce((a, b) => a + b, 0);
  if (!(sum > 0)) return p;
  return { tokens, probs: mass.map((m) => m / sum) };
}

/** A uniform in (0, 1) from Philox(seed) at (stream, step, index) in `domain` (rng.ts). */
export function uniformAt(seed: number, stream: number, step: number, index: number, domain: number): number {
  return u32ToUnit(drawU32(seed, stream, step, index, domain)[0]!);
}

function ranksBefore(a: number, ia: number, b: number, ib: number): boolean {
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  if (an !== bn) return an; // the kernels rank NaN first
  if (!an && a !== b) return a > b;
  return ia < ib;
}

function argmaxIndex(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (ranksBefore(x[i]!, i, x[best]!, best)) best = i;
  return best;
}

/** The k best indices in the kernels' order (k is at most 64 here, so a partial selection suffices). */
function topIndices(x: ArrayLike<number>, k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < x.length; i++) {
    let at = out.length;
    while (at > 0 && ranksBefore(x[i]!, i, x[out[at - 1]!]!, out[at - 1]!)) at--;
    if (at < k) {
      out.splice(at, 0, i);
      if (out.length > k) out.pop();
    }
  }
  return out;
}
