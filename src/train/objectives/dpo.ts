import { PonderError } from '../../errors.js';

/**
 * DPO's objective as a per-token weight (TRL's DPOTrainer; posttraining.md §2.3). Pure float64 on
 * the per-token log-probs TrainableModel.forwardLogprobs read back for the chosen and the rejected
 * completions; the weights feed TrainableModel.backwardWeighted.
 *
 * Per pair p, with sequence log-probs SUMMED over completion tokens (mask M):
 *   s± = Σ_t M·logπθ(y±) − logπref(y±)        (the reference sums are given, e.g. precomputed)
 *   Δ  = s+ − s−,   x = βΔ
 *   sigmoid: −(1−ε)·log σ(x) − ε·log σ(−x)                 (ε = label smoothing: cDPO; 0 = DPO)
 *   robust:  [−(1−ε)·log σ(x) + ε·log σ(−x)] / (1 − 2ε)     (needs 0 <= ε < 0.5)
 *   hinge:   relu(1 − x)
 *   ipo:     (Δ̄ − 1/(2β))²  with Δ̄ from per-token-AVERAGED s̄± = s±/|y±| (both policy and
 *            reference sums divided by the completion's token count, TRL's normalisation)
 *   L = mean_p f_p  [+ λ_sft · Σ_chosen M·(−logp) / Σ_chosen M]    (the SFT/RPO term: token-mean
 *                                                                   NLL over the chosen tokens)
 * Chain rule through the sums: ∂L/∂logπθ(y+)_t = f'(Δ)/P · M_t (÷|y+| for ipo), the rejected side
 * the same with −f'; the weight for backwardWeighted is w = −∂L/∂logp:
 *   chosen   w_t = −f'(Δ_p)/P · M_t (/|y+|) + λ_sft · M_t / N_chosen
 *   rejected w_t = +f'(Δ_p)/P · M_t (/|y−|)
 * with f' = ∂f/∂Δ:  sigmoid β(−(1−ε)σ(−x) + εσ(x)),  robust β(−(1−ε)σ(−x) − εσ(x))/(1−2ε),
 * hinge −β·[x < 1],  ipo 2(Δ̄ − 1/(2β)).
 *
 * Metrics (TRL names, means over pairs): rewards/chosen = β·s+, rewards/rejected = β·s−,
 * rewards/margins = β(s+ − s−), rewards/accuracies = fraction with β·s+ > β·s−, logps/chosen and
 * logps/rejected = the summed policy log-probs (the rewards use the sums for every loss type); with
 * an SFT term also nll_loss. A non-finite log-prob on an active token is refused (BAD_INPUT).
 */

export type DpoLossType = 'sigmoid' | 'ipo' | 'hinge' | 'robust';

export interface DpoSettings {
  loss: DpoLossType;
  /** β (τ for IPO), > 0 */
  beta: number;
  /** ε for sigmoid (cDPO) and robust; default 0 */
  labelSmoothing?: number;
  /** λ of the SFT (NLL on chosen) term; default 0 */
  sftWeight?: number;
}

/** One side (chosen or rejected) of P pairs, one row of T tokens per completion. */
export interface DpoSide {
  /** [P·T] policy log-probs (forwardLogprobs) */
  logp: ArrayLike<number>;
  /** [P·T] 1 on completion tokens, 0 elsewhere */
  mask: ArrayLike<number>;
  /** [P] reference sequence log-probs (sums over the same completion tokens) */
  refLogp: ArrayLike<number>;
}

export interface DpoInputs {
  pairs: number;
  T: number;
  chosen: DpoSide;
  rejected: DpoSide;
}

export interface DpoResult {
  loss: number;
  /** [P·T] each: −∂L/∂logp for backwardWeighted */
  weights: { chosen: Float64Array; rejected: Float64Array };
  metrics: Record<string, number>;
}

const bad = (m: string): never => {
  throw new PonderError('BAD_INPUT', `dpoLoss: ${m}`);
};

/** log σ(x), stable for large |x|. */
export function logSigmoid(x: number): number {
  return x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x));
}

function sigmoid(x: number): number {
  return x < 0 ? Math.exp(x) / (1 + Math.exp(x)) : 1 / (1 + Math.exp(-x));
}

/** The pair loss f and its derivative f' = ∂f/∂Δ (Δ̄ for ipo). */
function pairLoss(s: Required<DpoSettings>, delta: number): { f: number; df: number } {
  const { beta, labelSmoothing: eps } = s;
  const x = beta * delta;
  switch (s.loss) {
    case 'sigmoid':
      return { f: -(1 - eps) * logSigmoid(x) - eps * logSigmoid(-x), df: beta * (-(1 - eps) * sigmoid(-x) + eps * sigmoid(x)) };
    case 'robust':
      return { f: (-(1 - eps) * logSigmoid(x) + eps * logSigmoid(-x)) / (1 - 2 * eps), df: (beta * (-(1 - eps) * sigmoid(-x) - eps * sigmoid(x))) / (1 - 2 * eps) };
    case 'hinge':
      return x < 1 ? { f: 1 - x, df: -beta } : { f: 0, df: 0 };
    case 'ipo': {
      const d = delta - 1 / (2 * beta);
      return { f: d * d, df: 2 * d };
    }
  }
}

