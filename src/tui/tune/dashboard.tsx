import { Box, Text, useInput, useStdin } from 'ink';
import { useReducer, useRef } from 'react';
import type { TuneControls } from '../../engine/tuner-control.js';
import type { TuneEvent } from '../../engine/tuner-events.js';
import { formatBytes } from '../../format.js';
import { progressBar } from '../bench-table.js';
import { fmtLoss, fmtLr, fmtMetric, formatDuration } from '../tune-print.js';
import { brailleChart } from './braille-chart.js';
import { useEventStream } from '../use-event-stream.js';
import { useTerminalSize } from '../use-terminal-size.js';
import { chartedMetric, etaSeconds, initialTuneView, reduceTuneView, wantsPause, type LogLine, type TuneViewAction, type TuneViewState, type ViewStage } from './view-state.js';

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
 * chart, below that everything stacks; the chart's height shrinks with the terminal's rows so a frame
 * never outgrows the screen (Ink redraws a too-tall frame by clearing the screen, which flickers).
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

function Stages({ state }: { state: TuneViewState }) {
  const nameW = Math.min(16, Math.max(5, ...state.stages.map((s) => s.name.length)));
  const countW = 2 * Math.max(1, ...state.stages.map((s) => String(s.steps).length)) + 1;
  return (
    <Box flexDirection="column">
      <Text bold>stages</Text>
      {state.stages.map((st, i) => {
        const m = STATUS_MARK[st.status];
        // the running stage's micro-batch (rows x tokens) and accumulation
        const micro = i === state.current && state.batch && st.status === 'running' ? ` ${state.batch.size}x${state.batch.seqLen}${state.batch.accum > 1 ? `x${state.batch.accum}acc` : ''}` : '';
        return (
          <Text key={i} wrap="truncate-end" dimColor={st.status === 'pending'}>
            <Text color={m.color}>{m.mark}</Text> {st.name.padEnd(nameW)} {st.kind.padEnd(8)} {`${st.done}/${st.steps}`.padStart(countW)} {st.status}
            {micro}
          </Text>
        );
      })}
    </Box>
  );
}

