import { Box, Text, useInput, useStdin } from 'ink';
import { useReducer, useRef } from 'react';
import type { TuneControls } from '../../engine/tuner-control.js';
import type { TuneEvent, TuneStartEvent } from '../../engine/tuner-events.js';
import { formatBytes } from '../../format.js';
import { progressBar } from '../bench-table.js';
import { fmtLoss, fmtLr, fmtMetric, formatDuration } from '../tune-print.js';
import { brailleChart } from './braille-chart.js';
import { useEventStream } from '../use-event-stream.js';
import { useTerminalSize } from '../use-terminal-size.js';
import { readRunHistory } from './run-history.js';
import { chartedMetric, EVALS_KEPT, etaSeconds, initialTuneView, LOG_LINES, reduceTuneView, wantsPause, type HistoryAction, type LogLine, type TuneViewAction, type TuneViewState, type ViewStage } from './view-state.js';

/**
 * The live `ponder tune` dashboard on a terminal. It draws the same TuneEvent stream the plain and
 * JSON printers print, through one reducer (view-state.ts): stages with their status, a progress bar
 * with ETA, the loss curve (braille) and beside it the stage's headline metric when it has one
 * (e.g. GRPO's reward; view-state.ts chartedMetric), lr / grad norm / tokens per second / GPU memory, the latest
 * evaluations and sample, recent checkpoints and warnings, and the keys:
 *
 *   p pause / resume   s checkpoint now   e evaluate now   q checkpoint and quit
 *   Ctrl-C once: checkpoint and stop (as q); twice: exit now (the CLI decides, via onInterrupt)
 *
 * Keys go to the engine through TuneControls only; the view never imports the model or the GPU.
 * Layout follows the terminal: at WIDE_COLUMNS and more the stages and numbers sit left of the loss
 * chart, below that everything stacks. Every line is cut at the terminal's width, and planFrame gives
 * up the less useful parts (chart rows, log lines, blank lines, older evals, ...) until the frame fits
 * the terminal's rows: Ink redraws a frame as tall as the screen by clearing the screen and the
 * scrollback, which flickers and loses what the user scrolled past. Lists show newest first. Paused
 * and stopped runs say so in the status line; once the run ends the key legend becomes a one-line
 * summary (tuneSummary), the line the terminal keeps after the app exits. After `--resume` the
 * run's earlier steps and evaluations are read back from its metrics.jsonl (run-history.ts).
 */
export const WIDE_COLUMNS = 100;
const LEFT_WIDTH = 46;
const Y_LABEL_WIDTH = 8;
const CTRL_C = '\x03';

const STATUS_MARK: Record<ViewStage['status'], { mark: string; color?: string }> = {
  pending: { mark: '·' },
  running: { mark: '▶', color: 'cyan' },
  done: { mark: '✓', color: 'green' },
};

function StageLine({ st, i, state, nameW, countW, suffix = '' }: { st: ViewStage; i: number; state: TuneViewState; nameW: number; countW: number; suffix?: string }) {
  const m = STATUS_MARK[st.status];
  // the running stage's micro-batch (rows x tokens) and accumulation
  const micro = i === state.current && state.batch && st.status === 'running' ? ` ${state.batch.size}x${state.batch.seqLen}${state.batch.accum > 1 ? `x${state.batch.accum}acc` : ''}` : '';
  return (
    <Text wrap="truncate-end" dimColor={st.status === 'pending'}>
      <Text color={m.color}>{m.mark}</Text> {st.name.padEnd(nameW)} {st.kind.padEnd(8)} {`${st.done}/${st.steps}`.padStart(countW)} {st.status}
      {micro}
      {suffix}
    </Text>
  );
}

