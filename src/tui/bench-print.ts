import { describeCeilings } from '../engine/bench/ceilings.js';
import { compareMarker, compareRuns, compareSummary, formatRatio, type Baseline } from '../engine/bench/compare.js';
import type { BenchEvent } from '../engine/bench/runner.js';
import { suiteOf, type BenchResult, type BenchSuite, type KernelBenchResult, type ModelBenchResult, type ModelPeerFigure, type TrainBenchResult, type TrainPeerFigure } from '../engine/bench/types.js';
import { formatBytes } from '../format.js';

/**
 * Headless printers for `ponder bench`: an aligned plain-text table (no escape codes, fine over
 * SSH pipes and in CI logs), JSON Lines and CSV. All consume the engine's BenchEvent stream as it
 * arrives. Each suite has its own columns (suiteColumns, shared with the Ink table); a run of several
 * suites prints one table per suite, each starting at the suite's first case. With a Baseline
 * (--compare) each row also shows the saved time, the ratio new/old and a marker for regressions; the
 * plain table ends with a one-line summary. With peers (--peers), matmul rows show each peer's GFLOP/s
 * and ponder's ratio to it (> 1: ponder is faster), the model suite's batch-1 prefill and decode
 * rows each model peer's tokens/s and the ratio, and train rows each training peer's tokens/s and the
 * ratio; a peer that ran but has no figure (it failed, decoded other tokens than ponder, started from
 * another loss) or no ratio (a CPU peer whose BLAS or threads make it no fair comparison) says why at
 * the end of the plain row.
 */
export interface BenchColumn {
  title: string;
  /** plain-table width; the Ink table uses `narrow` when given */
  width: number;
  narrow?: number;
  align: 'left' | 'right';
  value(r: BenchResult): string;
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

function formatCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n);
}

const num = (v: number | null | undefined) => (v === null || v === undefined ? '-' : formatNumber(v));
const kernel = (r: BenchResult) => r as KernelBenchResult;
const model = (r: BenchResult) => r as ModelBenchResult;
const train = (r: BenchResult) => r as TrainBenchResult;

function peerColumns(peers: readonly string[]): BenchColumn[] {
  return peers.flatMap((p): BenchColumn[] => {
    const fig = (r: BenchResult) => kernel(r).peers?.find((f) => f.peer === p);
    const gf = `${p} GFLOP/s`;
    const vs = `vs ${p}`;
    return [
      { title: gf, width: gf.length, narrow: Math.max(8, p.length), align: 'right', value: (r) => (fig(r) ? num(fig(r)!.gflops) : '') },
      { title: vs, width: Math.max(7, vs.length), narrow: 7, align: 'right', value: (r) => (fig(r) ? formatRatio(fig(r)!.ratio ?? undefined) : '') },
    ];
  });
}

/** A peer's tokens/s and ratio columns on model or train rows (`figures` picks the row's figures). */
function tokensPeerColumns(peers: readonly string[], figures: (r: BenchResult) => readonly (ModelPeerFigure | TrainPeerFigure)[] | undefined): BenchColumn[] {
  return peers.flatMap((p): BenchColumn[] => {
    const fig = (r: BenchResult) => figures(r)?.find((f) => f.peer === p);
    const tps = `${p} tok/s`;
    const vs = `vs ${p}`;
    return [
      { title: tps, width: tps.length, narrow: Math.max(8, p.length), align: 'right', value: (r) => (fig(r) ? num(fig(r)!.tokens_per_s) : '') },
      { title: vs, width: Math.max(7, vs.length), narrow: 7, align: 'right', value: (r) => (fig(r) ? formatRatio(fig(r)!.ratio ?? undefined) : '') },
    ];
  });
}

/**
 * Why a model or train row's peers have no figure or no ratio, as "peer: reason" ('' when every
 * figure is there). A peer that is not available here says so once in its note line, not on every row.
 */
export function modelPeerNotes(r: BenchResult): string {
  const suite = suiteOf(r);
  const figures: readonly (ModelPeerFigure | TrainPeerFigure)[] = suite === 'model' ? (model(r).peers ?? []) : suite === 'train' ? (train(r).peers ?? []) : [];
  return figures
    .filter((f) => f.note && f.note !== 'not available')
    .map((f) => `${f.peer}: ${f.note}`)
    .join('; ');
}

