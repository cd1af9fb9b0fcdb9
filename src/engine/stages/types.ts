/**
 * The stage runner interface: how the Tuner (the shell, engine/tuner.ts) drives one stage of a recipe.
 *
 * The shell owns everything every stage kind shares: the run directory, model init and resume, the
 * stage loop, the optimizer (AdamW over `params()` with the stage's optimizer settings), the lr
 * schedule, metrics.jsonl, step events, evaluations, checkpoints, controls and the final model. A
 * runner owns what makes its kind a kind: its data (or rollouts), its objective and the gradients of
 * one optimizer step. Per stage the shell does:
 *
 *   runner = factory(ctx)                      ctx.resume: the runner's state() from the checkpoint
 *                                              when the stage resumes mid-way, else undefined
 *   opt    = AdamW(runner.params(), stage.optimizer); opt.loadState(checkpoint) when resuming
 *   for k in [from, steps):  report = await runner.step(k, opt, lr(k))   (the shell times it)
 *                            metrics + step event from report; eval / checkpoint / controls
 *                            checkpoint: weights, opt moments, and runner.state() as data_cursor
 *   runner.dispose()
 *
 * Adding a stage kind: write `src/engine/stages/<kind>.ts` exporting a RunnerFactory, add the kind to
 * STAGE_KINDS (recipe/schema.ts) and the factory to STAGE_RUNNERS (stages/index.ts). The shell does
 * not change: it never asks which kind it runs.
 *
 * Resume exactness is the runner's half of the bargain: the trajectory of a stage may depend only on
 * the recipe, the weights, the optimizer state and `state()`. So state() holds every counter the
 * runner advances (data cursor, RNG draws, replay pools...), as JSON, and a runner built with
 * `ctx.resume` continues exactly where the saved one stopped.
 */
import type { Tokenizer } from '../../data/tokenizer.js';
import type { Gpu } from '../../gpu/gpu.js';
import type { Recipe, RecipeStage } from '../../recipe/load.js';
import type { Json } from '../../train/checkpoint.js';
import type { AdamW, Param } from '../../train/optimizer.js';
import type { TrainableModel } from '../../train/trainable.js';
import type { StepCompletion } from '../tuner-events.js';

export interface StageContext {
  gpu: Gpu;
  /** the model being trained (the runner adds into its grads; the shell's optimizer applies them) */
  model: TrainableModel;
  tok: Tokenizer;
  recipe: Recipe;
  stage: RecipeStage;
  stageIndex: number;
  /** the run directory (a runner may keep files of its own there, e.g. completions) */
  runDir: string;
  /** the stage's saved state() when resuming mid-stage */
  resume?: Json;
  /** aborted on Ctrl-C / quit: a long step (rollouts) may stop early; the shell checkpoints after it */
  signal?: AbortSignal;
}

/** Stage-local metrics of one step. `loss` (what the step minimises) is always there. */
export type StepMetrics = { loss: number } & Record<string, number>;

export interface StepReport {
  /**
   * metrics.jsonl and the step event carry these as they are, so names follow TRL where TRL has one:
   * loss, mtp_loss, reward, kl, ... (never a field the shell writes: SHELL_METRIC_FIELDS in tuner.ts)
   */
  metrics: StepMetrics;
  /** global gradient norm before clipping (read back from the optimizer step) */
  grad_norm: number;
  /** the optimizer skipped the update (non-finite gradients) */
  skipped: boolean;
  /** token positions the step processed (tokens/s = tokens / step time) */
  tokens: number;
  /** optional per-step extras for the views (e.g. the latest completions); in the step event only */
  detail?: Record<string, unknown>;
  /** rollout stages: a few of the step's completions with their rewards (the views show the first) */
  completions?: StepCompletion[];
}

export interface StageRunner {
  /** the metric the views chart next to the loss (e.g. reward); absent: the loss alone */
  readonly headline?: string;
  /**
   * how the stage's evals pose problems: 'raw' text ("problem\n", a pretrained model) or the 'chat'
   * format (absent: chat, what every post-training stage's model speaks)
   */
  readonly promptFormat?: 'chat' | 'raw';
  /** what the runner found worth a warning when it was built (the shell yields them as events) */
  readonly warnings?: readonly string[];
  /** trainable params this stage's optimizer updates (the shell builds AdamW from them) */
  params(): Param[];
  /** one optimizer step k (0-based, stage-local): everything up to and including opt.step(lr) */
  step(k: number, opt: AdamW, lr: number): Promise<StepReport>;
  /** JSON that, with the weights and optimizer, resumes this stage bit-exactly (data cursor, RNG counters...) */
  state(): Json;
  dispose(): void;
}

export type RunnerFactory = (ctx: StageContext) => StageRunner | Promise<StageRunner>;
