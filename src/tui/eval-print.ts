/**
 * Printers for `ponder eval`: the summary as one line per figure, each problem's verdict (--show), and
 * the test-time-scaling curve (--curve) as a numbers table (pipes, logs) or as braille line charts
 * (a terminal; tui/tune/braille-chart.ts). Pure functions from the engine's results to lines.
 *
 *   arithmetic (digits 2, seed 0): 100 problems × 8 samples at temperature 1; maj@8 52.0% (--vote majority)
 *   accuracy   avg@8 41.3%  95% CI [31.9%, 51.3%]
 *   pass@8     70.0%
 *   maj@8      52.0%  95% CI [42.3%, 61.5%]
 *   best-of-8  70.0%  95% CI [60.4%, 78.1%]  (exact verifier: pass@8 by the plug-in rule)
 */
import { wilsonInterval, type CurvePoint } from '../engine/eval-metrics.js';
import type { TaskEvalItem, TaskEvalSummary } from '../engine/evaluate.js';
import { brailleChart } from './tune/braille-chart.js';

/** Which aggregate is the headline figure: majority vote (maj@k) or best-of-N with the verifier. */
export type EvalVote = 'majority' | 'best';
export const EVAL_VOTES: readonly EvalVote[] = ['majority', 'best'];

export interface HeadlineFigure {
  vote: EvalVote;
  /** the figure's name, e.g. "maj@8" */
  name: string;
  value: number;
  /** Wilson 95% interval over problems (both votes give each problem a 0/1 score) */
  ci95: [lo: number, hi: number];
}

