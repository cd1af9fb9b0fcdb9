import type { BenchEvent } from '../engine/bench/runner.js';

/**
 * Headless printers for `ponder bench`: an aligned plain-text table (no escape codes, fine over
 * SSH pipes and in CI logs) and JSON Lines. Both consume the engine's BenchEvent stream as it arrives.
 */
const COLUMNS = [
  { title: 'kernel', width: 22, align: 'left' },
  { title: 'shape', width: 22, align: 'left' },
  { title: 'ms (median)', width: 12, align: 'right' },
  { title: 'GFLOP/s', width: 10, align: 'right' },
  { title: 'GB/s', width: 9, align: 'right' },
] as const;

function cell(text: string, width: number, align: 'left' | 'right'): string {
  return align === 'left' ? text.padEnd(width) : text.padStart(width);
}

function row(values: string[]): string {
  return values.map((v, i) => cell(v, COLUMNS[i].width, COLUMNS[i].align)).join('  ').trimEnd();
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v === 0) return '0';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 0.01) return v.toFixed(3);
  return v.toExponential(2);
}

export function printBenchPlain(event: BenchEvent, write: (line: string) => void): void {
  switch (event.type) {
    case 'start':
      write(`adapter: ${event.adapter}`);
      write(`${event.total} case${event.total === 1 ? '' : 's'}`);
      write(row(COLUMNS.map((c) => c.title)));
      write(row(COLUMNS.map((c) => '-'.repeat(c.title.length))));
      break;
    case 'result': {
      const r = event.result;
      write(row([r.name, r.shape, formatNumber(r.ms_median), formatNumber(r.gflops), formatNumber(r.gbps)]));
      break;
    }
    case 'error':
      write(row([event.name, event.shape, 'error', '', '']) + `  ${event.message}`);
      break;
    case 'case':
    case 'done':
      break;
  }
}

export function printBenchJson(event: BenchEvent, write: (line: string) => void): void {
  if (event.type === 'result') write(JSON.stringify(event.result));
  else if (event.type === 'error') write(JSON.stringify({ name: event.name, shape: event.shape, error: event.message }));
}
