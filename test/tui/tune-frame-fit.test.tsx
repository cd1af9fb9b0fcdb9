import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import type { TuneEvent, TuneStartEvent } from '../../src/engine/tuner-events.js';
import { frameHeight, planFrame, TuneDashboardView, MAX_CHART_HEIGHT } from '../../src/tui/tune/dashboard.js';
import { initialTuneView, reduceTuneView, type TuneViewState } from '../../src/tui/tune/view-state.js';
import { stepEvent } from './tune-fixtures.js';

/**
 * The dashboard's frame at any terminal size: never taller than rows - 1 (Ink clears the screen and
 * the scrollback to redraw a frame as tall as the terminal) nor wider than the columns, with the
 * newest evaluation and log line first, the key legend whole at 80 columns, paused and stopped states
 * in the status line, and a one-line summary in place of the legend once the run has ended.
 */
afterEach(() => cleanup());

const START: TuneStartEvent = {
  type: 'start',
  output: '/runs/a-fairly-long-output-directory-name/for-the-header',
  recipe_hash: 'ab'.repeat(32),
  resumed: false,
  total_steps: 300,
  start_step: 0,
  parameters: 1_234_567,
  stages: [
    { name: 'pretrain', kind: 'pretrain', steps: 100 },
    { name: 'sft', kind: 'sft', steps: 100 },
    { name: 'grpo', kind: 'sft', steps: 100 },
  ],
};

/** A busy run: in its third stage, reward beside the loss, three evals, a long sample, four log lines. */
function busyState(): TuneViewState {
  const evs: TuneEvent[] = [START];
  for (let i = 0; i < 3; i++) evs.push({ type: 'stage', index: i, name: START.stages[i]!.name, kind: START.stages[i]!.kind, steps: 100, from_step: 0, batch_size: 8, grad_accum: 2, seq_len: 64, ...(i === 2 ? { headline: 'reward' } : {}) });
  for (let g = 1; g <= 250; g++) {
    const stage = Math.min(2, Math.floor((g - 1) / 100));
    const step = g - 100 * stage;
    evs.push(stepEvent(stage, step, 100, g, 300, stage === 2 ? { loss: 1, metrics: { loss: 1, reward: g / 300, kl: 0.01 } } : {}));
  }
  for (const [step, acc] of [
    [50, 0.25],
    [100, 0.5],
    [150, 0.625],
  ] as const) evs.push({ type: 'eval', stage: 2, step, task: 'countdown-with-a-long-name', accuracy: acc, n: 64, correct: Math.round(acc * 64), mtp_acceptance: 0.8 });
  evs.push({ type: 'sample', stage: 2, step: 150, prompt: 'Using 3, 5, 7 and 11 make 42. '.repeat(5), text: 'x'.repeat(200) });
  for (let k = 1; k <= 5; k++) evs.push({ type: 'checkpoint', path: `/runs/x/checkpoints/step-${String(50 * k).padStart(6, '0')}.ckpt`, step: 50 * k, stage: 2 });
  return evs.reduce(reduceTuneView, initialTuneView);
}

function frameAt(state: TuneViewState, columns: number, rows: number): string[] {
  const ui = render(<TuneDashboardView state={state} columns={columns} rows={rows} />);
  const lines = ui.lastFrame()!.split('\n');
  ui.unmount();
  return lines;
}

function assertFits(lines: string[], columns: number, rows: number, what: string): void {
  assert.ok(lines.length <= rows - 1, `${what}: ${lines.length} lines for ${rows} rows:\n${lines.join('\n')}`);
  for (const l of lines) assert.ok([...l].length <= columns, `${what}: a line wider than ${columns}: ${JSON.stringify(l)}`);
}

const SIZES = [
  [160, 50],
  [120, 40],
  [100, 30],
  [80, 24],
  [60, 18],
  [50, 14],
] as const;

