import { describeCeilings } from '../engine/bench/ceilings.js';
import { compareMarker, compareRuns, compareSummary, formatRatio, type Baseline } from '../engine/bench/compare.js';
import type { BenchEvent } from '../engine/bench/runner.js';
import type { KernelBenchResult } from '../engine/bench/types.js';

/**
 * Headless printers for `ponder bench`: an aligned plain-text table (no escape codes, fine over
 * SSH pipes and in CI logs), JSON Lines and CSV. All consume the engine's BenchEvent stream as it
 * arrives. With a Baseline (--compare) each row also shows the saved time, the ratio new/old and a
 * marker for regressions; the plain table ends with a one-line summary.
 */
interface Column {
  title: string;
  width: number;
  align: 'left' | 'right';
}

const COLUMNS: readonly Column[] = [
  { title: 'kernel', width: 22, align: 'left' },
  { title: 'shape', width: 22, align: 'left' },
  { title: 'ms (median)', width: 12, align: 'right' },
  { title: 'GFLOP/s', width: 10, align: 'right' },
  { title: 'GB/s', width: 9, align: 'right' },
  { title: '% peak', width: 7, align: 'right' },
];

const COMPARE_COLUMNS: readonly Column[] = [
  { title: 'old ms', width: 10, align: 'right' },
  { title: 'ratio', width: 7, align: 'right' },
];

function cell(text: string, width: number, align: 'left' | 'right'): string {
  return align === 'left' ? text.padEnd(width) : text.padStart(width);
}

function row(columns: readonly Column[], values: string[]): string {
  return values.map((v, i) => cell(v, columns[i].width, columns[i].align)).join('  ').trimEnd();
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v === 0) return '0';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 0.01) return v.toFixed(3);
  return v.toExponential(2);
}

export function formatPct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(v >= 10 ? 0 : 1)}%`;
}

export interface PrintOptions {
  /** --compare: the saved run rows are compared against */
  baseline?: Baseline;
}

/** The plain table (one call per event). The column header follows the adapter and ceilings lines. */
export function printBenchPlain(event: BenchEvent, write: (line: string) => void, opts: PrintOptions = {}): void {
  const base = opts.baseline;
  const columns = base ? [...COLUMNS, ...COMPARE_COLUMNS] : COLUMNS;
  switch (event.type) {
    case 'start':
      write(`adapter: ${event.adapter}`);
      if (base) write(`compared with: ${describeBaseline(base)}`);
      write(`${event.total} case${event.total === 1 ? '' : 's'}`);
      break;
    case 'ceilings':
      write(describeCeilings(event.ceilings, formatNumber));
      break;
    case 'case':
      // the header waits for the first case so the ceilings line (measured after start) sits above it
      if (event.index === 0) {
        write(row(columns, columns.map((c) => c.title)));
        write(row(columns, columns.map((c) => '-'.repeat(c.title.length))));
      }
      break;
    case 'result': {
      const r = event.result;
      const values = [r.name, r.shape, formatNumber(r.ms_median), formatNumber(r.gflops), formatNumber(r.gbps), formatPct(r.pct_of_peak)];
      if (!base) {
        write(row(columns, values));
        break;
      }
      const c = base.compare(r);
      const marker = compareMarker(c.status);
      write(row(columns, [...values, c.old_ms === undefined ? '-' : formatNumber(c.old_ms), formatRatio(c.ratio)]) + (marker ? `  ${marker}` : ''));
      break;
    }
    case 'error':
      write(row(columns, [event.name, event.shape, 'error', ...columns.slice(3).map(() => '')]) + `  ${event.message}`);
      break;
    case 'done':
      if (base) write(compareSummary(compareRuns(base.run, event.results, base.thresholdPct), base.thresholdPct));
      break;
  }
}

export function describeBaseline(base: Baseline): string {
  const r = base.run;
  const parts = [r.date ? r.date.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC') : 'undated', r.adapter || 'unknown adapter'];
  if (r.ponder_version) parts.push(`ponder ${r.ponder_version}`);
  if (r.git_commit) parts.push(`commit ${r.git_commit.slice(0, 10)}`);
  return `${parts.join(', ')}; regressions over ${base.thresholdPct}% are marked`;
}

/** JSON Lines: one object per case (the result, plus old_ms_median/ratio/status with a baseline). */
export function printBenchJson(event: BenchEvent, write: (line: string) => void, opts: PrintOptions = {}): void {
  if (event.type === 'result') {
    const base = opts.baseline;
    if (!base) write(JSON.stringify(event.result));
    else {
      const c = base.compare(event.result);
      write(JSON.stringify({ ...event.result, old_ms_median: c.old_ms ?? null, ratio: c.ratio ?? null, status: c.status }));
    }
  } else if (event.type === 'error') write(JSON.stringify({ name: event.name, shape: event.shape, error: event.message }));
}

export const CSV_COLUMNS = ['name', 'shape', 'ms_median', 'ms_p10', 'ms_p90', 'gflops', 'gbps', 'pct_of_peak', 'samples', 'adapter', 'error'] as const;
const CSV_COMPARE_COLUMNS = ['old_ms_median', 'ratio', 'status'] as const;

/** RFC 4180 quoting: adapter names contain commas ("llvmpipe (LLVM 15.0.7, 256 bits)"). */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** CSV: one header line at start, then one line per case (errors too, with the error column set). */
export function printBenchCsv(event: BenchEvent, write: (line: string) => void, opts: PrintOptions = {}): void {
  const base = opts.baseline;
  switch (event.type) {
    case 'start':
      write([...CSV_COLUMNS, ...(base ? CSV_COMPARE_COLUMNS : [])].join(','));
      break;
    case 'result': {
      const r: KernelBenchResult = event.result;
      const fields: (string | number | null | undefined)[] = [r.name, r.shape, r.ms_median, r.ms_p10, r.ms_p90, r.gflops, r.gbps, r.pct_of_peak, r.samples, r.adapter, ''];
      if (base) {
        const c = base.compare(r);
        fields.push(c.old_ms, c.ratio, c.status);
      }
      write(fields.map(csvField).join(','));
      break;
    }
    case 'error': {
      const fields: (string | number | null | undefined)[] = [event.name, event.shape, ...Array(8).fill(''), event.message];
      if (base) fields.push('', '', '');
      write(fields.map(csvField).join(','));
      break;
    }
    default:
      break;
  }
}