/**
 * What a model or train row says after its cells: a batched-sampling row its completions per second
 * both ways and the speedup, an MTP drafting row its speedup over plain decoding, then any peer
 * notes (modelPeerNotes).
 */
export function modelRowNotes(r: BenchResult): string {
  if (suiteOf(r) === 'train') return modelPeerNotes(r);
  if (suiteOf(r) !== 'model') return '';
  const m = model(r);
  const sampled = m.samples === undefined || m.speedup === undefined ? '' : `${formatNumber(m.completions_per_s!)} completions/s batched vs ${formatNumber(m.sequential_completions_per_s!)} one at a time (${formatRatio(m.speedup)})`;
  const drafting = m.mtp === undefined || m.speedup === undefined ? '' : `${formatRatio(m.speedup)} plain decoding (${formatNumber(m.plain_tokens_per_s!)} tok/s in alternating passes)`;
  return [sampled, drafting, modelPeerNotes(r)].filter((s) => s).join('; ');
}

/** Dispatches and submits per step (model decode rows, train rows); '-' where a row has none. */
function countColumns(row: (r: BenchResult) => { dispatches_per_step?: number; submits_per_step?: number }): BenchColumn[] {
  return [
    { title: 'disp/step', width: 10, narrow: 9, align: 'right', value: (r) => num(row(r).dispatches_per_step) },
    { title: 'subm/step', width: 10, narrow: 9, align: 'right', value: (r) => num(row(r).submits_per_step) },
  ];
}

/** The peer names whose columns a suite's table shows (--peers): matmul peers on kernels, model peers on model, training peers on train. */
export function peersOf(suite: BenchSuite, opts: { peers?: readonly string[]; modelPeers?: readonly string[]; trainPeers?: readonly string[] }): readonly string[] {
  return (suite === 'kernels' ? opts.peers : suite === 'model' ? opts.modelPeers : opts.trainPeers) ?? [];
}

/**
 * The columns of one suite's table (before the --compare columns); `peers` are that suite's peers
 * (peersOf). `counts` adds the model and train suites' dispatches and submits per step: the plain
 * table shows them; the live table, kept to the terminal's width, leaves them to --plain/--json.
 */
export function suiteColumns(suite: BenchSuite, peers: readonly string[] = [], counts = false): BenchColumn[] {
  switch (suite) {
    case 'kernels':
      return [
        { title: 'kernel', width: 22, narrow: 18, align: 'left', value: (r) => r.name },
        { title: 'shape', width: 22, narrow: 16, align: 'left', value: (r) => r.shape },
        { title: 'ms (median)', width: 12, narrow: 11, align: 'right', value: (r) => formatNumber(r.ms_median) },
        { title: 'GFLOP/s', width: 10, narrow: 8, align: 'right', value: (r) => formatNumber(kernel(r).gflops) },
        { title: 'GB/s', width: 9, narrow: 7, align: 'right', value: (r) => formatNumber(kernel(r).gbps) },
        { title: '% peak', width: 7, narrow: 6, align: 'right', value: (r) => formatPct(kernel(r).pct_of_peak) },
        ...peerColumns(peers),
      ];
    case 'model':
      return [
        { title: 'model', width: 22, narrow: 19, align: 'left', value: (r) => r.name },
        { title: 'test', width: 22, narrow: 16, align: 'left', value: (r) => r.shape },
        { title: 'ms', width: 12, narrow: 11, align: 'right', value: (r) => formatNumber(r.ms_median) },
        { title: 'tok/s', width: 10, narrow: 8, align: 'right', value: (r) => formatNumber(model(r).tokens_per_s) },
        { title: 'roofline', width: 9, narrow: 8, align: 'right', value: (r) => num(model(r).roofline_tokens_per_s) },
        { title: '% roof', width: 7, narrow: 6, align: 'right', value: (r) => formatPct(model(r).pct_of_roofline) },
        { title: 'accept', width: 7, narrow: 6, align: 'right', value: (r) => formatPct(model(r).acceptance === undefined ? undefined : 100 * model(r).acceptance!) },
        { title: 'params', width: 8, narrow: 7, align: 'right', value: (r) => formatCount(model(r).params) },
        ...(counts ? countColumns((r) => model(r)) : []),
        ...tokensPeerColumns(peers, (r) => model(r).peers),
      ];
    case 'train':
      return [
        { title: 'recipe', width: 22, narrow: 19, align: 'left', value: (r) => r.name },
        { title: 'stage', width: 22, narrow: 16, align: 'left', value: (r) => r.shape },
        { title: 'step ms', width: 12, narrow: 8, align: 'right', value: (r) => formatNumber(r.ms_median) },
        { title: 'tok/s', width: 10, narrow: 7, align: 'right', value: (r) => formatNumber(train(r).tokens_per_s) },
        { title: 'params', width: 8, narrow: 6, align: 'right', value: (r) => formatCount(train(r).params) },
        { title: 'peak', width: 10, narrow: 9, align: 'right', value: (r) => formatBytes(train(r).peak_bytes) },
        { title: 'floor', width: 10, narrow: 9, align: 'right', value: (r) => formatBytes(train(r).floor_bytes) },
        { title: 'peak/floor', width: 10, narrow: 10, align: 'right', value: (r) => formatRatio(train(r).peak_over_floor) },
        ...(counts ? countColumns((r) => train(r)) : []),
        ...tokensPeerColumns(peers, (r) => train(r).peers),
      ];
  }
}

