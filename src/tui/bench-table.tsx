import { Box, Text } from 'ink';
import { useEffect, useReducer } from 'react';
import { describeCeilings, type BenchCeilings } from '../engine/bench/ceilings.js';
import { compareMarker, compareRuns, compareSummary, formatRatio, type Baseline, type CompareRow } from '../engine/bench/compare.js';
import type { BenchEvent } from '../engine/bench/runner.js';
import type { KernelBenchResult } from '../engine/bench/types.js';
import { describeBaseline, formatNumber, formatPct } from './bench-print.js';

/**
 * The live `ponder bench` view on a terminal: the same BenchEvent stream as the plain printer, drawn
 * as an Ink table that fills in row by row, with the running case and a progress bar (cases done of
 * total) under it. State is a pure reducer over events so the view can be tested from synthetic
 * events without a GPU.
 */
export type BenchViewRow =
  | { kind: 'result'; result: KernelBenchResult; compare?: CompareRow }
  | { kind: 'error'; name: string; shape: string; message: string };

export interface BenchViewState {
  adapter?: string;
  total: number;
  done: number;
  ceilings?: BenchCeilings;
  /** the case being timed now */
  current?: { name: string; shape: string };
  rows: BenchViewRow[];
  finished: boolean;
  results?: KernelBenchResult[];
}

export const initialBenchView: BenchViewState = { total: 0, done: 0, rows: [], finished: false };

export function reduceBenchView(state: BenchViewState, ev: BenchEvent, baseline?: Baseline): BenchViewState {
  switch (ev.type) {
    case 'start':
      return { ...state, adapter: ev.adapter, total: ev.total };
    case 'ceilings':
      return { ...state, ceilings: ev.ceilings };
    case 'case':
      return { ...state, current: { name: ev.name, shape: ev.shape } };
    case 'result':
      return {
        ...state,
        done: state.done + 1,
        current: undefined,
        rows: [...state.rows, { kind: 'result', result: ev.result, ...(baseline ? { compare: baseline.compare(ev.result) } : {}) }],
      };
    case 'error':
      return { ...state, done: state.done + 1, current: undefined, rows: [...state.rows, { kind: 'error', name: ev.name, shape: ev.shape, message: ev.message }] };
    case 'done':
      return { ...state, current: undefined, finished: true, results: ev.results };
  }
}

