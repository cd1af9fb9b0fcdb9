import type { TuneEvent, TuneEvalEvent, TuneStepEvent } from '../../engine/tuner-events.js';
import type { StageKind } from '../../recipe/schema.js';

/**
 * The training dashboard's state: one pure reducer from the Tuner's events (and the user's key
 * presses) to what the dashboard shows, so every number on screen can be tested without Ink or a GPU.
 *
 * - stages: pending / running / done, with the steps done in each.
 * - ETA: mean step time of the last ETA_WINDOW steps (step_ms: the optimizer step alone, so a pause,
 *   an evaluation or a checkpoint does not inflate it) times the steps left in the recipe.
 * - loss curve: one point per optimizer step until MAX_LOSS_POINTS; past that, neighbouring points are
 *   merged pairwise (means) and each new point is the mean of `lossStride` steps, so memory stays
 *   bounded on long runs while the x axis stays uniform.
 * - other step metrics (mtp_loss, reward, kl, ... whatever the stage's runner reports): a curve per
 *   metric name, built the same way but capped at MAX_METRIC_POINTS. The dashboard charts one of them
 *   next to the loss: the stage's headline metric (named by its runner in the stage event), else
 *   `reward` when the steps report one (chartedMetric).
 * - requests: a key press marks its request pending ("pausing after this step…") until the event that
 *   answers it arrives.
 * - history: a resumed run's earlier steps and evaluations (read back from its metrics.jsonl by
 *   run-history.ts, dispatched right after `start`) go into the curves and the eval list, so the
 *   dashboard after `--resume` shows the whole run, not just the steps of this session.
 * - lists (evaluations, log lines) are kept oldest first and capped; the view shows them newest first.
 */
export const ETA_WINDOW = 20;
export const MAX_LOSS_POINTS = 2048;
export const MAX_METRIC_POINTS = 512;
export const LOG_LINES = 4;
export const EVALS_KEPT = 3;

export type StageStatus = 'pending' | 'running' | 'done';

export interface ViewStage {
  name: string;
  kind: StageKind;
  steps: number;
  /** optimizer steps done in this stage */
  done: number;
  status: StageStatus;
}

export interface LogLine {
  kind: 'checkpoint' | 'warning' | 'notice' | 'info';
  text: string;
}

export type KeyRequest = 'pause' | 'resume' | 'checkpoint' | 'evaluate' | 'quit' | 'interrupt';

/** A key press, as the dashboard dispatches it next to the engine's events. */
export interface KeyAction {
  type: 'key';
  request: KeyRequest;
}

/** One earlier step of a resumed run, as metrics.jsonl holds it. */
export interface HistoryStep {
  global_step: number;
  loss: number;
  /** the step's metrics but the loss */
  metrics: Record<string, number>;
}

/** A resumed run's steps and evaluations before this session (see run-history.ts). */
export interface HistoryAction {
  type: 'history';
  steps: HistoryStep[];
  evals: TuneEvalEvent[];
}

export type TuneViewAction = TuneEvent | KeyAction | HistoryAction;

/** A bounded history of one metric: points, steps per point, and the point being built. */
export interface MetricCurve {
  points: number[];
  stride: number;
  pending: { sum: number; n: number };
}

export interface TuneViewState {
  output?: string;
  parameters?: number;
  resumedAt?: number;
  stages: ViewStage[];
  /** index of the running stage */
  current?: number;
  /** micro-batching of the running stage */
  batch?: { size: number; accum: number; seqLen: number };
  globalStep: number;
  totalSteps: number;
  last?: TuneStepEvent;
  /** loss curve points (see lossStride) */
  losses: number[];
  /** the run's first loss (this session's or, resumed, the history's): the summary's "from" */
  firstLoss?: number;
  /** optimizer steps per loss point */
  lossStride: number;
  /** steps summed into the point being built (when lossStride > 1) */
  pendingLoss: { sum: number; n: number };
  /** the other step metrics by name (see MetricCurve) */
  curves: Record<string, MetricCurve>;
  /** the running stage's headline metric (its runner names it), charted next to the loss */
  headline?: string;
  recentStepMs: number[];
  evals: TuneEvalEvent[];
  /** the latest eval sample, or a rollout stage's latest completion with its reward */
  sample?: { step: number; prompt: string; text: string; reward?: number };
  log: LogLine[];
  paused: boolean;
  /** requests waiting for their answer */
  pending: Partial<Record<KeyRequest, true>>;
  finished?: { kind: 'done'; finalDir: string; elapsedS: number; report?: string } | { kind: 'interrupted'; step: number; checkpoint: string };
}

