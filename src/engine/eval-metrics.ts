/**
 * The figures of an evaluation with several samples per problem, as pure functions of what the
 * samples said (no GPU, no model): anyone holding `ponder eval --dump`'s lines can recompute every
 * figure `ponder eval` reports with these functions.
 *
 *   pass@k      unbiased estimator of Chen et al. 2021 (HumanEval): with n samples of which c are
 *               correct, the chance that k samples drawn without replacement hold a correct one,
 *                 pass@k = 1 − C(n−c, k) / C(n, k)  =  1 − Π_{i=n−c+1..n} (1 − k/i),
 *               the product form (no huge binomials, no cancellation); exactly 1 when n − c < k.
 *               pass@1 with n samples is c/n, the mean accuracy over samples ("avg@n").
 *   maj@k       self-consistency (Wang et al. 2022): the most frequent extracted, canonicalised answer
 *               among the FIRST k samples; samples without an answer never vote; a tie goes to the
 *               tied answer that occurs first (the earliest sample). The problem counts as solved when
 *               that answer is correct; no answer at all counts as wrong.
 *   best-of-N   with the task's verifier: the verifier is exact, so picking the best of N is "any
 *               correct among the first N" — pass@N by the plug-in rule (not the unbiased estimator).
 *               By the model's own mean log-prob (optional): the sample with the highest mean token
 *               log-prob, ties to the earliest.
 *   Wilson      95% score interval over problems (z = 1.96); per-problem samples are correlated, so the
 *               unit is the problem: p̂ is the mean per-problem score, n the number of problems.
 *   curve       the test-time-scaling curve: maj@j and pass@j for j = 1, 2, 4, … up to k, and k itself.
 *
 * Whether a sample is correct is the task's verifier's verdict, carried in the sample (`correct`): the
 * majority answer's correctness is that of the first sample giving it (the verifier is a function of
 * the canonical answer, so every sample with the same answer shares the verdict).
 */
import { PonderError } from '../errors.js';

/** What one sample of a problem contributes to the figures. */
export interface ScoredSample {
  /** the task's extracted, canonicalised answer (undefined: the text gave none) */
  predicted?: string;
  /** the verifier's verdict on `predicted` */
  correct: boolean;
  /** mean log-prob of the sample's tokens under the model (optional; best-of-N by log-prob) */
  meanLogprob?: number;
}

function checkCount(what: string, v: number, lo: number, hi = Infinity): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new PonderError('BAD_INPUT', `eval metrics: ${what} must be an integer in [${lo}, ${hi}], got ${v}`);
}

/** Unbiased pass@k for one problem: n samples, c of them correct, k <= n. */
export function passAtK(n: number, c: number, k: number): number {
  checkCount('n', n, 1);
  checkCount('c', c, 0, n);
  checkCount('k', k, 1, n);
  if (n - c < k) return 1;
  let miss = 1; // C(n−c, k) / C(n, k) = Π_{i=n−c+1..n} (1 − k/i)
  for (let i = n - c + 1; i <= n; i++) miss *= 1 - k / i;
  return 1 - miss;
}

/** Mean unbiased pass@k over problems (each problem's own n; every n must be >= k). */
export function meanPassAtK(problems: readonly (readonly ScoredSample[])[], k: number): number {
  return mean(problems.map((s) => passAtK(s.length, correctCount(s), k)));
}

export function correctCount(samples: readonly ScoredSample[]): number {
  let c = 0;
  for (const s of samples) if (s.correct) c++;
  return c;
}

/**
 * The majority answer among the first `k` samples (all by default) and the index of the sample that
 * first gave it; undefined when no sample gave an answer. Ties: the earliest first occurrence.
 */
export function majorityVote(samples: readonly ScoredSample[], k = samples.length): { answer: string; first: number } | undefined {
  checkCount('k', k, 1, samples.length);
  const votes = new Map<string, { count: number; first: number }>();
  for (let i = 0; i < k; i++) {
    const a = samples[i]!.predicted;
    if (a === undefined) continue;
    const v = votes.get(a);
    if (v) v.count++;
    else votes.set(a, { count: 1, first: i });
  }
  let best: { answer: string; count: number; first: number } | undefined;
  // Map iterates in insertion order (= first occurrence), so `>` keeps the earliest of tied answers
  for (const [answer, v] of votes) if (!best || v.count > best.count) best = { answer, ...v };
  return best && { answer: best.answer, first: best.first };
}