/** Every stage under a title, or (a short terminal) the running stage's line alone. */
function Stages({ state, all }: { state: TuneViewState; all: boolean }) {
  const nameW = Math.min(16, Math.max(5, ...state.stages.map((s) => s.name.length)));
  const countW = 2 * Math.max(1, ...state.stages.map((s) => String(s.steps).length)) + 1;
  if (!all) {
    const i = Math.max(0, Math.min(state.stages.length - 1, state.current ?? state.stages.findIndex((s) => s.status !== 'done')));
    const st = state.stages[i];
    return st ? <StageLine st={st} i={i} state={state} nameW={nameW} countW={countW} suffix={state.stages.length > 1 ? `   stage ${i + 1} of ${state.stages.length}` : ''} /> : null;
  }
  return (
    <Box flexDirection="column">
      <Text bold>stages</Text>
      {state.stages.map((st, i) => (
        <StageLine key={i} st={st} i={i} state={state} nameW={nameW} countW={countW} />
      ))}
    </Box>
  );
}

function Progress({ state, width }: { state: TuneViewState; width: number }) {
  const { globalStep, totalSteps } = state;
  const pct = totalSteps > 0 ? Math.floor((100 * globalStep) / totalSteps) : 0;
  const eta = state.finished ? 0 : etaSeconds(state);
  const elapsed = state.finished?.kind === 'done' ? state.finished.elapsedS : state.last?.elapsed_s;
  const barW = Math.max(10, Math.min(40, width - 24));
  const color = state.finished?.kind === 'done' ? 'green' : state.paused || state.finished ? 'yellow' : 'cyan';
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text color={color}>{progressBar(globalStep, totalSteps, barW)}</Text> {globalStep}/{totalSteps} steps {pct}%
      </Text>
      <Text wrap="truncate-end">
        eta {state.finished ? '-' : state.paused ? 'paused' : eta === undefined ? '-' : formatDuration(eta)}   elapsed {elapsed === undefined ? '-' : formatDuration(elapsed)}
      </Text>
    </Box>
  );
}

/** The step's metrics beyond loss and mtp_loss (shown on their own line), as "name value". */
function extraMetrics(l: TuneViewState['last'] & object): string[] {
  return Object.entries(l.metrics ?? {})
    .filter(([k]) => k !== 'loss' && k !== 'mtp_loss')
    .map(([k, v]) => `${k} ${fmtMetric(v)}`);
}

/** Rows the numbers take: a waiting line, or loss/lr + throughput (+ the other metrics). */
function numbersRows(state: TuneViewState): number {
  if (!state.last) return 1;
  return 2 + (extraMetrics(state.last).length > 0 ? 1 : 0);
}

function Numbers({ state }: { state: TuneViewState }) {
  const l = state.last;
  if (!l) return <Text dimColor wrap="truncate-end">{state.resumedAt !== undefined ? `waiting for the first step after ${state.resumedAt}…` : 'waiting for the first step…'}</Text>;
  const gnorm = Number.isFinite(l.grad_norm) ? l.grad_norm.toFixed(3) : String(l.grad_norm);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        loss <Text bold>{fmtLoss(l.loss)}</Text>
        {l.mtp_loss !== undefined ? <Text>   mtp {fmtLoss(l.mtp_loss)}</Text> : null}   lr {fmtLr(l.lr)}   gnorm {gnorm}
        {l.skipped ? <Text color="red"> (skipped)</Text> : null}
      </Text>
      {extraMetrics(l).length > 0 ? <Text wrap="truncate-end">{extraMetrics(l).join('   ')}</Text> : null}
      <Text wrap="truncate-end">
        {Math.round(l.tokens_per_s).toLocaleString('en-US')} tok/s   {Math.round(l.step_ms)} ms/step   GPU mem {formatBytes(l.gpu_mem_bytes)}
      </Text>
    </Box>
  );
}

