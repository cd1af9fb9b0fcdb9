import { Box, Text } from 'ink';
import { useReducer } from 'react';
import { describeCeilings, type BenchCeilings } from '../engine/bench/ceilings.js';
import { compareMarker, compareRuns, compareSummary, formatRatio, type Baseline, type CompareRow } from '../engine/bench/compare.js';
import type { BenchEvent } from '../engine/bench/runner.js';
import { suiteOf, type BenchResult, type BenchSuite } from '../engine/bench/types.js';
import { describeBaseline, formatNumber, modelRowNotes, peersOf, suiteColumns, type BenchColumn } from './bench-print.js';
import { useEventStream } from './use-event-stream.js';

/**
 * The live `ponder bench` view on a terminal: the same BenchEvent stream as the plain printer, drawn
 * as an Ink table that fills in row by row, with the running case and a progress bar (cases done of
 * total) under it. A run of several suites draws one table per suite, with the columns of the plain
 * printer (suiteColumns) at their narrow widths. State is a pure reducer over events so the view can
 * be tested from synthetic events without a GPU.
 */
export type BenchViewRow =
  | { kind: 'result'; suite: BenchSuite; result: BenchResult; compare?: CompareRow }
  | { kind: 'error'; suite: BenchSuite; name: string; shape: string; message: string };

export interface BenchViewState {
  adapter?: string;
  total: number;
  done: number;
  ceilings?: BenchCeilings;
  /** one-line remarks (peers that run or are skipped) */
  notes: string[];
  /** the case being timed now */
  current?: { suite: BenchSuite; name: string; shape: string };
  rows: BenchViewRow[];
  finished: boolean;
  results?: BenchResult[];
}

export const initialBenchView: BenchViewState = { total: 0, done: 0, notes: [], rows: [], finished: false };

export function reduceBenchView(state: BenchViewState, ev: BenchEvent, baseline?: Baseline): BenchViewState {
  switch (ev.type) {
    case 'start':
      return { ...state, adapter: ev.adapter, total: ev.total };
    case 'ceilings':
      return { ...state, ceilings: ev.ceilings };
    case 'note':
      return { ...state, notes: [...state.notes, ev.message] };
    case 'case':
      return { ...state, current: { suite: ev.suite ?? 'kernels', name: ev.name, shape: ev.shape } };
    case 'result':
      return {
        ...state,
        done: state.done + 1,
        current: undefined,
        rows: [...state.rows, { kind: 'result', suite: suiteOf(ev.result), result: ev.result, ...(baseline ? { compare: baseline.compare(ev.result) } : {}) }],
      };
    case 'error':
      return { ...state, done: state.done + 1, current: undefined, rows: [...state.rows, { kind: 'error', suite: ev.suite ?? 'kernels', name: ev.name, shape: ev.shape, message: ev.message }] };
    case 'done':
      return { ...state, current: undefined, finished: true, results: ev.results };
  }
}

