/**
 * The runner for `rollout_dpo` stages (Phi-4-mini-reasoning's stage 3): DPO on pairs built from the
 * model's own rollouts. Per optimizer step:
 *
 *   sample     batch_size prompts (rollouts.ts), `samples` (N) completions each, from the current
 *              weights; each verified by the task.
 *   pair       per prompt (buildRolloutPairs): chosen from the distinct correct completions that
 *              finished, SHORTEST first (the concise, complete answer is the one to prefer: a
 *              correct-but-rambling chosen teaches length); rejected from the distinct incorrect
 *              ones in a seeded random order (Philox keyed by the step and the prompt), so the
 *              pairs cover the prompt's different errors instead of always its longest or first
 *              one. Pair i is (chosen[i mod c], rejected[i]) for i < min(pairs_per_prompt,
 *              incorrect). A prompt with no correct-and-finished completion or no incorrect one
 *              gives no pair, and is counted (all_correct / none_correct).
 *   reference  the STAGE's starting model: at stage start its weights are saved to
 *              <run>/reference/<stage>/ (saveModelDir) and a second TrainableModel is built from
 *              them (no optimizer, its log-probs only; the same kernels, so the policy's log-ratio
 *              at the first step is exactly 0). A stage resumed mid-way loads that directory
 *              instead of taking the moved weights. Cost: a second copy of the weights and its
 *              gradient buffers on the GPU.
 *   train      preference-step.ts dpoStep on all the step's pairs (chosen rows then rejected rows in
 *              one forward, rows as long as the longest). A step with no pair does not update
 *              (skipped, grad_norm 0).
 *
 * state(): the prompt pool's cursor (sampling and the rejected order follow from the step index).
 * metrics: loss and TRL's DPO metrics (0 when no pair), pairs, all_correct, none_correct, pass_rate.
 */
import { padId } from '../../data/batches.js';
import { PonderError } from '../../errors.js';
import { isMtpWeight } from '../../model/config.js';
import { drawU32 } from '../../sample/rng.js';
import type { Json } from '../../train/checkpoint.js';
import { TrainableModel } from '../../train/trainable.js';
import { ProblemPool, type PoolState } from './problem-pool.js';
import { dpoStep, sequenceLogps } from './preference-step.js';
import { stageReferenceWeights } from './reference.js';
import { ROLLOUT_SEED_OFFSET, rolloutKey, rolloutLength, rolloutRow, sampleRollouts, stageProblems, type Rollout } from './rollouts.js';
import type { RunnerFactory, StageRunner, StepReport } from './types.js';

/** Philox counter word 3 for the rejected order (ASCII "rjct"). */
export const REJECT_DOMAIN = 0x726a6374;

export interface RolloutPairs {
  pairs: { chosen: Rollout; rejected: Rollout }[];
  /** prompts whose every sample was correct and finished (no rejected) */
  allCorrect: number;
  /** prompts without a correct finished sample (no chosen) */
  noneCorrect: number;
}

/** Distinct rollouts (first occurrence of each token sequence of a prompt). */
function distinct(rs: readonly Rollout[]): Rollout[] {
  const seen = new Set<string>();
  return rs.filter((r) => {
    const k = rolloutKey(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Pairs from k samples per prompt (rollouts prompt-major, k each), at most `perPrompt` per prompt
 * (see the header for the rule). `seed`/`step` key the rejected order.
 */
export function buildRolloutPairs(rollouts: readonly Rollout[], k: number, perPrompt: number, seed: number, step: number): RolloutPairs {
  const out: RolloutPairs = { pairs: [], allCorrect: 0, noneCorrect: 0 };
  for (let g = 0; g * k < rollouts.length; g++) {
    const group = distinct(rollouts.slice(g * k, (g + 1) * k));
    const good = group.filter((r) => r.correct && r.finished).sort((a, b) => a.ids.length - b.ids.length);
    const bad = group.filter((r) => !r.correct && r.ids.length > 0);
    if (good.length === 0) {
      out.noneCorrect++;
      continue;
    }
    if (bad.length === 0) {
      out.allCorrect++;
      continue;
    }
    // seeded Fisher-Yates over the incorrect ones, one Philox block per swap
    for (let i = bad.length - 1; i > 0; i--) {
      const j = drawU32(seed, step, g, i, REJECT_DOMAIN)[0]! % (i + 1);
      [bad[i], bad[j]] = [bad[j]!, bad[i]!];
    }
    for (let i = 0; i < Math.min(perPrompt, bad.length); i++) out.pairs.push({ chosen: good[i % good.length]!, rejected: bad[i]! });
  }
  return out;
}

export const createRolloutDpoRunner: RunnerFactory = async (ctx): Promise<StageRunner> => {
  const { gpu, model, tok, recipe, stage, stageIndex, resume, signal } = ctx;
  const settings = stage.rollout;
  const dpo = stage.dpo;
  if (!settings || !dpo) throw new PonderError('BAD_INPUT', `stage "${stage.name}": a rollout_dpo stage needs its sampling and dpo settings`);
  const { task, problems } = stageProblems(stage, recipe.seed);
  const pool = new ProblemPool(problems.length, recipe.seed + stageIndex, 0, (resume as { pool?: PoolState } | undefined)?.pool);
  const pad = padId(tok);
  const ctxLen = model.config.max_position_embeddings;
  const seed = recipe.seed + ROLLOUT_SEED_OFFSET + stageIndex;
  const ref = await stageReferenceWeights(ctx, 'the reference model (π_ref)');
  const reference = TrainableModel.create(gpu, ref.config, ref.weights);

  return {
    headline: 'rewards/accuracies',
    params: () => model.params().filter((p) => !isMtpWeight(p.name)),

    async step(k, opt, lr): Promise<StepReport> {
      const picks = Array.from({ length: stage.batch_size }, () => pool.next().problem);
      const rollouts = await sampleRollouts(gpu, model, tok, task, problems, picks, settings, { seed, step: k }, signal);
      const built = buildRolloutPairs(rollouts, settings.samples, settings.pairs_per_prompt ?? 1, seed, k);
      const counts = {
        pairs: built.pairs.length,
        all_correct: built.allCorrect,
        none_correct: built.noneCorrect,
        pass_rate: rollouts.filter((r) => r.correct).length / Math.max(1, rollouts.length),
      };
      const detail = { pairs: built.pairs.slice(0, 2).map((p) => ({ chosen: p.chosen.text, rejected: p.rejected.text })) };
      if (built.pairs.length === 0) return { metrics: { loss: 0, ...counts }, grad_norm: 0, skipped: true, tokens: 0, detail };
      const T = Math.min(ctxLen, Math.max(...built.pairs.flatMap((p) => [rolloutLength(p.chosen), rolloutLength(p.rejected)])));
      const chosen = built.pairs.map((p) => rolloutRow(p.chosen, tok, T, pad));
      const rejected = built.pairs.map((p) => rolloutRow(p.rejected, tok, T, pad));
      const P = chosen.length;
      const refs = await sequenceLogps(gpu, reference, [...chosen, ...rejected], T, 2 * P);
      const report = await dpoStep(gpu, model, opt, lr, { chosen, rejected, refChosen: refs.slice(0, P), refRejected: refs.slice(P) }, T, dpo);
      return { ...report, metrics: { ...report.metrics, ...counts }, detail };
    },

    state: () => ({ pool: pool.state() }) as unknown as Json,

    dispose() {
      reference.dispose();
    },
  };
};