/** One metric's braille chart: title, y labels (max on top, min at the bottom), the curve. */
function MetricChart({ name, points, stride, width, height, color }: { name: string; points: number[]; stride: number; width: number; height: number; color: string }) {
  const chartW = Math.max(8, width - Y_LABEL_WIDTH - 1);
  const chart = brailleChart(points, chartW, height);
  const perPoint = stride * chart.valuesPerColumn;
  const title = perPoint > 1 ? `${name} (each dot column: mean of ${perPoint % 1 === 0 ? perPoint : perPoint.toFixed(1)} steps)` : `${name} (one dot column per step)`;
  const label = (i: number) => {
    if (chart.min === undefined || chart.max === undefined) return '';
    if (i === 0) return chart.max.toFixed(3);
    if (i === height - 1) return chart.min.toFixed(3);
    return '';
  };
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {title}
      </Text>
      {chart.rows.map((row, i) => (
        <Text key={i} wrap="truncate-end">
          <Text dimColor>{label(i).padStart(Y_LABEL_WIDTH - 1)} ┤</Text>
          <Text color={color}>{row}</Text>
        </Text>
      ))}
    </Box>
  );
}

/** The loss curve, and the headline metric's curve beside it (each half the width) when there is one. */
function Charts({ state, width, height }: { state: TuneViewState; width: number; height: number }) {
  const loss = <MetricChart name="loss" points={state.losses} stride={state.lossStride} width={width} height={height} color="cyan" />;
  const other = chartedMetric(state);
  if (other === undefined) return loss;
  const half = Math.floor((width - 2) / 2);
  const c = state.curves[other]!;
  return (
    <Box>
      <Box width={half}>
        <MetricChart name="loss" points={state.losses} stride={state.lossStride} width={half} height={height} color="cyan" />
      </Box>
      <Box marginLeft={2} width={width - half - 2}>
        <MetricChart name={other} points={c.points} stride={c.stride} width={width - half - 2} height={height} color="magenta" />
      </Box>
    </Box>
  );
}

function evalText(e: TuneViewState['evals'][number]): string {
  return `step ${e.step} ${e.task} ${(e.accuracy * 100).toFixed(1)}% (${e.correct}/${e.n})${e.mtp_acceptance !== undefined ? `, drafts ${(e.mtp_acceptance * 100).toFixed(0)}% accepted` : ''}`;
}

/** The latest evaluations, newest first, one a line (at most `lines`). */
function Evals({ state, lines }: { state: TuneViewState; lines: number }) {
  if (lines <= 0) return null;
  if (state.evals.length === 0) return <Text dimColor>eval: none yet</Text>;
  const newest = [...state.evals].reverse().slice(0, lines);
  return (
    <Box flexDirection="column">
      {newest.map((e, i) => (
        <Text key={i} wrap="truncate-end" dimColor={i > 0}>
          <Text bold={i === 0}>eval</Text> {evalText(e)}
        </Text>
      ))}
    </Box>
  );
}

function Sample({ state }: { state: TuneViewState }) {
  const s = state.sample;
  if (!s) return null;
  return (
    <Text wrap="truncate-end">
      <Text bold>{s.reward !== undefined ? 'rollout' : 'sample'}</Text> (step {s.step}{s.reward !== undefined ? `, reward ${s.reward.toFixed(2)}` : ''}) {JSON.stringify(s.prompt)} → {JSON.stringify(s.text)}
    </Text>
  );
}

const LOG_COLOR: Record<LogLine['kind'], string | undefined> = { checkpoint: 'green', warning: 'yellow', notice: undefined, info: undefined };

/** Checkpoints, warnings and notices, newest first (at most `lines`). */
function Log({ log, lines }: { log: LogLine[]; lines: number }) {
  if (lines <= 0) return null;
  return (
    <Box flexDirection="column">
      {[...log]
        .reverse()
        .slice(0, lines)
        .map((l, i) => (
          <Text key={i} color={LOG_COLOR[l.kind]} wrap="truncate-end">
            {l.text}
          </Text>
        ))}
    </Box>
  );
}