/** "█████░░░░░" for done/total in `width` cells. */
export function progressBar(done: number, total: number, width = 30): string {
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

const W = { old: 9, ratio: 7 };

function Cell({ w, right, shrink, children, color, dim }: { w: number; right?: boolean; shrink?: boolean; children: string; color?: string; dim?: boolean }) {
  return (
    <Box width={w + 2} flexShrink={shrink ? 1 : 0}>
      <Text color={color} dimColor={dim} wrap="truncate-end">
        {right ? children.padStart(w) : children}
      </Text>
    </Box>
  );
}

// the name and shape columns shrink (truncated) before the numbers do on a narrow terminal
const width = (c: BenchColumn) => c.narrow ?? c.width;

function Header({ columns, compare }: { columns: BenchColumn[]; compare: boolean }) {
  return (
    <Box>
      {columns.map((c, i) => (
        <Cell key={i} shrink={c.align === 'left'} w={width(c)} right={c.align === 'right'}>
          {c.title}
        </Cell>
      ))}
      {compare ? <Cell w={W.old} right>old ms</Cell> : null}
      {compare ? <Cell w={W.ratio} right>ratio</Cell> : null}
    </Box>
  );
}

function Row({ row, columns, compare }: { row: BenchViewRow; columns: BenchColumn[]; compare: boolean }) {
  if (row.kind === 'error') {
    return (
      <Box>
        <Cell shrink w={width(columns[0]!)}>{row.name}</Cell>
        <Cell shrink w={width(columns[1]!)}>{row.shape}</Cell>
        <Cell w={width(columns[2]!)} right color="red">error</Cell>
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
  const notes = modelRowNotes(r);
  const line = (
    <Box>
      {columns.map((col, i) => (
        <Cell key={i} shrink={col.align === 'left'} w={width(col)} right={col.align === 'right'} color={i === 2 ? color : undefined}>
          {col.value(r)}
        </Cell>
      ))}
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
  if (!notes) return line;
  // why a peer has no figure goes under the row: a full row leaves no room beside it on a narrow terminal
  return (
    <Box flexDirection="column">
      {line}
      <Box paddingLeft={2}>
        <Text color="yellow" wrap="truncate-end">
          {notes}
        </Text>
      </Box>
    </Box>
  );
}

/** The suites in the order their rows (or the running case) appeared; kernels when nothing has yet. */
function suitesShown(state: BenchViewState): BenchSuite[] {
  const seen: BenchSuite[] = [];
  for (const s of [...state.rows.map((r) => r.suite), ...(state.current ? [state.current.suite] : [])]) if (!seen.includes(s)) seen.push(s);
  return seen.length ? seen : ['kernels'];
}

/** The view of one state (exported for tests and for callers that drive the reducer themselves). */
export function BenchTableView({ state, baseline, peers, modelPeers, trainPeers }: { state: BenchViewState; baseline?: Baseline; peers?: readonly string[]; modelPeers?: readonly string[]; trainPeers?: readonly string[] }) {
  const compare = Boolean(baseline);
  return (
    <Box flexDirection="column">
      <Text>adapter: {state.adapter ?? '…'}</Text>
      {baseline ? <Text dimColor>compared with: {describeBaseline(baseline)}</Text> : null}
      <Text dimColor={!state.ceilings}>{state.ceilings ? describeCeilings(state.ceilings, formatNumber) : state.adapter && !state.finished && state.done === 0 && !state.current ? 'measuring ceilings…' : ''}</Text>
      {state.notes.map((n, i) => (
        <Text key={i} dimColor>
          {n}
        </Text>
      ))}
      {suitesShown(state).map((suite) => {
        const columns = suiteColumns(suite, peersOf(suite, { peers, modelPeers, trainPeers }));
        return (
          <Box key={suite} flexDirection="column" marginTop={suite === 'kernels' ? 0 : 1}>
            <Header columns={columns} compare={compare} />
            {state.rows
              .filter((row) => row.suite === suite)
              .map((row, i) => (
                <Row key={i} row={row} columns={columns} compare={compare} />
              ))}
            {state.current?.suite === suite ? (
              <Box>
                <Cell shrink w={width(columns[0]!)} dim>{state.current.name}</Cell>
                <Cell shrink w={width(columns[1]!)} dim>{state.current.shape}</Cell>
                <Text color="yellow">running…</Text>
              </Box>
            ) : null}
          </Box>
        );
      })}
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
  /** --peers: the matmul peers asked for (their columns on matmul rows) */
  peers?: readonly string[];
  /** --peers: the model peers asked for (their columns on batch-1 prefill and decode rows) */
  modelPeers?: readonly string[];
  /** --peers: the training peers asked for (their columns on train rows) */
  trainPeers?: readonly string[];
  /** called once the stream ends (with the error if it threw) */
  onDone?: (error?: unknown) => void;
}

/** Consumes `events` and redraws as each one arrives. */
export function BenchTable({ events, baseline, peers, modelPeers, trainPeers, onDone }: BenchTableProps) {
  const [state, dispatch] = useReducer((s: BenchViewState, ev: BenchEvent) => reduceBenchView(s, ev, baseline), initialBenchView);
  useEventStream(events, dispatch, onDone);
  return <BenchTableView state={state} baseline={baseline} peers={peers} modelPeers={modelPeers} trainPeers={trainPeers} />;
}
