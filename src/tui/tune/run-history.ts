import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TuneEvalEvent, TuneStartEvent } from '../../engine/tuner-events.js';
import type { HistoryAction, HistoryStep } from './view-state.js';

/**
 * A resumed run's past, read back from `<output>/metrics.jsonl` so the dashboard after `--resume`
 * draws the whole loss curve and the earlier evaluations, not only this session's steps.
 *
 * metrics.jsonl (train/run-dir.ts) holds one JSON object per line:
 *   step lines  {stage, step, stage_name, global_step, loss, ...metrics, lr, grad_norm, skipped,
 *               tokens_per_s, gpu_mem_bytes, time_s}
 *   eval lines  {stage, step (within the stage), eval_task, accuracy, eval_n, ...figures}
 *   run line    {run: 'done', ...} (ignored)
 * Only lines at or before the checkpoint the run resumes from count (global step <= start_step; an
 * eval's global step is its stage's offset plus its step): the Tuner cuts later lines on resume, and
 * reading them would draw steps that are about to be redone. A torn last line is skipped.
 */

/** Fields of a step line that are not step metrics (the Tuner writes them itself; see SHELL_METRIC_FIELDS). */
const NOT_METRICS = new Set(['stage', 'step', 'stage_name', 'global_step', 'lr', 'grad_norm', 'skipped', 'tokens_per_s', 'gpu_mem_bytes', 'time_s', 'loss']);
/** Fields of an eval line that describe it rather than score it beyond what TuneEvalEvent carries. */
const EVAL_FIGURES = ['mtp_acceptance', 'samples', 'pass@k', 'maj@k'] as const;

type Line = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The history in metrics.jsonl's text, up to global step `upTo`, for a recipe of `stageSteps` steps per stage. */
export function parseRunHistory(text: string, upTo: number, stageSteps: number[]): HistoryAction {
  const offsets: number[] = [];
  let total = 0;
  for (const n of stageSteps) {
    offsets.push(total);
    total += n;
  }
  const steps: HistoryStep[] = [];
  const evals: TuneEvalEvent[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let l: Line;
    try {
      const v = JSON.parse(raw) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
      l = v as Line;
    } catch {
      continue; // a torn line (a crash mid-write)
    }
    const stage = num(l.stage);
    const step = num(l.step);
    if (stage === undefined || step === undefined || stage >= offsets.length) continue;
    if (typeof l.eval_task === 'string') {
      const accuracy = num(l.accuracy) ?? 0;
      const n = num(l.eval_n) ?? 0;
      if (offsets[stage]! + step > upTo) continue;
      const ev: TuneEvalEvent = { type: 'eval', stage, step, task: l.eval_task, accuracy, n, correct: Math.round(accuracy * n) };
      for (const k of EVAL_FIGURES) if (num(l[k]) !== undefined) (ev as unknown as Record<string, number>)[k] = l[k] as number;
      evals.push(ev);
    } else if (typeof l.loss === 'number' && num(l.global_step) !== undefined) {
      const global = l.global_step as number;
      if (global > upTo) continue;
      const metrics: Record<string, number> = {};
      for (const [k, v] of Object.entries(l)) if (!NOT_METRICS.has(k) && num(v) !== undefined) metrics[k] = v as number;
      steps.push({ global_step: global, loss: l.loss, metrics });
    }
  }
  steps.sort((a, b) => a.global_step - b.global_step);
  return { type: 'history', steps, evals };
}

/** The history of the run a resumed `start` event names; undefined for a fresh run or without a readable file. */
export function readRunHistory(start: TuneStartEvent): HistoryAction | undefined {
  if (!start.resumed) return undefined;
  let text: string;
  try {
    text = readFileSync(join(start.output, 'metrics.jsonl'), 'utf8');
  } catch {
    return undefined;
  }
  return parseRunHistory(
    text,
    start.start_step,
    start.stages.map((s) => s.steps),
  );
}
