import { PonderError } from '../../errors.js';

/**
 * GRPO's objective as a per-token weight (TRL's GRPOTrainer semantics; the formulas are in
 * /work/shared/reference/posttraining.md §1.2–1.3 and §3). Pure float64 arithmetic on the log-probs
 * TrainableModel.forwardLogprobs read back; its output feeds TrainableModel.backwardWeighted.
 *
 * Advantages (per completion i of group g, G completions per group, contiguous):
 *   A_i = (r_i − mean_g(r)) / (std + 1e-4)   std: of the group ('group'), of the whole batch
 *                                             ('batch'), or no division ('none', Dr. GRPO)
 * The std is the UNBIASED one (n − 1), as torch's .std() and TRL's nanstd compute it. A NaN reward
 * (no reward function applied) is left out of the mean and the std and gets advantage 0; a group or
 * batch with fewer than two scored rewards has std 0.
 *
 * Loss, per completion token t of completion i (mask M_{i,t}):
 *   ρ = exp(logp − old),  ℓ = −min(ρ·A_i, clip(ρ, 1 − ε_low, 1 + ε_high)·A_i) + β·k3,
 *   k3 = exp(ref − logp) − (ref − logp) − 1                               (Schulman's k3)
 *   L = Σ_{i,t} c_i · M_{i,t} · ℓ_{i,t}  with
 *     grpo:    c_i = 1 / (S · |o_i|)   (mean over completions of each one's token mean)
 *     dr_grpo: c_i = 1 / (S · L_max)   (a constant: max_completion_length)
 *     dapo:    c_i = 1 / numItems      (active tokens of the whole optimizer step)
 * where S is the number of completions of the optimizer step (default: the rows given) and
 * |o_i| = Σ_t M_{i,t}. Without old log-probs (one iteration per generation batch) old = logp, so
 * ρ = 1 and the clip never fires, as in TRL (old = logp.detach()).
 *
 * The weight backwardWeighted takes is w = −∂L/∂logp, because it multiplies ∂(−logp)/∂logits =
 * softmax − onehot (at the temperature). Per token:
 *   ∂ℓ/∂logp = −ρ·A    when the unclipped term is the min (ρ inside the clip range, or outside it on
 *                      the side where ρ·A is the smaller: the pessimistic bound keeps its gradient)
 *            = 0       when the clipped term is strictly the min (the clip is active)
 *            + β·(1 − exp(ref − logp))
 *   w = −c_i · M_{i,t} · ∂ℓ/∂logp.
 *
 * Guards: log-ratios (logp − old and ref − logp) are clamped to ±LOG_RATIO_CLAMP before exp, so a
 * stale or mismatched log-prob cannot overflow ρ or k3 to Inf (the pitfall of k3 in the billions);
 * a clamped term has zero gradient, as the clamp makes it constant. A non-finite log-prob or
 * advantage on an active token is refused with one BAD_INPUT line (the trunk produced NaN, or the
 * caller passed garbage): no NaN ever becomes a weight. Masked tokens are never read.
 *
 * Metrics use TRL's names and are means over active tokens (M-weighted): clip_ratio/low_mean
 * (ρ < 1 − ε_low with A < 0), clip_ratio/high_mean (ρ > 1 + ε_high with A > 0),
 * clip_ratio/region_mean (either), kl (mean k3, with reference log-probs) and entropy (with the
 * entropies from forwardLogprobs).
 */

export type GrpoLossType = 'grpo' | 'dr_grpo' | 'dapo';
export type RewardScaling = 'group' | 'batch' | 'none';

/** Log-ratios beyond ±20 (ρ = e^20 ≈ 5e8) are clamped before exp. */
export const LOG_RATIO_CLAMP = 20;
/** TRL's epsilon in A = (r − mean) / (std + 1e-4). */
export const ADVANTAGE_EPS = 1e-4;

const bad = (fn: string, m: string): never => {
  throw new PonderError('BAD_INPUT', `${fn}: ${m}`);
};

function checkGroups(fn: string, n: number, G: number): void {
  if (!Number.isInteger(G) || G < 2) bad(fn, `the group size G must be an integer >= 2, got ${G}`);
  if (n % G !== 0) bad(fn, `${n} completions are not whole groups of G = ${G} (each prompt's G completions must be contiguous)`);
}

