import type { TuneStepEvent } from '../../src/engine/tuner-events.js';

/** A step event for the dashboard tests: loss falls 0.1 per global step unless overridden. */
export function stepEvent(stage: number, step: number, total: number, global: number, totalSteps: number, over: Partial<TuneStepEvent> = {}): TuneStepEvent {
  const loss = over.loss ?? 5 - global * 0.1;
  return {
    type: 'step',
    stage,
    stage_name: `s${stage}`,
    step,
    total,
    global_step: global,
    total_steps: totalSteps,
    loss,
    metrics: { loss },
    lr: 1e-3,
    grad_norm: 0.5,
    skipped: false,
    tokens_per_s: 1000,
    gpu_mem_bytes: 3 * 2 ** 20,
    step_ms: 100,
    elapsed_s: global * 0.1,
    ...over,
  };
}
