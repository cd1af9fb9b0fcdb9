import { execFileSync } from 'node:child_process';
import { PonderError } from '../../errors.js';
import { READ_LIMITS, readTextFile } from '../../io/read-file.js';
import { packageRoot, packageVersion } from '../../paths.js';
import type { BenchCeilings } from './ceilings.js';
import { suiteOf, type BenchResult, type BenchSuite } from './types.js';

/**
 * Saved benchmark runs (`ponder bench --save FILE`) and comparing a run against one
 * (`--compare FILE`). Rows of every suite are matched by suite + name + shape (shapes are stable across
 * runs by contract, see types.ts; rows saved without a suite are kernel rows); the ratio is new/old
 * median time (a kernel invocation, a prefill, a decode step, an optimizer step), so > 1 is slower. A row is a regression when it
 * is slower by more than the threshold, faster when quicker by more than it, else the same (noise).
 */
export const SAVED_RUN_FORMAT = 'ponder-bench/1';

export interface SavedRun {
  format: typeof SAVED_RUN_FORMAT;
  date: string;
  ponder_version: string;
  git_commit?: string;
  adapter: string;
  ceilings?: BenchCeilings;
  rows: BenchResult[];
}

export type CompareStatus = 'same' | 'regression' | 'faster' | 'new' | 'gone';

export interface CompareRow {
  suite: BenchSuite;
  name: string;
  shape: string;
  /** this run's median ms (undefined for 'gone': only in the saved run) */
  ms?: number;
  /** the saved median ms (undefined for 'new': not in the saved run) */
  old_ms?: number;
  /** new/old median time; undefined unless both are present */
  ratio?: number;
  status: CompareStatus;
}

type RowId = { suite?: string; name: string; shape: string };

/** The identity of a row across runs. */
export function rowKey(r: RowId): string {
  return `${suiteOf(r)} ${r.name} ${r.shape}`;
}

/** How a row is named to the reader: "name shape", prefixed by the suite outside the kernel suite. */
export function rowLabel(r: RowId): string {
  const suite = suiteOf(r);
  return suite === 'kernels' ? `${r.name} ${r.shape}` : `${suite} ${r.name} ${r.shape}`;
}