export const initialTuneView: TuneViewState = {
  stages: [],
  globalStep: 0,
  totalSteps: 0,
  losses: [],
  lossStride: 1,
  pendingLoss: { sum: 0, n: 0 },
  curves: {},
  recentStepMs: [],
  evals: [],
  log: [],
  paused: false,
  pending: {},
};

/** Whether the run is, or is about to be, paused (what the p key toggles). */
export function wantsPause(s: TuneViewState): boolean {
  return s.pending.pause === true || (s.paused && s.pending.resume !== true);
}

/** Seconds left: mean of the recent step times x steps left; undefined before the first step. */
export function etaSeconds(s: TuneViewState): number | undefined {
  if (s.recentStepMs.length === 0) return undefined;
  const mean = s.recentStepMs.reduce((a, b) => a + b, 0) / s.recentStepMs.length;
  return (Math.max(0, s.totalSteps - s.globalStep) * mean) / 1000;
}

function withLog(log: LogLine[], line: LogLine): LogLine[] {
  return [...log, line].slice(-LOG_LINES);
}

function without(pending: TuneViewState['pending'], ...keys: KeyRequest[]): TuneViewState['pending'] {
  const p = { ...pending };
  for (const k of keys) delete p[k];
  return p;
}

/**
 * Appends one value to a curve of at most `max` points: values are averaged `stride` at a time, and
 * when the curve is full neighbouring points are merged pairwise and the stride doubles.
 */
export function pushPoint(c: MetricCurve, value: number, max: number): MetricCurve {
  const sum = c.pending.sum + value;
  const n = c.pending.n + 1;
  if (n < c.stride) return { points: c.points, stride: c.stride, pending: { sum, n } };
  let points = [...c.points, sum / n];
  let stride = c.stride;
  if (points.length >= max) {
    const merged: number[] = [];
    for (let i = 0; i + 1 < points.length; i += 2) merged.push((points[i]! + points[i + 1]!) / 2);
    points = merged;
    stride *= 2;
  }
  return { points, stride, pending: { sum: 0, n: 0 } };
}

/** Appends one step's loss, merging points pairwise when the curve is full. */
function addLoss(s: TuneViewState, loss: number): Pick<TuneViewState, 'losses' | 'lossStride' | 'pendingLoss'> {
  const c = pushPoint({ points: s.losses, stride: s.lossStride, pending: s.pendingLoss }, loss, MAX_LOSS_POINTS);
  return { losses: c.points, lossStride: c.stride, pendingLoss: c.pending };
}

/** Appends each step metric but the loss (which has its own curve) to its curve. */
function addMetrics(curves: Record<string, MetricCurve>, metrics: Record<string, number> | undefined): Record<string, MetricCurve> {
  const next = { ...curves };
  for (const [name, v] of Object.entries(metrics ?? {})) {
    if (name === 'loss' || !Number.isFinite(v)) continue;
    next[name] = pushPoint(next[name] ?? { points: [], stride: 1, pending: { sum: 0, n: 0 } }, v, MAX_METRIC_POINTS);
  }
  return next;
}

/** The metric charted next to the loss: the stage's headline, else `reward`, when it has points. */
export function chartedMetric(s: TuneViewState): string | undefined {
  for (const name of [s.headline, 'reward']) if (name !== undefined && name !== 'loss' && (s.curves[name]?.points.length ?? 0) > 0) return name;
  return undefined;
}

function setStage(stages: ViewStage[], i: number, patch: Partial<ViewStage>): ViewStage[] {
  return stages.map((st, j) => (j === i ? { ...st, ...patch } : st));
}

