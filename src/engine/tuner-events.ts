/**
 * The events `runTuner` yields, in order:
 *
 *   start -> (stage -> (step | eval | sample | checkpoint | warning)*)* -> done | interrupted
 *
 * Views subscribe to this stream only (the plain / JSON printers today, the Ink dashboard next), so
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
  /** mean cross-entropy over the batch's valid targets */
  loss: number;
  lr: number;
  /** global gradient norm before clipping */
  grad_norm: number;
  /** the optimizer skipped the update (non-finite gradients) */
  skipped: boolean;
  tokens_per_s: number;
  /** bytes held by the GPU buffer pool */
  gpu_mem_bytes: number;
  step_ms: number;
  elapsed_s: number;
}

export interface TuneEvalEvent {
  type: 'eval';
  stage: number;
  step: number;
  task: string;
  accuracy: number;
  n: number;
  correct: number;
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

export interface TuneWarningEvent {
  type: 'warning';
  message: string;
}

/** Stopped early (signal or stopAfterStep) after checkpointing; `--resume` continues. */
export interface TuneInterruptedEvent {
  type: 'interrupted';
  step: number;
  checkpoint: string;
}

export interface TuneDoneEvent {
  type: 'done';
  final_dir: string;
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
  | TuneInterruptedEvent
  | TuneDoneEvent;
