import type { TuneEvent, TuneStepEvent } from '../engine/tuner-events.js';
import { formatBytes as fmtBytes } from '../format.js';

/**
 * Headless printers for `ponder tune`: plain lines (no escape codes; for pipes, CI logs, SSH) and
 * JSON Lines (every event, one object per line). Both consume the Tuner's event stream as it arrives.
 *
 * The plain printer writes one progress line per interval (the first and last step of each stage
 * always, otherwise at most one line every `intervalMs`), plus one line per stage, evaluation, sample,
 * checkpoint, warning, notice, pause, resume and the end:
 *
 *   [sft] step 12/200  loss 2.3412  lr 3.00e-3  gnorm 0.812  1234 tok/s  mem 12.3 MiB  eta 0:41
 *
 * A stage that trains MTP modules adds their mean loss after the loss ("mtp 2.9120"); any other metric
 * the stage's runner reports follows as "name value" ("reward 0.6250  kl 0.0123").
 */
export interface PlainPrinterOptions {
  /** minimum time between two progress lines (default 2000 ms) */
  intervalMs?: number;
  /** clock, for tests */
  now?: () => number;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '-';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

export function fmtLoss(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : String(v);
}

/** A step metric other than the loss: 4 significant digits, exponent form for tiny or huge values. */
export function fmtMetric(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(4))) : v.toExponential(2);
}

export function fmtLr(v: number): string {
  return v === 0 ? '0' : v.toExponential(2);
}

/** One progress line for a step event (ETA from the mean step time of this run so far). */
export function formatStepLine(e: TuneStepEvent, etaS: number): string {
  return [
    `[${e.stage_name}] step ${e.step}/${e.total}`,
    `loss ${fmtLoss(e.loss)}`,
    ...(e.mtp_loss !== undefined ? [`mtp ${fmtLoss(e.mtp_loss)}`] : []),
    ...Object.entries(e.metrics ?? {})
      .filter(([k]) => k !== 'loss' && k !== 'mtp_loss')
      .map(([k, v]) => `${k} ${fmtMetric(v)}`),
    `lr ${fmtLr(e.lr)}`,
    `gnorm ${Number.isFinite(e.grad_norm) ? e.grad_norm.toFixed(3) : String(e.grad_norm)}${e.skipped ? ' (skipped)' : ''}`,
    `${Math.round(e.tokens_per_s)} tok/s`,
    `mem ${fmtBytes(e.gpu_mem_bytes)}`,
    `eta ${formatDuration(etaS)}`,
  ].join('  ');
}

/** A stateful plain printer: call it with each event. */
export function createPlainPrinter(write: (line: string) => void, opts: PlainPrinterOptions = {}): (e: TuneEvent) => void {
  const interval = opts.intervalMs ?? 2000;
  const now = opts.now ?? (() => performance.now());
  let lastPrint = -Infinity;
  let stepsRun = 0;
  let stepMsSum = 0;
  return (e) => {
    switch (e.type) {
      case 'start':
        write(`tune: ${e.stages.length} stage${e.stages.length === 1 ? '' : 's'}, ${e.total_steps} steps, ${e.parameters.toLocaleString('en-US')} parameters -> ${e.output}${e.resumed ? ` (resumed at step ${e.start_step} from ${e.resumed_from})` : ''}`);
        break;
      case 'stage':
        write(`stage ${e.index + 1} "${e.name}" (${e.kind}): ${e.steps} steps${e.grad_accum > 1 ? ` (${e.grad_accum} micro-batches of ${e.batch_size} per step)` : ''}${e.from_step > 0 ? `, from step ${e.from_step}` : ''}`);
        lastPrint = -Infinity;
        break;
      case 'step': {
        stepsRun++;
        stepMsSum += e.step_ms;
        const t = now();
        if (e.step === 1 || e.step === e.total || t - lastPrint >= interval) {
          lastPrint = t;
          const eta = ((e.total_steps - e.global_step) * stepMsSum) / stepsRun / 1000;
          write(formatStepLine(e, eta));
          const c = e.completions?.[0];
          if (c) write(`[rollout] step ${e.step}: reward ${c.reward.toFixed(2)} ${JSON.stringify(c.prompt)} -> ${JSON.stringify(c.text)}`);
        }
        break;
      }
      case 'eval':
        write(`[eval] step ${e.step}: ${e.task} accuracy ${(e.accuracy * 100).toFixed(1)}% (${e.correct}/${e.n})${e.mtp_acceptance !== undefined ? `, MTP drafts accepted ${(e.mtp_acceptance * 100).toFixed(1)}%` : ''}`);
        break;
      case 'sample':
        write(`[sample] ${JSON.stringify(e.prompt)} -> ${JSON.stringify(e.text)}`);
        break;
      case 'checkpoint':
        write(`[checkpoint] step ${e.step}: ${e.path}`);
        break;
      case 'warning':
      case 'notice':
        write(e.message);
        break;
      case 'paused':
        write(`paused after step ${e.step}`);
        break;
      case 'resumed':
        write(`resumed after ${formatDuration(e.paused_s)} paused`);
        break;
      case 'interrupted':
        write(`stopped after step ${e.step}; checkpoint ${e.checkpoint}`);
        break;
      case 'done':
        write(`done: ${e.steps} steps in ${formatDuration(e.elapsed_s)}; model saved to ${e.final_dir}`);
        if (e.report) write(`report: ${e.report}`);
        break;
    }
  };
}

/** JSON Lines: every event as one line. */
export function printTuneJson(e: TuneEvent, write: (line: string) => void): void {
  write(JSON.stringify(e));
}
