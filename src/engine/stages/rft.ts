/**
 * The runner for `rft` stages: rejection-sampling fine-tuning. Per optimizer step:
 *
 *   collect    batch_size prompts (rollouts.ts: seeded epochs over the task's problems), `samples`
 *              completions each from the current weights;
 *   keep       the DISTINCT completions (by token ids, per prompt) that the task verifies AND that
 *              finished at a stop token (a cut-off answer would teach the model not to stop);
 *   train      one SFT step on the kept completions: cross-entropy on the completion tokens and the
 *              end-of-turn token (TrainableModel.step, gradScale = 1 / their target count: the mean
 *              over the kept tokens).
 *
 * Schedule: collect-then-train per step, so every step trains on samples of the weights it updates
 * (on-policy, the shape of the iterated RFT papers use at small batch sizes) and a step's work is a
 * function of the weights and the step index alone. A step that keeps nothing does not update: it
 * reports skipped with grad_norm 0 (the optimizer is not stepped, so its moments and step count stay).
 *
 * state(): the prompt pool's cursor; sampling seeds follow from the step index (rollouts.ts).
 * metrics: loss (mean cross-entropy per kept target), kept (completions trained on), pass_rate
 * (verified fraction of all samples), duplicates (verified, finished, but a copy of one kept).
 */
import { padId } from '../../data/batches.js';
import { PonderError } from '../../errors.js';
import { isMtpWeight } from '../../model/config.js';
import type { Json } from '../../train/checkpoint.js';
import { ProblemPool, type PoolState } from './problem-pool.js';
import { ROLLOUT_SEED_OFFSET, rolloutKey, rolloutLength, rolloutRow, sampleRollouts, stageProblems, type Rollout } from './rollouts.js';
import type { RunnerFactory, StageRunner, StepReport } from './types.js';

/** The distinct verified, finished rollouts (first occurrence kept) and how many copies were dropped. */
export function keepVerified(rollouts: readonly Rollout[]): { kept: Rollout[]; duplicates: number } {
  const seen = new Set<string>();
  const kept: Rollout[] = [];
  let duplicates = 0;
  for (const r of rollouts) {
    if (!r.correct || !r.finished) continue;
    const key = rolloutKey(r);
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    kept.push(r);
  }
  return { kept, duplicates };
}

export const createRftRunner: RunnerFactory = ({ gpu, model, tok, recipe, stage, stageIndex, resume, signal }): StageRunner => {
  const settings = stage.rollout;
  if (!settings) throw new PonderError('BAD_INPUT', `stage "${stage.name}": an rft stage needs its sampling settings`);
  const { task, problems } = stageProblems(stage, recipe.seed);
  const pool = new ProblemPool(problems.length, recipe.seed + stageIndex, 0, (resume as { pool?: PoolState } | undefined)?.pool);
  const pad = padId(tok);
  const ctx = model.config.max_position_embeddings;

  return {
    headline: 'pass_rate',
    params: () => model.params().filter((p) => !isMtpWeight(p.name)),

    async step(k, opt, lr): Promise<StepReport> {
      const picks = Array.from({ length: stage.batch_size }, () => pool.next().problem);
      const rollouts = await sampleRollouts(gpu, model, tok, task, problems, picks, settings, { seed: recipe.seed + ROLLOUT_SEED_OFFSET + stageIndex, step: k }, signal);
      const { kept, duplicates } = keepVerified(rollouts);
      const passRate = rollouts.filter((r) => r.correct).length / Math.max(1, rollouts.length);
      const counts = { kept: kept.length, pass_rate: passRate, duplicates };
      const detail = { completions: rollouts.slice(0, 4).map((r) => ({ text: r.text, correct: r.correct })) };
      if (kept.length === 0) return { metrics: { loss: 0, ...counts }, grad_norm: 0, skipped: true, tokens: 0, detail };
      const T = Math.min(ctx, Math.max(...kept.map(rolloutLength)));
      const rows = kept.map((r) => rolloutRow(r, tok, T, pad));
      const valid = rows.reduce((a, r) => a + r.validTargets, 0);
      model.zeroGrads();
      const lossT = model.step(
        rows.flatMap((r) => r.inputs),
        rows.flatMap((r) => r.targets),
        rows.length,
        T,
        { gradScale: 1 / valid },
      );
      const res = opt.step(lr);
      const loss = (await gpu.readF32(lossT))[0]! / valid;
      lossT.release();
      const [norm, skipped] = await gpu.readF32(res);
      res.release();
      return { metrics: { loss, ...counts }, grad_norm: norm!, skipped: skipped !== 0, tokens: rows.length * T, detail };
    },

    state: () => ({ pool: pool.state() }) as unknown as Json,

    dispose() {},
  };
};
