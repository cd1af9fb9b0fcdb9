/**
 * The DPO machinery the preference stages share (dpo, rollout_dpo): sequence log-probs of rows, and
 * one optimizer step of the DPO objective on P pairs.
 *
 *   rows       a pair is two rows of T tokens (data/batches.ts toRow): targets on the completion
 *              tokens only, so a row's sequence log-prob is the sum of its token log-probs.
 *   one step   the P chosen rows then the P rejected rows in ONE forwardLogprobs (2P rows), the
 *              per-token log-probs read back, dpoLoss (train/objectives/dpo.ts) with the given
 *              reference sums -> per-token weights -> backwardWeighted -> AdamW.step(lr).
 *   reference  `sequenceLogps` runs forwardLogprobs without a backward, chunk by chunk, and sums per
 *              row: the reference sums of a model the caller does not update in between.
 */
import { IGNORE_INDEX, type Row } from '../../data/batches.js';
import type { DpoStageSettings } from '../../recipe/load.js';
import { dpoLoss } from '../../train/objectives/dpo.js';
import type { AdamW } from '../../train/optimizer.js';
import type { TrainableModel } from '../../train/trainable.js';
import type { Gpu } from '../../gpu/gpu.js';
import type { StepReport } from './types.js';

/** Summed completion log-probs of each row (rows of T tokens), `chunk` rows per forward. */
export async function sequenceLogps(gpu: Gpu, model: TrainableModel, rows: readonly Row[], T: number, chunk: number): Promise<number[]> {
  const out: number[] = [];
  for (let at = 0; at < rows.length; at += chunk) {
    const part = rows.slice(at, at + chunk);
    const { logp, entropy } = model.forwardLogprobs(
      part.flatMap((r) => r.inputs),
      part.flatMap((r) => r.targets),
      part.length,
      T,
    );
    const lp = await gpu.readF32(logp);
    logp.release();
    entropy.release();
    part.forEach((r, i) => {
      let s = 0;
      for (let t = 0; t < T; t++) if (r.targets[t] !== IGNORE_INDEX) s += lp[i * T + t]!;
      out.push(s);
    });
  }
  return out;
}

const maskOf = (rows: readonly Row[]): Float64Array => Float64Array.from(rows.flatMap((r) => r.targets), (t) => (t === IGNORE_INDEX ? 0 : 1));

/**
 * One DPO optimizer step on P pairs (chosen[p], rejected[p]) with reference sums refChosen[p],
 * refRejected[p]: everything up to and including opt.step(lr). Metrics: loss and TRL's.
 */
export async function dpoStep(
  gpu: Gpu,
  model: TrainableModel,
  opt: AdamW,
  lr: number,
  pairs: { chosen: readonly Row[]; rejected: readonly Row[]; refChosen: readonly number[]; refRejected: readonly number[] },
  T: number,
  settings: DpoStageSettings,
): Promise<StepReport> {
  const P = pairs.chosen.length;
  const rows = [...pairs.chosen, ...pairs.rejected];
  model.zeroGrads();
  const { logp, entropy } = model.forwardLogprobs(
    rows.flatMap((r) => r.inputs),
    rows.flatMap((r) => r.targets),
    2 * P,
    T,
  );
  const lp = await gpu.readF32(logp);
  logp.release();
  entropy.release();
  const half = P * T;
  const res = dpoLoss(
    {
      pairs: P,
      T,
      chosen: { logp: lp.subarray(0, half), mask: maskOf(pairs.chosen), refLogp: pairs.refChosen },
      rejected: { logp: lp.subarray(half), mask: maskOf(pairs.rejected), refLogp: pairs.refRejected },
    },
    { loss: settings.loss, beta: settings.beta, labelSmoothing: settings.label_smoothing, sftWeight: settings.sft_weight },
  );
  const weights = new Float32Array(2 * half);
  weights.set(res.weights.chosen, 0);
  weights.set(res.weights.rejected, half);
  model.backwardWeighted(weights);
  const r = opt.step(lr);
  const [norm, skipped] = await gpu.readF32(r);
  r.release();
  return { metrics: { loss: res.loss, ...res.metrics }, grad_norm: norm!, skipped: skipped !== 0, tokens: 2 * P * T };
}