describe('the tune dashboard fits the terminal', () => {
  it('running, paused, stopped and done frames fit every size; the plan matches the drawn height', () => {
    const busy = busyState();
    const states: [string, TuneViewState][] = [
      ['running', busy],
      ['paused', reduceTuneView(reduceTuneView(busy, { type: 'key', request: 'evaluate' }), { type: 'paused', step: 250, stage: 2 })],
      ['stopped', reduceTuneView(busy, { type: 'interrupted', step: 250, checkpoint: '/runs/x/checkpoints/step-000250.ckpt', reason: 'quit' })],
      ['done', reduceTuneView(busy, { type: 'done', final_dir: '/runs/x/final', report: '/runs/x/report.md', steps: 300, elapsed_s: 75 })],
    ];
    for (const [name, state] of states) {
      for (const [columns, rows] of SIZES) {
        const lines = frameAt(state, columns, rows);
        assertFits(lines, columns, rows, `${name} at ${columns}×${rows}`);
        assert.equal(lines.length, frameHeight(state, planFrame(state, columns, rows)), `${name} at ${columns}×${rows}: planned height`);
      }
    }
  });

  it('a tall terminal shows everything; a short one gives up the chart rows and older lists first', () => {
    const busy = busyState();
    const big = planFrame(busy, 160, 50);
    assert.deepEqual({ ...big, wide: undefined }, { wide: undefined, gaps: true, allStages: true, chartHeight: MAX_CHART_HEIGHT, evalLines: 3, sample: true, logLines: 4 });
    const small = planFrame(busy, 60, 18);
    assert.ok(small.chartHeight >= 2, 'a chart stays at 60×18');
    assert.ok(small.evalLines >= 1, 'the newest eval stays at 60×18');
    assert.ok(!small.gaps && !small.sample);
  });

  it('lists are newest first; at 80×24 the newest eval and the key legend are whole', () => {
    const busy = busyState();
    const lines = frameAt(busy, 80, 24);
    const evals = lines.filter((l) => l.startsWith('eval '));
    assert.ok(evals.length >= 1);
    assert.equal(evals[0], 'eval step 150 countdown-with-a-long-name 62.5% (40/64), drafts 80% accepted');
    if (evals.length > 1) assert.match(evals[1]!, /^eval step 100 /);
    const ckpts = lines.filter((l) => l.startsWith('checkpoint step'));
    assert.match(ckpts[0]!, /^checkpoint step 250: /, 'the newest checkpoint first');
    assert.equal(lines.at(-1), 'p pause · s checkpoint · e evaluate · q checkpoint & quit · Ctrl-C stop');
    const tall = frameAt(busy, 120, 40);
    assert.deepEqual(
      tall.filter((l) => l.startsWith('eval ')).map((l) => /step (\d+)/.exec(l)![1]),
      ['150', '100', '50'],
    );
    assert.equal(tall.filter((l) => l.startsWith('checkpoint step')).length, 4);
  });

  it('paused and stopped runs say so; an ended run ends with a one-line summary in place of the legend', () => {
    const busy = busyState();
    const paused = frameAt(reduceTuneView(busy, { type: 'paused', step: 250, stage: 2 }), 60, 18);
    assert.match(paused[1]!, /^PAUSED after step 250 \(p resumes\)/);
    assert.match(paused.join('\n'), /eta paused/);
    assert.match(paused.at(-1)!, /^p resume · /);
    const stopped = frameAt(reduceTuneView(busy, { type: 'interrupted', step: 250, checkpoint: '/runs/x/checkpoints/step-000250.ckpt', reason: 'quit' }), 80, 24);
    assert.match(stopped[1]!, /^STOPPED after step 250; checkpoint /);
    assert.equal(stopped.at(-1), 'stopped at step 250 of 300 after 0:25 · loss 4.900 → 1.000');
    const wideStopped = frameAt(reduceTuneView(busy, { type: 'interrupted', step: 250, checkpoint: '/c', reason: 'quit' }), 120, 40);
    assert.equal(wideStopped.at(-1), 'stopped at step 250 of 300 after 0:25 · loss 4.900 → 1.000 · countdown-with-a-long-name 62.5% at step 150');
    const done = frameAt(reduceTuneView(busy, { type: 'done', final_dir: '/runs/x/final', steps: 300, elapsed_s: 75 }), 60, 18);
    assert.match(done[1]!, /^done: model saved to \/runs\/x\/final/);
    assert.equal(done.at(-1), 'done: 300 steps in 1:15 · loss 4.900 → 1.000');
  });
});