function Progress({ state, width }: { state: TuneViewState; width: number }) {
  const { globalStep, totalSteps } = state;
  const pct = totalSteps > 0 ? Math.floor((100 * globalStep) / totalSteps) : 0;
  const eta = state.finished ? 0 : etaSeconds(state);
  const elapsed = state.finished?.kind === 'done' ? state.finished.elapsedS : state.last?.elapsed_s;
  const barW = Math.max(10, Math.min(40, width - 24));
  return (
    <Box flexDirection="column">
      <Text>
        <Text color={state.finished?.kind === 'done' ? 'green' : state.paused ? 'yellow' : 'cyan'}>{progressBar(globalStep, totalSteps, barW)}</Text> {globalStep}/{totalSteps} steps {pct}%
      </Text>
      <Text>
        eta {state.paused ? 'paused' : eta === undefined ? '-' : formatDuration(eta)}   elapsed {elapsed === undefined ? '-' : formatDuration(elapsed)}
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

function Numbers({ state }: { state: TuneViewState }) {
  const l = state.last;
  if (!l) return <Text dimColor>waiting for the first step…</Text>;
  const gnorm = Number.isFinite(l.grad_norm) ? l.grad_norm.toFixed(3) : String(l.grad_norm);
  return (
    <Box flexDirection="column">
      <Text>
        loss <Text bold>{fmtLoss(l.loss)}</Text>
        {l.mtp_loss !== undefined ? <Text>   mtp {fmtLoss(l.mtp_loss)}</Text> : null}   lr {fmtLr(l.lr)}   gnorm {gnorm}
        {l.skipped ? <Text color="red"> (skipped)</Text> : null}
      </Text>
      {extraMetrics(l).length > 0 ? <Text wrap="truncate-end">{extraMetrics(l).join('   ')}</Text> : null}
      <Text>
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
        <Text key={i}>
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

function Evals({ state }: { state: TuneViewState }) {
  if (state.evals.length === 0) return <Text dimColor>eval: none yet</Text>;
  return (
    <Text wrap="truncate-end">
      <Text bold>eval</Text>
      {state.evals.map((e, i) => (
        <Text key={i} bold={i === state.evals.length - 1} dimColor={i !== state.evals.length - 1}>
          {'   '}step {e.step} {e.task} {(e.accuracy * 100).toFixed(1)}% ({e.correct}/{e.n})
          {e.mtp_acceptance !== undefined ? `, drafts ${(e.mtp_acceptance * 100).toFixed(0)}% accepted` : ''}
        </Text>
      ))}
    </Text>
  );
}

function Sample({ state }: { state: TuneViewState }) {
  const s = state.sample;
  if (!s) return null;
  return (
    <Text wrap="truncate-end">
      <Text bold>sample</Text> (step {s.step}) {JSON.stringify(s.prompt)} → {JSON.stringify(s.text)}
    </Text>
  );
}

const LOG_COLOR: Record<LogLine['kind'], string | undefined> = { checkpoint: 'green', warning: 'yellow', notice: undefined, info: undefined };

function Log({ log }: { log: LogLine[] }) {
  return (
    <Box flexDirection="column">
      {log.map((l, i) => (
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
  if (f?.kind === 'done') return <Text color="green">done: model saved to {f.finalDir}{f.report ? `; report card ${f.report}` : ''}</Text>;
  if (f?.kind === 'interrupted') return <Text color="yellow">stopped after step {f.step}; checkpoint {f.checkpoint}</Text>;
  const p = state.pending;
  const parts: string[] = [];
  if (p.quit || p.interrupt) parts.push('stopping after this step: checkpoint, then exit…');
  if (p.checkpoint) parts.push('checkpoint after this step…');
  if (p.evaluate) parts.push('evaluating after this step…');
  if (p.pause) parts.push('pausing after this step…');
  if (p.resume) parts.push('resuming…');
  if (state.paused && !p.resume) return <Text color="yellow" bold>PAUSED after step {state.globalStep}{parts.length ? `   ${parts.join('   ')}` : ''} (p resumes)</Text>;
  return <Text color={parts.length ? 'yellow' : undefined}>{parts.length ? parts.join('   ') : 'training'}</Text>;
}

function Legend({ state }: { state: TuneViewState }) {
  if (state.finished) return null;
  return (
    <Text dimColor wrap="truncate-end">
      p {wantsPause(state) ? 'resume' : 'pause'} · s checkpoint · e evaluate · q checkpoint & quit · Ctrl-C stop (twice: now)
    </Text>
  );
}

/**
 * Chart rows that keep the whole frame within the terminal's rows (one row spare). The frame is:
 * header, status, a blank, then [stages + blank + progress (2) + numbers (2, 3 with other metrics)] beside (wide) or above
 * (narrow) [chart title + chart], a blank, eval, sample, log lines, legend.
 */
export function chartHeight(state: TuneViewState, rows: number, wide: boolean): number {
  const left = 1 + state.stages.length + 1 + 2 + 2 + (state.last && extraMetrics(state.last).length > 0 ? 1 : 0);
  const below = 1 + 1 + (state.sample ? 1 : 0) + state.log.length + 1;
  const budget = rows - 1 - 3 - below;
  const h = wide ? budget - 1 : budget - left - 1;
  return Math.max(2, Math.min(8, h));
}

/** The view of one state at a terminal size (exported for tests and other drivers). */
export function TuneDashboardView({ state, columns, rows }: { state: TuneViewState; columns: number; rows: number }) {
  if (state.output === undefined) return <Text dimColor>ponder tune: starting…</Text>;
  const wide = columns >= WIDE_COLUMNS;
  const height = chartHeight(state, rows, wide);
  const header = (
    <Text wrap="truncate-end">
      <Text bold color="cyan">ponder tune</Text> → {state.output}
      {state.parameters !== undefined ? `   ${state.parameters.toLocaleString('en-US')} parameters` : ''}
      {state.resumedAt !== undefined ? `   resumed at step ${state.resumedAt}` : ''}
    </Text>
  );
  const left = (w: number) => (
    <Box flexDirection="column" width={w}>
      <Stages state={state} />
      <Box marginTop={1} flexDirection="column">
        <Progress state={state} width={w} />
        <Numbers state={state} />
      </Box>
    </Box>
  );
  return (
    <Box flexDirection="column" width={columns}>
      {header}
      <Status state={state} />
      {wide ? (
        <Box marginTop={1}>
          {left(LEFT_WIDTH)}
          <Box marginLeft={2} flexGrow={1}>
            <Charts state={state} width={columns - LEFT_WIDTH - 2} height={height} />
          </Box>
        </Box>
      ) : (
        <Box marginTop={1} flexDirection="column">
          {left(columns)}
          <Charts state={state} width={columns} height={height} />
        </Box>
      )}
      <Box marginTop={1} flexDirection="column">
        <Evals state={state} />
        <Sample state={state} />
        <Log log={state.log} />
      </Box>
      <Legend state={state} />
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
}

/** Consumes `events`, redraws as each arrives, and turns keys into control calls. */
export function TuneDashboard({ events, controls, onInterrupt, onDone }: TuneDashboardProps) {
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

  useEventStream(events, dispatch, onDone);

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