/** Mean and unbiased std of the non-NaN values of r[from, to); count < 2 gives std 0. */
function nanMeanStd(r: ArrayLike<number>, from: number, to: number): { mean: number; std: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let i = from; i < to; i++) {
    if (Number.isNaN(r[i])) continue;
    sum += r[i];
    count++;
  }
  const mean = count > 0 ? sum / count : NaN;
  if (count < 2) return { mean, std: 0, count };
  let ss = 0;
  for (let i = from; i < to; i++) if (!Number.isNaN(r[i])) ss += (r[i] - mean) ** 2;
  return { mean, std: Math.sqrt(ss / (count - 1)), count };
}

/**
 * Group-relative advantages of rewards [N] (N = groups · G, each group's G completions contiguous).
 * `groups`, when given, holds each completion's prompt key: every block of G must share one (the
 * contiguity assertion; a shuffled batch silently breaks GRPO). NaN rewards get advantage 0 and are
 * left out of the statistics; ±Inf rewards are refused.
 */
export function advantages(rewards: ArrayLike<number>, G: number, scale: RewardScaling, groups?: ArrayLike<unknown>): Float64Array {
  const fn = 'advantages';
  const n = rewards.length;
  checkGroups(fn, n, G);
  if (scale !== 'group' && scale !== 'batch' && scale !== 'none') bad(fn, `unknown reward scaling '${String(scale)}' (group, batch or none)`);
  for (let i = 0; i < n; i++) if (rewards[i] === Infinity || rewards[i] === -Infinity) bad(fn, `reward ${i} is ${rewards[i]}`);
  if (groups) {
    if (groups.length !== n) bad(fn, `${groups.length} group keys for ${n} rewards`);
    for (let i = 0; i < n; i++) {
      const first = Math.floor(i / G) * G;
      if (groups[i] !== groups[first]) bad(fn, `completion ${i} belongs to '${String(groups[i])}' but its group of G = ${G} starts with '${String(groups[first])}' (groups must be contiguous)`);
    }
  }
  const batchStd = scale === 'batch' ? nanMeanStd(rewards, 0, n).std : 0;
  const out = new Float64Array(n);
  for (let g = 0; g < n; g += G) {
    const stats = nanMeanStd(rewards, g, g + G);
    const div = scale === 'none' ? 1 : (scale === 'group' ? stats.std : batchStd) + ADVANTAGE_EPS;
    for (let i = g; i < g + G; i++) out[i] = Number.isNaN(rewards[i]) ? 0 : (rewards[i] - stats.mean) / div;
  }
  return out;
}

/**
 * TRL's reward metrics of one generation batch: `reward` (mean), `reward_std` (unbiased std over the
 * batch) and `frac_reward_zero_std` (fraction of groups whose rewards are all equal, which carry no
 * policy gradient). NaN rewards are left out.
 */
export function rewardMetrics(rewards: ArrayLike<number>, G: number): Record<string, number> {
  checkGroups('rewardMetrics', rewards.length, G);
  const all = nanMeanStd(rewards, 0, rewards.length);
  let zero = 0;
  for (let g = 0; g < rewards.length; g += G) if (nanMeanStd(rewards, g, g + G).std === 0) zero++;
  return { reward: all.mean, reward_std: all.std, frac_reward_zero_std: zero / (rewards.length / G) };
}

export interface GrpoSettings {
  loss: GrpoLossType;
  /** ε_low, ε_high: ρ is clipped to [1 − low, 1 + high] (TRL epsilon / epsilon_high) */
  clip: { low: number; high: number };
  /** β of the k3 KL term (0: no reference log-probs needed) */
  klCoef: number;
  /** L_max, dr_grpo's constant denominator (TRL max_completion_length) */
  maxCompletionLength?: number;
}

export interface GrpoInputs {
  /** completions in this call, one row of T tokens each */
  rows: number;
  T: number;
  /** per completion [rows], from advantages() over the whole generation batch */
  advantages: ArrayLike<number>;
  /** [rows·T]: 1 on completion tokens, 0 on prompt and padding */
  mask: ArrayLike<number>;
  /** [rows·T] current policy log-probs (forwardLogprobs) */
  logp: ArrayLike<number>;
  /** [rows·T] the sampling policy's log-probs; absent: = logp (ratio 1) */
  oldLogp?: ArrayLike<number>;
  /** [rows·T] reference log-probs; needed when klCoef ≠ 0 */
  refLogp?: ArrayLike<number>;
  /** [rows·T] entropies (forwardLogprobs), for the `entropy` metric */
  entropy?: ArrayLike<number>;
  /** dapo: active tokens of the whole optimizer step (all micro-batches); default Σ mask here */
  numItems?: number;
  /** grpo / dr_grpo: completions of the whole optimizer step; default `rows` */
  numSequences?: number;
}