export function headline(summary: TaskEvalSummary, vote: EvalVote): HeadlineFigure {
  const k = summary.samples;
  const value = vote === 'majority' ? summary.maj_at_k : summary.best_of_n;
  return { vote, name: vote === 'majority' ? `maj@${k}` : `best-of-${k}`, value, ci95: wilsonInterval(value, summary.n) };
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const interval = ([lo, hi]: [number, number]) => `95% CI [${pct(lo)}, ${pct(hi)}]`;

/** The summary lines: a header with the headline figure, then accuracy, pass@k, maj@k, best-of-N (and MTP). */
export function formatEvalSummary(summary: TaskEvalSummary, vote: EvalVote, what: string): string[] {
  const k = summary.samples;
  const head = headline(summary, vote);
  const sampling = k === 1 && summary.temperature === 0 ? 'greedy' : `${k} sample${k === 1 ? '' : 's'} at temperature ${summary.temperature}`;
  const lines = [
    `${summary.task} (${what}): ${summary.n} problems, ${sampling}; ${head.name} ${pct(head.value)} (--vote ${vote})`,
    `accuracy   ${k === 1 ? '' : `avg@${k} `}${pct(summary.accuracy)}  ${interval(summary.ci95)}`,
    `pass@${k}`.padEnd(11) + pct(summary.pass_at_k),
    `maj@${k}`.padEnd(11) + `${pct(summary.maj_at_k)}  ${interval(wilsonInterval(summary.maj_at_k, summary.n))}`,
    `best-of-${k}`.padEnd(11) + `${pct(summary.best_of_n)}  ${interval(wilsonInterval(summary.best_of_n, summary.n))}  (exact verifier: pass@${k} by the plug-in rule)`,
  ];
  if (summary.mtp) lines.push(`MTP drafts accepted ${summary.mtp.accepted}/${summary.mtp.drafted} (${pct(summary.mtp.acceptance)})`);
  return lines;
}

/** One problem's line for --show: its verdict under the vote, the gold answer and what the samples said. */
export function formatItemLine(item: TaskEvalItem, vote: EvalVote, majorityAnswer: string | undefined, solved: boolean): string {
  const mark = solved ? 'ok  ' : 'FAIL';
  if (item.samples.length === 1) return `${mark} ${item.prompt}  expected ${item.answer}, got ${item.samples[0]!.predicted ?? '(none)'}`;
  const correct = item.samples.filter((s) => s.correct).length;
  const answers = item.samples.map((s) => s.predicted ?? '-').join(' ');
  const picked = vote === 'majority' ? `majority ${majorityAnswer ?? '(none)'}` : `${correct > 0 ? 'a' : 'no'} correct sample`;
  return `${mark} ${item.prompt}  expected ${item.answer}, ${picked} (${correct}/${item.samples.length} correct: ${answers})`;
}

/** The curve as a table: samples, pass@j, maj@j. */
export function formatCurveTable(curve: readonly CurvePoint[]): string[] {
  const rows = curve.map((p) => [String(p.samples), pct(p.pass_at_k), pct(p.maj_at_k)]);
  const header = ['samples', 'pass@j', 'maj@j'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((s, c) => s.padStart(widths[c]!)).join('  ');
  return [line(header), ...rows.map(line)];
}

/**
 * The curve as two braille charts (pass@j above maj@j), `width` cells wide and `height` tall, with j on
 * a log2 axis: the points are joined by straight lines sampled at every dot column, so a curve of a few
 * points still spans the width. Each chart is scaled to its own range, which its labels give.
 */
export function formatCurveChart(curve: readonly CurvePoint[], width: number, height = 4): string[] {
  const w = Math.max(8, Math.floor(width));
  const lines: string[] = [];
  for (const [name, pick] of [
    ['pass@j', (p: CurvePoint) => p.pass_at_k],
    ['maj@j', (p: CurvePoint) => p.maj_at_k],
  ] as const) {
    const chart = brailleChart(alongLog2(curve, pick, 2 * w), w, height);
    const top = chart.max === undefined ? '' : pct(chart.max);
    const bottom = chart.min === undefined ? '' : pct(chart.min);
    const label = Math.max(top.length, bottom.length);
    lines.push(name);
    chart.rows.forEach((row, r) => lines.push(`${(r === 0 ? top : r === chart.rows.length - 1 ? bottom : '').padStart(label)} ${row}`));
    lines.push(`${' '.repeat(label)} ${sampleAxis(curve, w)}`);
  }
  return lines;
}

/** The x axis: each point's sample count under its column (log2 scale), skipping labels that would touch. */
function sampleAxis(curve: readonly CurvePoint[], w: number): string {
  const axis = new Array<string>(w).fill(' ');
  const xs = curve.map((p) => Math.log2(p.samples));
  const span = (xs.at(-1) ?? 0) - (xs[0] ?? 0);
  let free = 0; // first column a label may use
  for (const [i, p] of curve.entries()) {
    const text = String(p.samples);
    const at = span > 0 ? Math.round(((xs[i]! - xs[0]!) / span) * (w - 1)) : 0;
    const start = Math.min(Math.max(at - Math.floor((text.length - 1) / 2), free), w - text.length);
    if (start < free) continue;
    for (let c = 0; c < text.length; c++) axis[start + c] = text[c]!;
    free = start + text.length + 1;
  }
  return `${axis.join('').trimEnd()}  samples`;
}

/** `columns` values along x = log2(samples), linearly interpolated between the curve's points. */
function alongLog2(curve: readonly CurvePoint[], pick: (p: CurvePoint) => number, columns: number): number[] {
  if (curve.length === 0) return [];
  if (curve.length === 1) return new Array<number>(columns).fill(pick(curve[0]!));
  const xs = curve.map((p) => Math.log2(p.samples));
  const x0 = xs[0]!;
  const span = xs.at(-1)! - x0;
  const out: number[] = [];
  let seg = 0;
  for (let c = 0; c < columns; c++) {
    const x = x0 + (span * c) / (columns - 1);
    while (seg < xs.length - 2 && x > xs[seg + 1]!) seg++;
    const t = (x - xs[seg]!) / (xs[seg + 1]! - xs[seg]!);
    out.push(pick(curve[seg]!) + Math.min(1, Math.max(0, t)) * (pick(curve[seg + 1]!) - pick(curve[seg]!)));
  }
  return out;
}