/** The status line: what the run is doing or waiting for, or how it ended. */
function Status({ state }: { state: TuneViewState }) {
  const f = state.finished;
  if (f?.kind === 'done') return <Text color="green" wrap="truncate-end">done: model saved to {f.finalDir}{f.report ? `; report card ${f.report}` : ''}</Text>;
  if (f?.kind === 'interrupted') return <Text color="yellow" bold wrap="truncate-end">STOPPED after step {f.step}; checkpoint {f.checkpoint}</Text>;
  const p = state.pending;
  const parts: string[] = [];
  if (p.quit || p.interrupt) parts.push('stopping after this step: checkpoint, then exit…');
  if (p.checkpoint) parts.push('checkpoint after this step…');
  if (p.evaluate) parts.push('evaluating after this step…');
  if (p.pause) parts.push('pausing after this step…');
  if (p.resume) parts.push('resuming…');
  if (state.paused && !p.resume) return <Text color="yellow" bold wrap="truncate-end">PAUSED after step {state.globalStep}{parts.length ? `   ${parts.join('   ')}` : ''} (p resumes)</Text>;
  return <Text color={parts.length ? 'yellow' : undefined} wrap="truncate-end">{parts.length ? parts.join('   ') : 'training'}</Text>;
}

/**
 * The run in one line, for the frame's last line once it has ended (so it is the line the terminal
 * keeps right above the prompt after the app exits): how far it got and in how long, the loss from
 * its first step to its last, and the newest evaluation; parts drop from the end to fit `width`.
 */
export function tuneSummary(state: TuneViewState, width = Infinity): string {
  const f = state.finished;
  const parts: string[] = [];
  if (f?.kind === 'done') parts.push(`done: ${state.totalSteps} steps in ${formatDuration(f.elapsedS)}`);
  else if (f?.kind === 'interrupted') parts.push(`stopped at step ${f.step} of ${state.totalSteps}${state.last ? ` after ${formatDuration(state.last.elapsed_s)}` : ''}`);
  else parts.push(`step ${state.globalStep} of ${state.totalSteps}`);
  if (state.firstLoss !== undefined && state.last) parts.push(`loss ${state.firstLoss.toFixed(3)} → ${state.last.loss.toFixed(3)}`);
  const e = state.evals.at(-1);
  if (e) parts.push(`${e.task} ${(e.accuracy * 100).toFixed(1)}% at step ${e.step}`);
  while (parts.length > 1 && parts.join(' · ').length > width) parts.pop();
  return parts.join(' · ');
}

/** The key legend, the longest wording that fits the width. */
const LEGENDS = [
  (pause: string) => `p ${pause} · s checkpoint · e evaluate · q checkpoint & quit · Ctrl-C stop (twice: now)`,
  (pause: string) => `p ${pause} · s checkpoint · e evaluate · q checkpoint & quit · Ctrl-C stop`,
  (pause: string) => `p ${pause} · s checkpoint · e eval · q quit · Ctrl-C stop`,
  (pause: string) => `p ${pause} · s save · e eval · q quit`,
];

function Legend({ state, columns }: { state: TuneViewState; columns: number }) {
  if (state.finished) return <Text bold wrap="truncate-end">{tuneSummary(state, columns)}</Text>;
  const pause = wantsPause(state) ? 'resume' : 'pause';
  const text = LEGENDS.map((l) => l(pause)).find((t) => t.length <= columns) ?? LEGENDS.at(-1)!(pause);
  return (
    <Text dimColor wrap="truncate-end">
      {text}
    </Text>
  );
}

/**
 * What one frame shows at a terminal size. Ink redraws a frame as tall as the terminal by clearing
 * the screen and the scrollback (a flicker each step, and the user's scrollback lost), so the frame
 * must stay at most rows - 1 lines; every line is cut at the width (truncate-end), so a line is a row.
 */
export interface FramePlan {
  wide: boolean;
  /** blank lines between the sections */
  gaps: boolean;
  /** every stage under a title, or the running stage's line alone */
  allStages: boolean;
  /** chart rows; 0: no chart */
  chartHeight: number;
  evalLines: number;
  sample: boolean;
  logLines: number;
}

export const MAX_CHART_HEIGHT = 8;
const MIN_CHART_HEIGHT = 2;