/** The current commit of the package checkout, if it is a git checkout and git is installed. */
export function gitCommit(cwd = packageRoot): string | undefined {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return /^[0-9a-f]{7,64}$/.test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

export function makeSavedRun(rows: BenchResult[], adapter: string, ceilings?: BenchCeilings, date = new Date()): SavedRun {
  const commit = gitCommit();
  return {
    format: SAVED_RUN_FORMAT,
    date: date.toISOString(),
    ponder_version: packageVersion,
    ...(commit ? { git_commit: commit } : {}),
    adapter,
    ...(ceilings ? { ceilings } : {}),
    rows,
  };
}

/** JSON with NaN ceilings written as null (JSON has no NaN) and read back as NaN. */
export function serializeSavedRun(run: SavedRun): string {
  return JSON.stringify(run, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}

/** Parses and checks a saved run; throws PonderError('BAD_INPUT') with a one-line message naming `file`. */
export function parseSavedRun(text: string, file: string): SavedRun {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new PonderError('BAD_INPUT', `--compare file "${file}" is not valid JSON (${e instanceof Error ? e.message.split('\n')[0] : e})`, 'write one with `ponder bench --save FILE`');
  }
  const bad = (why: string) => new PonderError('BAD_INPUT', `--compare file "${file}" is not a saved ponder bench run: ${why}`, 'write one with `ponder bench --save FILE`');
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw bad('expected a JSON object');
  const d = data as Record<string, unknown>;
  if (d.format !== SAVED_RUN_FORMAT) throw bad(`"format" is ${JSON.stringify(d.format)}, expected "${SAVED_RUN_FORMAT}"`);
  if (!Array.isArray(d.rows)) throw bad('"rows" is not an array');
  for (const [i, r] of (d.rows as unknown[]).entries()) {
    const row = r as Record<string, unknown> | null;
    if (typeof row !== 'object' || row === null || typeof row.name !== 'string' || typeof row.shape !== 'string' || typeof row.ms_median !== 'number' || !(row.ms_median > 0)) {
      throw bad(`rows[${i}] needs a name, a shape and a positive ms_median`);
    }
  }
  const ceilings = d.ceilings as Record<string, unknown> | undefined;
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  return {
    format: SAVED_RUN_FORMAT,
    date: typeof d.date === 'string' ? d.date : '',
    ponder_version: typeof d.ponder_version === 'string' ? d.ponder_version : '',
    ...(typeof d.git_commit === 'string' ? { git_commit: d.git_commit } : {}),
    adapter: typeof d.adapter === 'string' ? d.adapter : '',
    ...(ceilings && typeof ceilings === 'object'
      ? { ceilings: { peak_gbps: num(ceilings.peak_gbps), peak_gflops: num(ceilings.peak_gflops), ...(typeof ceilings.peak_gflops_case === 'string' ? { peak_gflops_case: ceilings.peak_gflops_case } : {}) } }
      : {}),
    rows: d.rows as BenchResult[],
  };
}

/** Reads a saved run; a missing or unreadable file is a one-line NOT_FOUND/BAD_INPUT error. */
export function loadSavedRun(file: string): SavedRun {
  let text: string;
  try {
    // regular files only, size-limited: a FIFO or /dev/zero as --compare would hang the read
    text = readTextFile(file, { what: '--compare file', maxBytes: READ_LIMITS.document });
  } catch (e) {
    if (e instanceof PonderError && e.code === 'NOT_FOUND') throw new PonderError('NOT_FOUND', `--compare file "${file}" does not exist`, 'write one with `ponder bench --save FILE`');
    throw e;
  }
  return parseSavedRun(text, file);
}

/** A saved run indexed for comparing rows one at a time, as they arrive. */
export class Baseline {
  readonly run: SavedRun;
  readonly thresholdPct: number;
  private readonly byKey = new Map<string, BenchResult>();

  constructor(run: SavedRun, thresholdPct = 10) {
    this.run = run;
    this.thresholdPct = thresholdPct;
    for (const r of run.rows) if (!this.byKey.has(rowKey(r))) this.byKey.set(rowKey(r), r);
  }

  compare(r: RowId & { ms_median: number }): CompareRow {
    const old = this.byKey.get(rowKey(r));
    const suite = suiteOf(r);
    if (!old) return { suite, name: r.name, shape: r.shape, ms: r.ms_median, status: 'new' };
    const ratio = r.ms_median / old.ms_median;
    return { suite, name: r.name, shape: r.shape, ms: r.ms_median, old_ms: old.ms_median, ratio, status: classify(ratio, this.thresholdPct) };
  }

  /** Saved rows whose key is not among `seen` (cases only in the saved file). */
  gone(seen: Iterable<string>): CompareRow[] {
    const s = new Set(seen);
    return [...this.byKey.values()].filter((r) => !s.has(rowKey(r))).map((r) => ({ suite: suiteOf(r), name: r.name, shape: r.shape, old_ms: r.ms_median, status: 'gone' as const }));
  }
}

export function classify(ratio: number, thresholdPct: number): CompareStatus {
  if (ratio > 1 + thresholdPct / 100) return 'regression';
  if (ratio < 1 / (1 + thresholdPct / 100)) return 'faster';
  return 'same';
}

/** Every row of `rows` beside the saved one, then the saved rows this run did not have. */
export function compareRuns(old: SavedRun, rows: readonly BenchResult[], thresholdPct = 10): CompareRow[] {
  const base = new Baseline(old, thresholdPct);
  return [...rows.map((r) => base.compare(r)), ...base.gone(rows.map(rowKey))];
}

/** The marker printed beside a row (plain table, CSV status column and the Ink table share it). */
export function compareMarker(status: CompareStatus): string {
  switch (status) {
    case 'regression':
      return '<< REGRESSION';
    case 'faster':
      return 'faster';
    case 'new':
      return 'new';
    case 'gone':
      return 'not run';
    case 'same':
      return '';
  }
}

export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined || !Number.isFinite(ratio) ? '-' : `${ratio.toFixed(2)}x`;
}

/** One line for the end of a compared run, e.g. "vs saved run: 2 regressions over 10%, 5 same, 1 new, 30 not run". */
export function compareSummary(rows: readonly CompareRow[], thresholdPct: number): string {
  const n = (s: CompareStatus) => rows.filter((r) => r.status === s).length;
  const parts = [`${n('regression')} regression${n('regression') === 1 ? '' : 's'} over ${thresholdPct}%`];
  for (const [s, label] of [['faster', 'faster'], ['same', 'same'], ['new', 'new'], ['gone', 'not run']] as const) if (n(s)) parts.push(`${n(s)} ${label}`);
  return `vs saved run: ${parts.join(', ')}`;
}