function checkDpo(x: DpoInputs, s: DpoSettings): Required<DpoSettings> {
  const { pairs: P, T } = x;
  if (!Number.isInteger(P) || P < 1 || !Number.isInteger(T) || T < 1) bad(`pairs=${P} and T=${T} must be integers >= 1`);
  if (!['sigmoid', 'ipo', 'hinge', 'robust'].includes(s.loss)) bad(`unknown loss '${String(s.loss)}' (sigmoid, ipo, hinge or robust)`);
  if (!(Number.isFinite(s.beta) && s.beta > 0)) bad(`beta must be a finite number > 0, got ${s.beta}`);
  const eps = s.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 0.5)) bad(`labelSmoothing must be in [0, 0.5], got ${eps}`);
  if (s.loss === 'robust' && eps >= 0.5) bad(`robust needs labelSmoothing < 0.5, got ${eps}`);
  if ((s.loss === 'hinge' || s.loss === 'ipo') && eps !== 0) bad(`labelSmoothing applies to sigmoid and robust, not ${s.loss}`);
  const sft = s.sftWeight ?? 0;
  if (!(Number.isFinite(sft) && sft >= 0)) bad(`sftWeight must be a finite number >= 0, got ${sft}`);
  for (const [side, d] of [['chosen', x.chosen], ['rejected', x.rejected]] as const) {
    if (d.logp.length !== P * T) bad(`${side}.logp has ${d.logp.length} values for pairs*T = ${P}*${T}`);
    if (d.mask.length !== P * T) bad(`${side}.mask has ${d.mask.length} values for pairs*T = ${P}*${T}`);
    if (d.refLogp.length !== P) bad(`${side}.refLogp has ${d.refLogp.length} values for ${P} pairs`);
  }
  return { loss: s.loss, beta: s.beta, labelSmoothing: eps, sftWeight: sft };
}

/** Σ_t M·logp and Σ_t M of completion p, refusing non-finite log-probs on active tokens. */
function sequence(side: string, d: DpoSide, p: number, T: number): { sum: number; len: number } {
  let sum = 0;
  let len = 0;
  for (let t = 0; t < T; t++) {
    const m = d.mask[p * T + t];
    if (!(Number.isFinite(m) && m >= 0)) bad(`${side}.mask ${p * T + t} is ${m}; masks are >= 0`);
    if (m === 0) continue;
    const lp = d.logp[p * T + t];
    if (!Number.isFinite(lp)) bad(`non-finite ${side} log-prob at pair ${p} token ${t} (${lp})`);
    sum += m * lp;
    len += m;
  }
  if (len === 0) bad(`the ${side} completion of pair ${p} has no tokens`);
  const ref = d.refLogp[p];
  if (!Number.isFinite(ref)) bad(`non-finite ${side} reference log-prob of pair ${p} (${ref})`);
  return { sum, len };
}

/** The DPO loss of P pairs, per-token weights for both sides, and TRL's metrics (see the header). */
export function dpoLoss(x: DpoInputs, settings: DpoSettings): DpoResult {
  const s = checkDpo(x, settings);
  const { pairs: P, T, chosen, rejected } = x;
  const wc = new Float64Array(P * T);
  const wr = new Float64Array(P * T);
  let loss = 0;
  const m = { rc: 0, rr: 0, acc: 0, lc: 0, lr: 0 };
  let nllSum = 0;
  let nllCount = 0;
  const seqs = Array.from({ length: P }, (_, p) => ({ c: sequence('chosen', chosen, p, T), r: sequence('rejected', rejected, p, T) }));
  for (const { c } of seqs) {
    nllSum -= c.sum;
    nllCount += c.len;
  }
  seqs.forEach(({ c, r }, p) => {
    const sc = c.sum - chosen.refLogp[p];
    const sr = r.sum - rejected.refLogp[p];
    const ipo = s.loss === 'ipo';
    const delta = ipo ? sc / c.len - sr / r.len : sc - sr;
    const { f, df } = pairLoss(s, delta);
    loss += f / P;
    const gc = -df / P / (ipo ? c.len : 1);
    const gr = df / P / (ipo ? r.len : 1);
    for (let t = 0; t < T; t++) {
      const k = p * T + t;
      // masked tokens stay exactly 0 (not −0)
      if (chosen.mask[k] !== 0) wc[k] = gc * chosen.mask[k] + (s.sftWeight * chosen.mask[k]) / nllCount;
      if (rejected.mask[k] !== 0) wr[k] = gr * rejected.mask[k];
    }
    m.rc += s.beta * sc;
    m.rr += s.beta * sr;
    m.acc += s.beta * sc > s.beta * sr ? 1 : 0;
    m.lc += c.sum;
    m.lr += r.sum;
  });
  const metrics: Record<string, number> = {
    'rewards/chosen': m.rc / P,
    'rewards/rejected': m.rr / P,
    'rewards/margins': (m.rc - m.rr) / P,
    'rewards/accuracies': m.acc / P,
    'logps/chosen': m.lc / P,
    'logps/rejected': m.lr / P,
  };
  if (s.sftWeight > 0) {
    metrics.nll_loss = nllSum / nllCount;
    loss += s.sftWeight * metrics.nll_loss;
  }
  return { loss, weights: { chosen: wc, rejected: wr }, metrics };
}