export interface GrpoResult {
  /** this call's share of L (shares of one optimizer step's micro-batches add up to L) */
  loss: number;
  /** [rows·T] −∂L/∂logp, for TrainableModel.backwardWeighted */
  weights: Float64Array;
  metrics: Record<string, number>;
}

function clampLogRatio(x: number): { v: number; clamped: boolean } {
  if (x > LOG_RATIO_CLAMP) return { v: LOG_RATIO_CLAMP, clamped: true };
  if (x < -LOG_RATIO_CLAMP) return { v: -LOG_RATIO_CLAMP, clamped: true };
  return { v: x, clamped: false };
}

function checkGrpo(fn: string, x: GrpoInputs, s: GrpoSettings): void {
  const { rows, T } = x;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(T) || T < 1) bad(fn, `rows=${rows} and T=${T} must be integers >= 1`);
  if (s.loss !== 'grpo' && s.loss !== 'dr_grpo' && s.loss !== 'dapo') bad(fn, `unknown loss '${String(s.loss)}' (grpo, dr_grpo or dapo)`);
  const { low, high } = s.clip;
  if (!(low >= 0 && low < 1) || !(high >= 0 && Number.isFinite(high))) bad(fn, `clip {low: ${low}, high: ${high}} must have 0 <= low < 1 and high >= 0`);
  if (!Number.isFinite(s.klCoef) || s.klCoef < 0) bad(fn, `klCoef must be a finite number >= 0, got ${s.klCoef}`);
  if (s.loss === 'dr_grpo' && !(Number.isInteger(s.maxCompletionLength) && s.maxCompletionLength! >= 1)) bad(fn, `dr_grpo needs maxCompletionLength (an integer >= 1), got ${s.maxCompletionLength}`);
  if (x.advantages.length !== rows) bad(fn, `${x.advantages.length} advantages for ${rows} completions`);
  const sized: [string, ArrayLike<number> | undefined][] = [['mask', x.mask], ['logp', x.logp], ['oldLogp', x.oldLogp], ['refLogp', x.refLogp], ['entropy', x.entropy]];
  for (const [name, a] of sized) if (a && a.length !== rows * T) bad(fn, `${name} has ${a.length} values for rows*T = ${rows}*${T}`);
  if (s.klCoef !== 0 && !x.refLogp) bad(fn, `klCoef ${s.klCoef} needs reference log-probs (refLogp)`);
  for (const [name, v] of [['numItems', x.numItems], ['numSequences', x.numSequences]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) bad(fn, `${name} must be a number > 0, got ${v}`);
  }
}

/**
 * The GRPO / Dr. GRPO / DAPO loss of one micro-batch, its per-token weights −∂L/∂logp and TRL's
 * metrics (see the header for the formulas and guards).
 */