/** The frame's height for a plan (see TuneDashboardView for the order of its parts). */
export function frameHeight(state: TuneViewState, p: FramePlan): number {
  const gap = p.gaps ? 1 : 0;
  const stages = p.allStages ? 1 + state.stages.length : 1;
  const left = stages + gap + 2 + numbersRows(state);
  const chart = p.chartHeight > 0 ? 1 + p.chartHeight : 0;
  const main = p.wide ? Math.max(left, chart) : left + chart;
  const below = p.evalLines + (p.sample ? 1 : 0) + p.logLines;
  return 2 + gap + main + (below > 0 ? gap + below : 0) + 1;
}

/**
 * The richest plan that fits `rows - 1` lines: start from everything (chart 8 rows, every stage,
 * 3 evals, the sample, 4 log lines, blank lines between sections), then give things up in this order
 * until it fits: chart rows down to 4, log lines down to 1, the blank lines, evals down to 1, the
 * sample, the stage list (the running stage stays), chart rows down to 2, the log, the eval line, and
 * last the chart. Header, status, progress, numbers and the key legend always stay.
 */
export function planFrame(state: TuneViewState, columns: number, rows: number): FramePlan {
  const budget = rows - 1;
  const p: FramePlan = {
    wide: columns >= WIDE_COLUMNS,
    gaps: true,
    allStages: true,
    chartHeight: MAX_CHART_HEIGHT,
    evalLines: Math.max(1, Math.min(EVALS_KEPT, state.evals.length)),
    sample: state.sample !== undefined,
    logLines: Math.min(LOG_LINES, state.log.length),
  };
  const fits = () => frameHeight(state, p) <= budget;
  const steps: (() => boolean)[] = [
    () => p.chartHeight > 4 && (p.chartHeight--, true),
    () => p.logLines > 1 && (p.logLines--, true),
    () => p.gaps && !(p.gaps = false),
    () => p.evalLines > 1 && (p.evalLines--, true),
    () => p.sample && !(p.sample = false),
    () => p.allStages && !(p.allStages = false),
    () => p.chartHeight > MIN_CHART_HEIGHT && (p.chartHeight--, true),
    () => p.logLines > 0 && (p.logLines--, true),
    () => p.evalLines > 0 && (p.evalLines--, true),
    () => p.chartHeight > 0 && ((p.chartHeight = 0), true),
  ];
  for (const give of steps) {
    while (!fits() && give());
    if (fits()) break;
  }
  // a wide frame's chart can grow to the left column's height at no cost in rows
  if (p.wide && p.chartHeight > 0) {
    while (p.chartHeight < MAX_CHART_HEIGHT && frameHeight(state, { ...p, chartHeight: p.chartHeight + 1 }) <= Math.min(budget, frameHeight(state, p))) p.chartHeight++;
  }
  return p;
}

/** The view of one state at a terminal size (exported for tests and other drivers). */
export function TuneDashboardView({ state, columns, rows }: { state: TuneViewState; columns: number; rows: number }) {
  if (state.output === undefined) return <Text dimColor>ponder tune: starting…</Text>;
  const plan = planFrame(state, columns, rows);
  const { wide } = plan;
  const gap = plan.gaps ? 1 : 0;
  const header = (
    <Text wrap="truncate-end">
      <Text bold color="cyan">ponder tune</Text>
      {state.resumedAt !== undefined ? ` (resumed at step ${state.resumedAt})` : ''} → {state.output}
      {state.parameters !== undefined ? `   ${state.parameters.toLocaleString('en-US')} parameters` : ''}
    </Text>
  );
  const left = (w: number) => (
    <Box flexDirection="column" width={w}>
      <Stages state={state} all={plan.allStages} />
      <Box marginTop={gap} flexDirection="column">
        <Progress state={state} width={w} />
        <Numbers state={state} />
      </Box>
    </Box>
  );
  const below = plan.evalLines + (plan.sample ? 1 : 0) + plan.logLines;
  return (
    <Box flexDirection="column" width={columns}>
      {header}
      <Status state={state} />
      {wide ? (
        <Box marginTop={gap}>
          {left(LEFT_WIDTH)}
          {plan.chartHeight > 0 ? (
            <Box marginLeft={2} flexGrow={1}>
              <Charts state={state} width={columns - LEFT_WIDTH - 2} height={plan.chartHeight} />
            </Box>
          ) : null}
        </Box>
      ) : (
        <Box marginTop={gap} flexDirection="column">
          {left(columns)}
          {plan.chartHeight > 0 ? <Charts state={state} width={columns} height={plan.chartHeight} /> : null}
        </Box>
      )}
      {below > 0 ? (
        <Box marginTop={gap} flexDirection="column">
          <Evals state={state} lines={plan.evalLines} />
          {plan.sample ? <Sample state={state} /> : null}
          <Log log={state.log} lines={plan.logLines} />
        </Box>
      ) : null}
      <Legend state={state} columns={columns} />
    </Box>
  );
}

