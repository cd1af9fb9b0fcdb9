/**
 * The events `runTuner` yields, in order:
 *
 *   start -> (stage -> (step | eval | sample | checkpoint | warning | notice | paused | resumed)*)*
 *         -> done | interrupted
 *
 * Views subscribe to this stream only (the plain / JSON printers and the Ink dashboard), so
 * every number a view shows is in an event. All fields are JSON-serialisable (`--json` prints each
 * event as one line). `stage` is the 0-based stage index; `step` counts completed optimizer steps
 * within the stage (1-based after the first step); `global_step` counts them across the whole recipe
 * (it names the checkpoint files).
 */
import type { StageKind } from '../recipe/schema.js';

export interface TuneStartEvent {
  type: 'start';
  output: string;
  recipe_hash: string;
  resumed: boolean;
  /** the checkpoint the run continues from */
  resumed_from?: string;
  /** optimizer steps over all stages */
  total_steps: number;
  /** steps already done (from the resumed checkpoint), 0 on a fresh run */
  start_step: number;
  parameters: number;
  stages: { name: string; kind: StageKind; steps: number }[];
}

export interface TuneStageEvent {
  type: 'stage';
  index: number;
  name: string;
  kind: StageKind;
  steps: number;
  /** first step of this stage that will run (non-zero when resuming mid-stage) */
  from_step: number;
  /** sequences per micro-batch */
  batch_size: number;
  /** micro-batches per optimizer step */
  grad_accum: number;
  seq_len: number;
  /** the metric the stage's runner names for the views to chart next to the loss (e.g. reward) */
  headline?: string;
}

export interface TuneStepEvent {
  type: 'step';
  stage: number;
  stage_name: string;
  step: number;
  /** the stage's steps */
  total: number;
  global_step: number;
  total_steps: number;
  /** what the step minimises (pretrain / SFT: mean cross-entropy over the batch's valid targets) */
  loss: number;
  /** stages that train MTP modules: their mean loss per target token */
  mtp_loss?: number;
  /**
   * every metric the stage's runner reports for the step, `loss` included, by TRL's names where TRL
   * has one (loss, mtp_loss, reward, kl, ...); metrics.jsonl's step line holds the same
   */
  metrics: Record<string, number>;
  lr: number;
  /** global gradient norm before clipping */
  grad_norm: number;
  /** the optimizer skipped the update (non-finite gradients) */
  skipped: boolean;
  /** token positions of all the step's micro-batches over the step's wall time */
  tokens_per_s: number;
  /** bytes held by the GPU buffer pool */
  gpu_mem_bytes: number;
  step_ms: number;
  elapsed_s: number;
  /** per-step extras a runner shows (e.g. its latest completions) */
  detail?: Record<string, unknown>;
  /** rollout stages (grpo): a few of the step's completions with their rewards, for the views */
  completions?: StepCompletion[];
}

export interface TuneEvalEvent {
  type: 'eval';
  stage: number;
  step: number;
  task: string;
  accuracy: number;
  n: number;
  correct: number;
  /** a model with MTP modules: accepted ÷ drafted drafts while answering (greedy answers are unchanged) */
  mtp_acceptance?: number;
  /** an eval with samples > 1: answers per problem, unbiased pass@k and majority vote maj@k */
  samples?: number;
  'pass@k'?: number;
  'maj@k'?: number;
}

/** One sampled completion of a rollout stage, as the views show it. */
export interface StepCompletion {
  prompt: string;
  text: string;
  reward: number;
  advantage?: number;
}

export interface TuneSampleEvent {
  type: 'sample';
  stage: number;
  step: number;
  prompt: string;
  text: string;
}

export interface TuneCheckpointEvent {
  type: 'checkpoint';
  path: string;
  /** global step */
  step: number;
  stage: number;
}

/** A control request (TunerControl) a warning or notice answers, so a view can stop waiting for it. */
export type ControlRequestKind = 'checkpoint' | 'evaluate';

export interface TuneWarningEvent {
  type: 'warning';
  message: string;
  /** set when the warning answers a request (e.g. evaluate now in a stage without eval:) */
  request?: ControlRequestKind;
}

/** A request that needed no action, e.g. a checkpoint already written at this step. */
export interface TuneNoticeEvent {
  type: 'notice';
  message: string;
  request: ControlRequestKind;
}

/** The run waits after this global step until resumed (TunerControl.pause). */
export interface TunePausedEvent {
  type: 'paused';
  step: number;
  stage: number;
}

export interface TuneResumedEvent {
  type: 'resumed';
  step: number;
  /** how long the run was paused */
  paused_s: number;
}

/** Why a run stopped early: Ctrl-C / the abort signal, TunerControl.quit, or (tests) stopAfterStep. */
export type StopReason = 'signal' | 'quit' | 'stop_after_step';

/** Stopped early after checkpointing; `--resume` continues. */
export interface TuneInterruptedEvent {
  type: 'interrupted';
  step: number;
  checkpoint: string;
  reason: StopReason;
}

export interface TuneDoneEvent {
  type: 'done';
  final_dir: string;
  /** the run's report card, <output>/report.md (runTuner always writes one) */
  report?: string;
  /** optimizer steps over all stages */
  steps: number;
  elapsed_s: number;
}

export type TuneEvent =
  | TuneStartEvent
  | TuneStageEvent
  | TuneStepEvent
  | TuneEvalEvent
  | TuneSampleEvent
  | TuneCheckpointEvent
  | TuneWarningEvent
  | TuneNoticeEvent
  | TunePausedEvent
  | TuneResumedEvent
  | TuneInterruptedEvent
  | TuneDoneEvent;