const COMPARE_COLUMNS: readonly { title: string; width: number }[] = [
  { title: 'old ms', width: 10 },
  { title: 'ratio', width: 7 },
];

function cell(text: string, width: number, align: 'left' | 'right'): string {
  return align === 'left' ? text.padEnd(width) : text.padStart(width);
}

function line(cells: { text: string; width: number; align: 'left' | 'right' }[]): string {
  return cells.map((c) => cell(c.text, c.width, c.align)).join('  ').trimEnd();
}

export interface PrintOptions {
  /** --compare: the saved run rows are compared against */
  baseline?: Baseline;
  /** --peers: the matmul peers asked for (kernel columns), in column order */
  peers?: readonly string[];
  /** --peers: the model peers asked for (model columns), in column order */
  modelPeers?: readonly string[];
  /** --peers: the training peers asked for (train columns), in column order */
  trainPeers?: readonly string[];
  /**
   * CSV: the suites of the run, which decide the columns of the header and of every row (default: the
   * start event's suites for the header, a row's own suite for the row, which agree in a one-suite run)
   */
  suites?: readonly BenchSuite[];
}

/** The plain table (one call per event). A suite's column header follows the adapter and ceilings lines. */
export function printBenchPlain(event: BenchEvent, write: (line: string) => void, opts: PrintOptions = {}): void {
  const base = opts.baseline;
  const header = (suite: BenchSuite) => {
    const cols = suiteColumns(suite, peersOf(suite, opts), true);
    const titles = [...cols.map((c) => ({ text: c.title, width: c.width, align: c.align })), ...(base ? COMPARE_COLUMNS.map((c) => ({ text: c.title, width: c.width, align: 'right' as const })) : [])];
    write(line(titles));
    write(line(titles.map((t) => ({ ...t, text: '-'.repeat(t.text.length) }))));
  };
  switch (event.type) {
    case 'start':
      write(`adapter: ${event.adapter}`);
      if (base) write(`compared with: ${describeBaseline(base)}`);
      write(`${event.total} case${event.total === 1 ? '' : 's'}`);
      break;
    case 'ceilings':
      write(describeCeilings(event.ceilings, formatNumber));
      break;
    case 'note':
      write(event.message);
      break;
    case 'case': {
      // the header waits for a suite's first case so the ceilings line (measured after start) sits above it
      const suite = event.suite ?? 'kernels';
      if (event.index === 0) {
        if (suite !== 'kernels') write('');
        header(suite);
      }
      break;
    }
    case 'result': {
      const r = event.result;
      const cols = suiteColumns(suiteOf(r), peersOf(suiteOf(r), opts), true);
      const cells = cols.map((c) => ({ text: c.value(r), width: c.width, align: c.align }));
      const notes = modelRowNotes(r);
      const tail = notes ? `  ${notes}` : '';
      if (!base) {
        write(line(cells) + tail);
        break;
      }
      const c = base.compare(r);
      const marker = compareMarker(c.status);
      const extra = [
        { text: c.old_ms === undefined ? '-' : formatNumber(c.old_ms), width: COMPARE_COLUMNS[0]!.width, align: 'right' as const },
        { text: formatRatio(c.ratio), width: COMPARE_COLUMNS[1]!.width, align: 'right' as const },
      ];
      write(line([...cells, ...extra]) + (marker ? `  ${marker}` : '') + tail);
      break;
    }
    case 'error': {
      const cols = suiteColumns(event.suite ?? 'kernels', peersOf(event.suite ?? 'kernels', opts), true);
      write(line([event.name, event.shape, 'error'].map((text, i) => ({ text, width: cols[i]!.width, align: cols[i]!.align }))) + `  ${event.message}`);
      break;
    }
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

/** JSON Lines: one object per case with its `suite` (plus old_ms_median/ratio/status with a baseline). */
export function printBenchJson(event: BenchEvent, write: (line: string) => void, opts: PrintOptions = {}): void {
  if (event.type === 'result') {
    const row = { ...event.result, suite: suiteOf(event.result) };
    const base = opts.baseline;
    if (!base) write(JSON.stringify(row));
    else {
      const c = base.compare(row);
      write(JSON.stringify({ ...row, old_ms_median: c.old_ms ?? null, ratio: c.ratio ?? null, status: c.status }));
    }
  } else if (event.type === 'error') write(JSON.stringify({ suite: event.suite ?? 'kernels', name: event.name, shape: event.shape, error: event.message }));
}

type CsvValue = string | number | null | undefined;
interface CsvColumn {
  name: string;
  value(r: BenchResult): CsvValue;
}

const COMMON_CSV: CsvColumn[] = [
  { name: 'suite', value: (r) => suiteOf(r) },
  { name: 'name', value: (r) => r.name },
  { name: 'shape', value: (r) => r.shape },
  { name: 'ms_median', value: (r) => r.ms_median },
];

function suiteCsv(suite: BenchSuite, peers: readonly string[]): CsvColumn[] {
  const id = (p: string) => p.replace(/[^A-Za-z0-9]+/g, '_');
  switch (suite) {
    case 'kernels':
      return [
        { name: 'ms_p10', value: (r) => kernel(r).ms_p10 },
        { name: 'ms_p90', value: (r) => kernel(r).ms_p90 },
        { name: 'gflops', value: (r) => kernel(r).gflops },
        { name: 'gbps', value: (r) => kernel(r).gbps },
        { name: 'pct_of_peak', value: (r) => kernel(r).pct_of_peak },
        { name: 'samples', value: (r) => kernel(r).samples },
        ...peers.flatMap((p): CsvColumn[] => {
          const fig = (r: BenchResult) => kernel(r).peers?.find((f) => f.peer === p);
          return [
            { name: `${id(p)}_gflops`, value: (r) => fig(r)?.gflops },
            { name: `ratio_vs_${id(p)}`, value: (r) => fig(r)?.ratio },
          ];
        }),
      ];
    case 'model':
      return [
        { name: 'batch', value: (r) => model(r).batch },
        { name: 'tokens_per_s', value: (r) => model(r).tokens_per_s },
        { name: 'roofline_tokens_per_s', value: (r) => model(r).roofline_tokens_per_s },
        { name: 'pct_of_roofline', value: (r) => model(r).pct_of_roofline },
        { name: 'mtp', value: (r) => model(r).mtp },
        { name: 'acceptance', value: (r) => model(r).acceptance },
        { name: 'plain_tokens_per_s', value: (r) => model(r).plain_tokens_per_s },
        { name: 'speedup', value: (r) => model(r).speedup },
        { name: 'params', value: (r) => model(r).params },
        { name: 'dispatches_per_step', value: (r) => model(r).dispatches_per_step },
        { name: 'submits_per_step', value: (r) => model(r).submits_per_step },
        // ratio_vs_<peer> is shared with the kernel rows' column of the same name (ponder ÷ peer)
        ...peers.flatMap((p): CsvColumn[] => {
          const fig = (r: BenchResult) => model(r).peers?.find((f) => f.peer === p);
          return [
            { name: `${id(p)}_tokens_per_s`, value: (r) => fig(r)?.tokens_per_s },
            { name: `ratio_vs_${id(p)}`, value: (r) => fig(r)?.ratio },
          ];
        }),
      ];
    case 'train':
      return [
        { name: 'ms_p10', value: (r) => train(r).ms_p10 },
        { name: 'ms_p90', value: (r) => train(r).ms_p90 },
        { name: 'batch', value: (r) => train(r).batch },
        { name: 'tokens_per_s', value: (r) => train(r).tokens_per_s },
        { name: 'params', value: (r) => train(r).params },
        { name: 'steps', value: (r) => train(r).steps },
        { name: 'peak_bytes', value: (r) => train(r).peak_bytes },
        { name: 'floor_bytes', value: (r) => train(r).floor_bytes },
        { name: 'peak_over_floor', value: (r) => train(r).peak_over_floor },
        { name: 'dispatches_per_step', value: (r) => train(r).dispatches_per_step },
        { name: 'submits_per_step', value: (r) => train(r).submits_per_step },
        ...peers.flatMap((p): CsvColumn[] => {
          const fig = (r: BenchResult) => train(r).peers?.find((f) => f.peer === p);
          return [
            { name: `${id(p)}_tokens_per_s`, value: (r) => fig(r)?.tokens_per_s },
            { name: `ratio_vs_${id(p)}`, value: (r) => fig(r)?.ratio },
          ];
        }),
      ];
  }
}

/**
 * The CSV columns of a run of these suites: suite, name, shape, ms_median, then each suite's own
 * columns (a column two suites share, like tokens_per_s, appears once), then adapter and error. A
 * row leaves the columns of other suites empty.
 */
export function csvColumns(suites: readonly BenchSuite[], peers: readonly string[] = [], modelPeers: readonly string[] = [], trainPeers: readonly string[] = []): string[] {
  return csvColumnDefs(suites, { peers, modelPeers, trainPeers }).map((c) => c.name);
}

function csvColumnDefs(suites: readonly BenchSuite[], peers: { peers?: readonly string[]; modelPeers?: readonly string[]; trainPeers?: readonly string[] }): { name: string; bySuite: Map<BenchSuite, CsvColumn> }[] {
  const cols: { name: string; bySuite: Map<BenchSuite, CsvColumn> }[] = COMMON_CSV.map((c) => ({ name: c.name, bySuite: new Map(suites.map((s) => [s, c])) }));
  for (const s of suites) {
    for (const c of suiteCsv(s, peersOf(s, peers))) {
      let col = cols.find((x) => x.name === c.name);
      if (!col) cols.push((col = { name: c.name, bySuite: new Map() }));
      col.bySuite.set(s, c);
    }
  }
  const adapter: CsvColumn = { name: 'adapter', value: (r) => r.adapter };
  cols.push({ name: 'adapter', bySuite: new Map(suites.map((s) => [s, adapter])) }, { name: 'error', bySuite: new Map() });
  return cols;
}

const CSV_COMPARE_COLUMNS = ['old_ms_median', 'ratio', 'status'] as const;

/** RFC 4180 quoting: adapter names contain commas ("llvmpipe (LLVM 15.0.7, 256 bits)"). */
export function csvField(v: CsvValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * CSV: one header line at start (the columns of the run's suites, see csvColumns), then one line per
 * case (errors too, with the error column set).
 */
export function printBenchCsv(event: BenchEvent, write: (line: string) => void, opts: PrintOptions = {}): void {
  const base = opts.baseline;
  const defs = (suites: readonly BenchSuite[] | undefined) => csvColumnDefs(suites?.length ? suites : ['kernels'], opts);
  switch (event.type) {
    case 'start':
      write([...defs(opts.suites ?? event.suites).map((c) => c.name), ...(base ? CSV_COMPARE_COLUMNS : [])].join(','));
      break;
    case 'result': {
      const r = event.result;
      const suite = suiteOf(r);
      const fields: CsvValue[] = defs(opts.suites ?? [suite]).map((c) => c.bySuite.get(suite)?.value(r));
      if (base) {
        const c = base.compare(r);
        fields.push(c.old_ms, c.ratio, c.status);
      }
      write(fields.map(csvField).join(','));
      break;
    }
    case 'error': {
      const suite = event.suite ?? 'kernels';
      const fields: CsvValue[] = defs(opts.suites ?? [suite]).map((c) =>
        c.name === 'suite' ? suite : c.name === 'name' ? event.name : c.name === 'shape' ? event.shape : c.name === 'error' ? event.message : '',
      );
      if (base) fields.push('', '', '');
      write(fields.map(csvField).join(','));
      break;
    }
    default:
      break;
  }
}