export function grpoLoss(x: GrpoInputs, s: GrpoSettings): GrpoResult {
  const fn = 'grpoLoss';
  checkGrpo(fn, x, s);
  const { rows, T, mask, logp } = x;
  const lo = 1 - s.clip.low;
  const hi = 1 + s.clip.high;
  const beta = s.klCoef;
  const withKl = x.refLogp !== undefined;
  let active = 0;
  for (let k = 0; k < rows * T; k++) {
    const m = mask[k];
    if (!(Number.isFinite(m) && m >= 0)) bad(fn, `mask ${k} is ${m}; masks are >= 0`);
    active += m;
  }
  const numItems = x.numItems ?? Math.max(1, active);
  const numSeq = x.numSequences ?? rows;

  const weights = new Float64Array(rows * T);
  let loss = 0;
  let low = 0;
  let high = 0;
  let kl = 0;
  let ent = 0;
  for (let i = 0; i < rows; i++) {
    let len = 0;
    for (let t = 0; t < T; t++) len += mask[i * T + t];
    if (len === 0) continue;
    const A = x.advantages[i];
    if (!Number.isFinite(A)) bad(fn, `advantage ${i} is ${A}`);
    const c = s.loss === 'grpo' ? 1 / (numSeq * len) : s.loss === 'dr_grpo' ? 1 / (numSeq * s.maxCompletionLength!) : 1 / numItems;
    for (let t = 0; t < T; t++) {
      const k = i * T + t;
      const m = mask[k];
      if (m === 0) continue;
      const lp = logp[k];
      const old = x.oldLogp ? x.oldLogp[k] : lp;
      if (!Number.isFinite(lp) || !Number.isFinite(old)) bad(fn, `non-finite log-prob at completion ${i} token ${t} (logp ${lp}, old ${old})`);
      const lr = clampLogRatio(lp - old);
      const rho = Math.exp(lr.v);
      const unclipped = rho * A;
      const clipped = Math.min(Math.max(rho, lo), hi) * A;
      const surrogate = Math.min(unclipped, clipped);
      let dl = unclipped <= clipped && !lr.clamped ? -rho * A : 0;
      let l = -surrogate;
      if (withKl) {
        const ref = x.refLogp![k];
        if (!Number.isFinite(ref)) bad(fn, `non-finite reference log-prob at completion ${i} token ${t} (${ref})`);
        const d = clampLogRatio(ref - lp);
        const k3 = Math.exp(d.v) - d.v - 1;
        kl += m * k3;
        if (beta !== 0) {
          l += beta * k3;
          if (!d.clamped) dl += beta * (1 - Math.exp(d.v));
        }
      }
      loss += c * m * l;
      weights[k] = dl === 0 ? 0 : -c * m * dl; // (not -0: a clipped token has weight 0)
      if (rho < lo && A < 0) low += m;
      if (rho > hi && A > 0) high += m;
      if (x.entropy) ent += m * x.entropy[k];
    }
  }
  const per = (v: number) => (active > 0 ? v / active : 0);
  const metrics: Record<string, number> = {
    'clip_ratio/low_mean': per(low),
    'clip_ratio/high_mean': per(high),
    'clip_ratio/region_mean': per(low + high),
  };
  if (withKl) metrics.kl = per(kl);
  if (x.entropy) metrics.entropy = per(ent);
  return { loss, weights, metrics };
}

/** grpoLoss's inputs as ragged rows: per completion, the values of its completion tokens only. */
export interface GrpoRowInputs extends GrpoSettings {
  /** per completion: current log-probs of its completion tokens */
  logp: readonly (readonly number[])[];
  /** per completion, same lengths as logp; absent: = logp (ratio 1) */
  old?: readonly (readonly number[])[];
  ref?: readonly (readonly number[])[];
  entropy?: readonly (readonly number[])[];
  advantages: ArrayLike<number>;
  numItems?: number;
  numSequences?: number;
}

/**
 * grpoLoss over ragged rows (what a runner holds after cutting each completion out of its training
 * row): packs them into [rows, max length] with a mask, and returns the weights cut back per row.
 */
export function grpoObjective(x: GrpoRowInputs): { loss: number; weights: number[][]; metrics: Record<string, number> } {
  const rows = x.logp.length;
  if (rows < 1) bad('grpoObjective', 'no completions');
  const T = Math.max(1, ...x.logp.map((r) => r.length));
  const pack = (name: string, v: readonly (readonly number[])[] | undefined): Float64Array | undefined => {
    if (!v) return undefined;
    if (v.length !== rows) bad('grpoObjective', `${name} has ${v.length} rows for ${rows} completions`);
    const out = new Float64Array(rows * T);
    v.forEach((r, i) => {
      if (r.length !== x.logp[i].length) bad('grpoObjective', `${name} row ${i} has ${r.length} tokens, logp has ${x.logp[i].length}`);
      out.set(r, i * T);
    });
    return out;
  };
  const mask = new Float64Array(rows * T);
  x.logp.forEach((r, i) => mask.fill(1, i * T, i * T + r.length));
  const res = grpoLoss(
    { rows, T, advantages: x.advantages, mask, logp: pack('logp', x.logp)!, oldLogp: pack('old', x.old), refLogp: pack('ref', x.ref), entropy: pack('entropy', x.entropy), numItems: x.numItems, numSequences: x.numSequences },
    { loss: x.loss, clip: x.clip, klCoef: x.klCoef, maxCompletionLength: x.maxCompletionLength },
  );
  return { loss: res.loss, weights: x.logp.map((r, i) => Array.from(res.weights.subarray(i * T, i * T + r.length))), metrics: res.metrics };
}