/** maj@k of one problem: 1 when the majority answer of the first k samples is correct, else 0. */
export function majAtK(samples: readonly ScoredSample[], k = samples.length): number {
  const vote = majorityVote(samples, k);
  return vote !== undefined && samples[vote.first]!.correct ? 1 : 0;
}

export function meanMajAtK(problems: readonly (readonly ScoredSample[])[], k: number): number {
  return mean(problems.map((s) => majAtK(s, k)));
}

/** Best-of-N with the (exact) verifier: any correct among the first N samples — pass@N, plug-in rule. */
export function bestOfNVerifier(samples: readonly ScoredSample[], n = samples.length): number {
  checkCount('N', n, 1, samples.length);
  for (let i = 0; i < n; i++) if (samples[i]!.correct) return 1;
  return 0;
}

export function meanBestOfNVerifier(problems: readonly (readonly ScoredSample[])[], n: number): number {
  return mean(problems.map((s) => bestOfNVerifier(s, n)));
}

/**
 * Best-of-N by the model's own mean log-prob: the first N samples' highest `meanLogprob` (ties: the
 * earliest; samples without one never win) decides; undefined when none of them has a log-prob.
 */
export function bestOfNLogprob(samples: readonly ScoredSample[], n = samples.length): number | undefined {
  checkCount('N', n, 1, samples.length);
  let pick = -1;
  for (let i = 0; i < n; i++) {
    const lp = samples[i]!.meanLogprob;
    if (lp === undefined || Number.isNaN(lp)) continue;
    if (pick < 0 || lp > samples[pick]!.meanLogprob!) pick = i;
  }
  return pick < 0 ? undefined : samples[pick]!.correct ? 1 : 0;
}

/** Mean accuracy over samples per problem, then over problems: avg@n (= greedy accuracy when n = 1). */
export function meanAccuracy(problems: readonly (readonly ScoredSample[])[]): number {
  return mean(problems.map((s) => (s.length === 0 ? 0 : correctCount(s) / s.length)));
}

export const WILSON_Z95 = 1.96;

/**
 * Wilson score interval for a proportion p̂ over `n` units (problems):
 *   [p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)] / (1 + z²/n),
 * clamped to [0, 1] against rounding; [0, 1] when n = 0 (nothing is known).
 */
export function wilsonInterval(pHat: number, n: number, z = WILSON_Z95): [lo: number, hi: number] {
  if (!(pHat >= 0 && pHat <= 1)) throw new PonderError('BAD_INPUT', `eval metrics: a proportion must be in [0, 1], got ${pHat}`);
  checkCount('n', n, 0);
  if (n === 0) return [0, 1];
  const z2 = z * z;
  const centre = pHat + z2 / (2 * n);
  const half = z * Math.sqrt((pHat * (1 - pHat)) / n + z2 / (4 * n * n));
  const denom = 1 + z2 / n;
  return [Math.max(0, (centre - half) / denom), Math.min(1, (centre + half) / denom)];
}

export interface CurvePoint {
  /** samples per problem at this point */
  samples: number;
  pass_at_k: number;
  maj_at_k: number;
}

/** The sample counts of the curve: 1, 2, 4, … below k, then k. */
export function curveSampleCounts(k: number): number[] {
  checkCount('k', k, 1);
  const out: number[] = [];
  for (let j = 1; j < k; j *= 2) out.push(j);
  out.push(k);
  return out;
}

/** The test-time-scaling curve over problems that each have at least k samples. */
export function scalingCurve(problems: readonly (readonly ScoredSample[])[], k: number): CurvePoint[] {
  return curveSampleCounts(k).map((j) => ({ samples: j, pass_at_k: meanPassAtK(problems, j), maj_at_k: meanMajAtK(problems, j) }));
}

function mean(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}