export function reduceTuneView(s: TuneViewState, a: TuneViewAction): TuneViewState {
  switch (a.type) {
    case 'key': {
      if (s.finished) return s;
      // pause while paused-but-resume-pending (or the reverse) cancels the pending request: the Tuner
      // never saw the flip, so no event will answer it
      if (a.request === 'pause') return { ...s, pending: s.paused ? without(s.pending, 'resume') : { ...s.pending, pause: true } };
      if (a.request === 'resume') return { ...s, pending: s.paused ? { ...s.pending, resume: true } : without(s.pending, 'pause') };
      return { ...s, pending: { ...s.pending, [a.request]: true } };
    }
    case 'start': {
      let before = 0;
      const stages = a.stages.map((st): ViewStage => {
        const done = Math.min(st.steps, Math.max(0, a.start_step - before));
        before += st.steps;
        return { name: st.name, kind: st.kind, steps: st.steps, done, status: done === st.steps ? 'done' : 'pending' };
      });
      return {
        ...s,
        output: a.output,
        parameters: a.parameters,
        resumedAt: a.resumed ? a.start_step : undefined,
        stages,
        globalStep: a.start_step,
        totalSteps: a.total_steps,
        log: a.resumed ? withLog(s.log, { kind: 'info', text: `resumed at step ${a.start_step} from ${a.resumed_from ?? 'a checkpoint'}` }) : s.log,
      };
    }
    case 'stage': {
      const stages = s.stages.map((st, j): ViewStage => (j < a.index ? { ...st, done: st.steps, status: 'done' } : j === a.index ? { ...st, done: a.from_step, status: 'running' } : st));
      return { ...s, stages, current: a.index, batch: { size: a.batch_size, accum: a.grad_accum, seqLen: a.seq_len }, headline: a.headline };
    }
    case 'history': {
      let next: TuneViewState = s;
      for (const h of a.steps) {
        next = { ...next, ...addLoss(next, h.loss), curves: addMetrics(next.curves, h.metrics), firstLoss: next.firstLoss ?? h.loss };
      }
      return { ...next, evals: [...a.evals, ...s.evals].slice(-EVALS_KEPT) };
    }
    case 'step':
      return {
        ...s,
        firstLoss: s.firstLoss ?? a.loss,
        stages: setStage(s.stages, a.stage, { done: a.step, status: a.step >= a.total ? 'done' : 'running' }),
        current: a.stage,
        globalStep: a.global_step,
        totalSteps: a.total_steps,
        last: a,
        ...addLoss(s, a.loss),
        curves: addMetrics(s.curves, a.metrics),
        recentStepMs: [...s.recentStepMs, a.step_ms].slice(-ETA_WINDOW),
        ...(a.completions?.[0] ? { sample: { step: a.step, prompt: a.completions[0].prompt, text: a.completions[0].text, reward: a.completions[0].reward } } : {}),
      };
    case 'eval':
      return { ...s, evals: [...s.evals, a].slice(-EVALS_KEPT), pending: without(s.pending, 'evaluate') };
    case 'sample':
      return { ...s, sample: { step: a.step, prompt: a.prompt, text: a.text } };
    case 'checkpoint':
      return { ...s, log: withLog(s.log, { kind: 'checkpoint', text: `checkpoint step ${a.step}: ${a.path}` }), pending: without(s.pending, 'checkpoint') };
    case 'warning':
      return { ...s, log: withLog(s.log, { kind: 'warning', text: a.message }), pending: a.request ? without(s.pending, a.request) : s.pending };
    case 'notice':
      return { ...s, log: withLog(s.log, { kind: 'notice', text: a.message }), pending: without(s.pending, a.request) };
    case 'paused':
      return { ...s, paused: true, pending: without(s.pending, 'pause') };
    case 'resumed':
      return { ...s, paused: false, pending: without(s.pending, 'resume') };
    case 'interrupted':
      return { ...s, paused: false, pending: {}, finished: { kind: 'interrupted', step: a.step, checkpoint: a.checkpoint } };
    case 'done':
      return {
        ...s,
        paused: false,
        pending: {},
        stages: s.stages.map((st) => ({ ...st, done: st.steps, status: 'done' })),
        globalStep: s.totalSteps,
        finished: { kind: 'done', finalDir: a.final_dir, elapsedS: a.elapsed_s, ...(a.report ? { report: a.report } : {}) },
      };
  }
}
