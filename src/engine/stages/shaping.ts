/**
 * Small pure pieces of online stages' settings that change with the step or the completion:
 *
 *   temperatureAt   a sampling temperature that is a number, or a linear anneal {from, to, steps}
 *                   held at `to` afterwards (Phi-4-mini-reasoning's RL stage: 1.0 → 0.6 early in
 *                   training, then 0.6).
 *   overlongPenalty DAPO's soft overlong punishment (Yu et al. 2025, eq. 13): with L_exp = max − buffer,
 *                   0 for |y| ≤ L_exp, (L_exp − |y|) / buffer in (L_exp, max], −1 beyond max. It is
 *                   added to the reward, so answers that run into the budget lose credit gradually
 *                   instead of all at once.
 */
import { PonderError } from '../../errors.js';

export type TemperatureSetting = number | { from: number; to: number; steps: number };

/** The temperature at stage-local step k (0-based). */
export function temperatureAt(t: TemperatureSetting, k: number): number {
  if (typeof t === 'number') return t;
  if (t.steps <= 0 || k >= t.steps) return t.to;
  return t.from + ((t.to - t.from) * k) / t.steps;
}

export interface OverlongSetting {
  /** L_max: the length (tokens) at which the penalty reaches −1 */
  max: number;
  /** L_cache: the span before max over which it ramps from 0 to −1 */
  buffer: number;
}

export function overlongPenalty(length: number, o: OverlongSetting): number {
  if (!(o.buffer > 0) || !(o.max > o.buffer)) throw new PonderError('BAD_INPUT', `overlong: buffer must be > 0 and below max (got max ${o.max}, buffer ${o.buffer})`);
  const expected = o.max - o.buffer;
  if (length <= expected) return 0;
  if (length <= o.max) return (expected - length) / o.buffer;
  return -1;
}