/** "█████░░░░░" for done/total in `width` cells. */
export function progressBar(done: number, total: number, width = 30): string {
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

// narrower than the plain table (the longest name is 17, the longest shape 15); kernel and shape
// shrink (truncated) before the numbers do on a narrow terminal
const W = { kernel: 18, shape: 16, ms: 11, gflops: 8, gbps: 7, pct: 6, old: 9, ratio: 7 };

function Cell({ w, right, shrink, children, color, dim }: { w: number; right?: boolean; shrink?: boolean; children: string; color?: string; dim?: boolean }) {
  return (
    <Box width={w + 2} flexShrink={shrink ? 1 : 0}>
      <Text color={color} dimColor={dim} wrap="truncate-end">
        {right ? children.padStart(w) : children}
      </Text>
    </Box>
  );
}

function Header({ compare }: { compare: boolean }) {
  return (
    <Box>
      <Cell shrink w={W.kernel}>kernel</Cell>
      <Cell shrink w={W.shape}>shape</Cell>
      <Cell w={W.ms} right>ms (median)</Cell>
      <Cell w={W.gflops} right>GFLOP/s</Cell>
      <Cell w={W.gbps} right>GB/s</Cell>
      <Cell w={W.pct} right>% peak</Cell>
      {compare ? <Cell w={W.old} right>old ms</Cell> : null}
      {compare ? <Cell w={W.ratio} right>ratio</Cell> : null}
    </Box>
  );
}

function Row({ row, compare }: { row: BenchViewRow; compare: boolean }) {
  if (row.kind === 'error') {
    return (
      <Box>
        <Cell shrink w={W.kernel}>{row.name}</Cell>
        <Cell shrink w={W.shape}>{row.shape}</Cell>
        <Cell w={W.ms} right color="red">error</Cell>
        <Box flexShrink={1}>
          <Text color="red" wrap="truncate-end">
            {row.message}
          </Text>
        </Box>
      </Box>
    );
  }
  const r = row.result;
  const c = row.compare;
  const color = c?.status === 'regression' ? 'red' : c?.status === 'faster' ? 'green' : undefined;
  const marker = c ? compareMarker(c.status) : '';
  return (
    <Box>
      <Cell shrink w={W.kernel}>{r.name}</Cell>
      <Cell shrink w={W.shape}>{r.shape}</Cell>
      <Cell w={W.ms} right color={color}>{formatNumber(r.ms_median)}</Cell>
      <Cell w={W.gflops} right>{formatNumber(r.gflops)}</Cell>
      <Cell w={W.gbps} right>{formatNumber(r.gbps)}</Cell>
      <Cell w={W.pct} right>{formatPct(r.pct_of_peak)}</Cell>
      {compare ? <Cell w={W.old} right dim>{c?.old_ms === undefined ? '-' : formatNumber(c.old_ms)}</Cell> : null}
      {compare ? <Cell w={W.ratio} right color={color}>{formatRatio(c?.ratio)}</Cell> : null}
      {marker ? (
        <Box flexShrink={0}>
          <Text color={color} bold={c?.status === 'regression'}>
            {marker}
          </Text>
        </Box>
      ) : null}
    </Box>
  );
}

/** The view of one state (exported for tests and for callers that drive the reducer themselves). */
export function BenchTableView({ state, baseline }: { state: BenchViewState; baseline?: Baseline }) {
  const compare = Boolean(baseline);
  return (
    <Box flexDirection="column">
      <Text>adapter: {state.adapter ?? '…'}</Text>
      {baseline ? <Text dimColor>compared with: {describeBaseline(baseline)}</Text> : null}
      <Text dimColor={!state.ceilings}>{state.ceilings ? describeCeilings(state.ceilings, formatNumber) : state.adapter && !state.finished && state.done === 0 && !state.current ? 'measuring ceilings…' : ''}</Text>
      <Header compare={compare} />
      {state.rows.map((row, i) => (
        <Row key={i} row={row} compare={compare} />
      ))}
      {state.current ? (
        <Box>
          <Cell shrink w={W.kernel} dim>{state.current.name}</Cell>
          <Cell shrink w={W.shape} dim>{state.current.shape}</Cell>
          <Text color="yellow">running…</Text>
        </Box>
      ) : null}
      <Box marginTop={1}>
        <Text color={state.finished ? 'green' : 'cyan'}>{progressBar(state.done, state.total)}</Text>
        <Text>
          {' '}
          {state.done}/{state.total} cases{state.finished ? ' done' : ''}
        </Text>
      </Box>
      {state.finished && baseline && state.results ? <Text>{compareSummary(compareRuns(baseline.run, state.results, baseline.thresholdPct), baseline.thresholdPct)}</Text> : null}
    </Box>
  );
}

export interface BenchTableProps {
  events: AsyncIterable<BenchEvent>;
  baseline?: Baseline;
  /** called once the stream ends (with the error if it threw) */
  onDone?: (error?: unknown) => void;
}

/** Consumes `events` and redraws as each one arrives. */
export function BenchTable({ events, baseline, onDone }: BenchTableProps) {
  const [state, dispatch] = useReducer((s: BenchViewState, ev: BenchEvent) => reduceBenchView(s, ev, baseline), initialBenchView);
  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        for await (const ev of events) {
          if (cancelled) break;
          dispatch(ev);
        }
        onDone?.();
      } catch (e) {
        onDone?.(e);
      }
    })();
    return () => {
      cancelled = true;
    };
    // the stream is consumed once, for the life of the component
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return <BenchTableView state={state} baseline={baseline} />;
}
