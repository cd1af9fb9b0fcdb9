/**
 * What the online preference stages (rft, rollout_dpo) share: the task's problems, a seeded draw of
 * a step's prompts, sampling k completions per prompt from the CURRENT weights, verifying them, and
 * turning a completion back into a training row.
 *
 *   problems   the stage data's task, generated with the recipe seed (as an SFT stage on the same
 *              task sees them); evals use other problems (the shell's eval seed offset).
 *   prompts    ProblemPool (problem-pool.ts, no easy pool): seeded shuffled epochs, resumable from
 *              its state().
 *   sampling   sampleBatch on Transformer.fromGpuWeights (a view of the training weights, nothing
 *              copied), chat format (these stages follow SFT). Seed = recipe seed + ROLLOUT_SEED_OFFSET
 *              + stage index; prompt i of step k draws with stream (k·B + i) mod 2^22, so a step's
 *              samples are a pure function of (recipe, weights, k): a resumed stage samples what the
 *              uninterrupted one did.
 *   verdict    correct = the task verifies the extracted answer; `finished` = the completion ended at
 *              a stop token (not cut by max_new_tokens or the context).
 *   rows       prompt ids + completion ids (+ the end-of-turn token when it finished), targets on the
 *              completion tokens only (data/batches.ts toRow), so a row trains exactly what the model
 *              sampled, without re-tokenizing its text.
 */
import { eosId, toRow, type Row } from '../../data/batches.js';
import type { Tokenizer } from '../../data/tokenizer.js';
import { PonderError } from '../../errors.js';
import type { Gpu } from '../../gpu/gpu.js';
import { Transformer } from '../../model/transformer.js';
import { taskOptionsOf, type RecipeStage, type RolloutSettings } from '../../recipe/load.js';
import type { Problem, VerifiableTask } from '../../tasks/index.js';
import type { TrainableModel } from '../../train/trainable.js';
import { problemsFor, taskPromptIds } from '../evaluate.js';
import { PROMPT_STREAM_BITS, sampleBatch } from '../sample-batch.js';

/** Added to the recipe seed for rollout sampling (distinct from the shell's eval seed offset). */
export const ROLLOUT_SEED_OFFSET = 2_000_029;

export interface Rollout {
  /** index into the stage's problems */
  problem: number;
  promptIds: number[];
  ids: number[];
  text: string;
  finished: boolean;
  correct: boolean;
}

/** The stage's task and problems (stage.data must be a task). */
export function stageProblems(stage: RecipeStage, seed: number): { task: VerifiableTask; problems: Problem[] } {
  if (stage.data.type !== 'task') throw new PonderError('BAD_INPUT', `stage "${stage.name}": a ${stage.kind} stage samples a task's problems (data: {task: ...})`);
  const { task, problems } = problemsFor(stage.data.task, stage.data.n, seed, taskOptionsOf(stage.data));
  return { task, problems };
}

/**
 * `settings.samples` completions for each of `picks` (problem indices), from the model's current
 * weights, verified. Returned prompt-major: rollouts[i·k + j] is sample j of picks[i].
 */
export async function sampleRollouts(
  gpu: Gpu,
  model: TrainableModel,
  tok: Tokenizer,
  task: VerifiableTask,
  problems: readonly Problem[],
  picks: readonly number[],
  settings: RolloutSettings,
  sampling: { seed: number; step: number; temperature?: number; promptText?: (p: Problem) => string },
  signal?: AbortSignal,
): Promise<Rollout[]> {
  const text = sampling.promptText ?? ((p: Problem) => p.prompt);
  const prompts = picks.map((p) => taskPromptIds(tok, text(problems[p]!), true, settings.think));
  const streams = picks.map((_, i) => (sampling.step * picks.length + i) % 2 ** PROMPT_STREAM_BITS);
  const tf = Transformer.fromGpuWeights(gpu, model.config, model.inferenceWeights(), { owned: false });
  try {
    const out = await sampleBatch(gpu, tf, tok, prompts, {
      samples: settings.samples,
      maxTokens: settings.max_new_tokens,
      temperature: sampling.temperature ?? settings.temperature,
      topP: settings.top_p,
      seed: sampling.seed,
      streams,
      signal,
    });
    return out.map((c) => {
      const problem = picks[c.prompt]!;
      return {
        problem,
        promptIds: prompts[c.prompt]!,
        ids: c.ids,
        text: c.text,
        finished: c.finish === 'stop',
        correct: task.verify(problems[problem]!, task.extractAnswer(c.text)),
      };
    });
  } finally {
    tf.dispose();
  }
}

/** The token that ends a chat turn (what the sampler stopped at; it drops it from the ids). */
export function endOfTurnId(tok: Tokenizer): number {
  return tok.specialTokens.im_end ?? eosId(tok);
}

/** A rollout as a training row of T tokens: targets on its completion (and end-of-turn when it finished). */
export function rolloutRow(r: Rollout, tok: Tokenizer, T: number, pad: number): Row {
  const completion = r.finished ? [...r.ids, endOfTurnId(tok)] : r.ids;
  const tokens = [...r.promptIds, ...completion];
  const train = new Uint8Array(tokens.length);
  train.fill(1, r.promptIds.length);
  return toRow({ tokens, train }, T, pad);
}

/** Tokens a rollout row needs (its inputs: every token but the last). */
export function rolloutLength(r: Rollout): number {
  return r.promptIds.length + r.ids.length + (r.finished ? 1 : 0) - 1;
}

/** Identity of a completion of a prompt, for dropping duplicates. */
export const rolloutKey = (r: Rollout): string => `${r.problem}:${r.ids.join(',')}`;