export interface TuneDashboardProps {
  events: AsyncIterable<TuneEvent>;
  controls: TuneControls;
  /** Ctrl-C (the terminal is in raw mode, so it arrives as a key): the CLI stops, or exits on the second */
  onInterrupt?: () => void;
  /** called once the stream ends (with the error if it threw) */
  onDone?: (error?: unknown) => void;
  /** a resumed run's earlier steps and evals (default: read from its metrics.jsonl) */
  loadHistory?: (start: TuneStartEvent) => HistoryAction | undefined;
}

/** Consumes `events`, redraws as each arrives, and turns keys into control calls. */
export function TuneDashboard({ events, controls, onInterrupt, onDone, loadHistory = readRunHistory }: TuneDashboardProps) {
  const [state, dispatch] = useReducer(reduceTuneView, initialTuneView);
  const { columns, rows } = useTerminalSize();
  const { isRawModeSupported } = useStdin();
  // the key handler reads the newest state, not the one of the render that registered it; several
  // keys can arrive in one chunk, so the ref also advances with each key's own action
  const stateRef = useRef(state);
  stateRef.current = state;
  const act = (action: TuneViewAction) => {
    stateRef.current = reduceTuneView(stateRef.current, action);
    dispatch(action);
  };

  // events are dispatched in order, so a resumed run's history lands right after its start event
  const onEvent = (ev: TuneEvent) => {
    dispatch(ev);
    if (ev.type === 'start' && ev.resumed) {
      const history = loadHistory(ev);
      if (history) dispatch(history);
    }
  };
  useEventStream(events, onEvent, onDone);

  const onKey = (ch: string) => {
    if (ch === CTRL_C) {
      act({ type: 'key', request: 'interrupt' });
      onInterrupt?.();
      return;
    }
    const s = stateRef.current;
    if (s.finished) return;
    switch (ch.toLowerCase()) {
      case 'p':
        if (wantsPause(s)) {
          controls.resume();
          act({ type: 'key', request: 'resume' });
        } else {
          controls.pause();
          act({ type: 'key', request: 'pause' });
        }
        break;
      case 's':
        controls.checkpointNow();
        act({ type: 'key', request: 'checkpoint' });
        break;
      case 'e':
        controls.evaluateNow();
        act({ type: 'key', request: 'evaluate' });
        break;
      case 'q':
        controls.quit();
        act({ type: 'key', request: 'quit' });
        break;
    }
  };
  useInput(
    (input, key) => {
      // Ink hands over one keypress as (name, ctrl) but keys typed together as one string (e.g.
      // "\x03\x03" for a quick double Ctrl-C, or "se"), so a plain chunk is taken key by key
      if (key.ctrl) {
        if (input === 'c') onKey(CTRL_C);
        return;
      }
      if (key.meta) return;
      for (const ch of input) onKey(ch);
    },
    { isActive: isRawModeSupported === true },
  );

  return <TuneDashboardView state={state} columns={columns} rows={rows} />;
}
