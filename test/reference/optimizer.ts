/** Float64 references for the optimizer (test-only): global grad norm and one AdamW step. */

/** sqrt of the sum of squares over all tensors; NaN/Inf propagate. */
export function globalNormRef(grads: ArrayLike<number>[]): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

export interface AdamWRefState {
  params: Float64Array[];
  m: Float64Array[];
  v: Float64Array[];
  /** applied steps so far */
  step: number;
}

export interface AdamWRefConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number;
}

/**
 * One step of torch.optim.AdamW preceded by torch.nn.utils.clip_grad_norm_ (clip factor
 * min(1, clip / (norm + 1e-6))), skipped entirely when the norm is not finite. Mutates `s`;
 * returns (norm, skipped).
 */
export function adamwStepRef(s: AdamWRefState, grads: ArrayLike<number>[], decay: boolean[], cfg: AdamWRefConfig, lr: number): { norm: number; skipped: boolean } {
  const norm = globalNormRef(grads);
  if (!Number.isFinite(norm)) return { norm, skipped: true };
  const scale = cfg.gradClip > 0 ? Math.min(1, cfg.gradClip / (norm + 1e-6)) : 1;
  const t = ++s.step;
  const bc1 = 1 - cfg.beta1 ** t;
  const bc2 = 1 - cfg.beta2 ** t;
  for (let k = 0; k < s.params.length; k++) {
    const p = s.params[k], m = s.m[k], v = s.v[k], g = grads[k];
    const wd = decay[k] ? cfg.weightDecay : 0;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] * scale;
      m[i] = cfg.beta1 * m[i] + (1 - cfg.beta1) * gi;
      v[i] = cfg.beta2 * v[i] + (1 - cfg.beta2) * gi * gi;
      const mhat = m[i] / bc1;
      const vhat = v[i] / bc2;
      p[i] -= lr * (mhat / (Math.sqrt(vhat) + cfg.eps) + wd * p[i]);
    }
  }
  return { norm, skipped: false };
}
