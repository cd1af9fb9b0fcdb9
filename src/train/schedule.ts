import { PonderError } from '../errors.js';

/**
 * Learning-rate schedules (HF transformers semantics): linear warmup from 0 to `lr` over `warmup`
 * steps, then
 *   constant: lr
 *   linear:   straight line from lr down to minLrRatio * lr at step `total`
 *   cosine:   minLrRatio*lr + (1 - minLrRatio)*lr * 0.5 * (1 + cos(pi * progress))
 * with progress = (step - warmup) / (total - warmup). `step` is the 0-based index of the step about
 * to be taken, so step 0 of a warmup gets lr 0 and step `warmup` gets the full lr; steps past
 * `total` keep the final value.
 */
export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface ScheduleOptions {
  lr: number;
  warmup: number;
  total: number;
  schedule: ScheduleKind;
  /** floor of the decay as a fraction of lr (default 0) */
  minLrRatio?: number;
}

export function learningRate(step: number, opts: ScheduleOptions): number {
  const { lr, warmup, total, schedule } = opts;
  const ratio = opts.minLrRatio ?? 0;
  const bad = (msg: string): never => {
    throw new PonderError('BAD_INPUT', `learningRate: ${msg}`);
  };
  if (!Number.isFinite(step) || step < 0) bad(`step must be >= 0, got ${step}`);
  if (!Number.isFinite(lr) || lr < 0) bad(`lr must be a finite number >= 0, got ${lr}`);
  if (!Number.isFinite(warmup) || warmup < 0) bad(`warmup must be >= 0, got ${warmup}`);
  if (!Number.isFinite(total) || total < warmup) bad(`total (${total}) must be >= warmup (${warmup})`);
  if (!(ratio >= 0 && ratio <= 1)) bad(`minLrRatio must be in [0, 1], got ${ratio}`);
  if (schedule !== 'constant' && schedule !== 'linear' && schedule !== 'cosine') bad(`unknown schedule '${String(schedule)}'`);

  if (step < warmup) return (lr * step) / warmup;
  if (schedule === 'constant') return lr;
  const span = total - warmup;
  const progress = span <= 0 ? 1 : Math.min(1, (step - warmup) / span);
  const decay = schedule === 'linear' ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
  return lr * (ratio + (1 - ratio) * decay);
}
