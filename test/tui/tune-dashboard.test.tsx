import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import type { TuneControls } from '../../src/engine/tuner-control.js';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { TuneDashboard, TuneDashboardView, WIDE_COLUMNS } from '../../src/tui/tune/dashboard.js';
import { initialTuneView, reduceTuneView } from '../../src/tui/tune/view-state.js';
import { stepEvent } from './tune-fixtures.js';
import { controlledStream } from '../helpers/event-stream.js';

/**
 * The Ink training dashboard from a scripted event stream: stages, progress, the loss chart, numbers,
 * eval, sample and log show; p/s/e/q call the controls and show the pending request; Ctrl-C calls
 * onInterrupt; the layout stacks on a narrow terminal.
 */
afterEach(() => cleanup());

const controlled = () => controlledStream<TuneEvent>();

function recordingControls(): TuneControls & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    pause: () => calls.push('pause'),
    resume: () => calls.push('resume'),
    checkpointNow: () => calls.push('checkpoint'),
    evaluateNow: () => calls.push('evaluate'),
    quit: () => calls.push('quit'),
  };
}

async function waitFor(what: string, frame: () => string | undefined, ok: (f: string) => boolean, ms = 3000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const f = frame() ?? '';
    if (ok(f)) return f;
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}; last frame:\n${f}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const START: TuneEvent = {
  type: 'start',
  output: '/runs/tiny',
  recipe_hash: 'cd'.repeat(32),
  resumed: false,
  total_steps: 12,
  start_step: 0,
  parameters: 31_000,
  stages: [
    { name: 'pre', kind: 'pretrain', steps: 8 },
    { name: 'chat', kind: 'sft', steps: 4 },
  ],
};
const STAGE0: TuneEvent = { type: 'stage', index: 0, name: 'pre', kind: 'pretrain', steps: 8, from_step: 0, batch_size: 4, grad_accum: 2, seq_len: 24 };

describe('tune dashboard (Ink)', () => {
  it('draws stages, progress with ETA, loss chart, numbers, eval, sample and checkpoints from the events', async () => {
    const s = controlled();
    const controls = recordingControls();
    let done = 0;
    const ui = render(<TuneDashboard events={s.events} controls={controls} onDone={() => done++} />);
    const until = (what: string, ok: (f: string) => boolean) => waitFor(what, ui.lastFrame, ok);
    s.push(START, STAGE0);
    let f = await until('start', (f) => f.includes('/runs/tiny') && f.includes('31,000 parameters') && f.includes('waiting for the first step'));
    assert.match(f, /▶ pre\s+pretrain\s+0\/8 running 4x24x2acc/);
    assert.match(f, /· chat\s+sft\s+0\/4 pending/);
    assert.match(f, /0\/12 steps 0%/);
    assert.match(f, /p pause · s checkpoint · e evaluate · q checkpoint & quit/);
    for (let g = 1; g <= 4; g++) s.push(stepEvent(0, g, 8, g, 12, { loss: 6 - g, step_ms: 250, gpu_mem_bytes: 5 * 2 ** 20, tokens_per_s: 1536, lr: 3e-3, grad_norm: 0.75 }));
    f = await until('4 steps', (f) => f.includes('4/12 steps 33%'));
    assert.match(f, /loss 2\.0000 {3}lr 3\.00e-3 {3}gnorm 0\.750/);
    assert.match(f, /1,536 tok\/s {3}250 ms\/step {3}GPU mem 5\.0 MiB/);
    assert.match(f, /eta 0:02/); // 8 steps left x 0.25 s
    assert.match(f, /loss \(one dot column per step\)/);
    assert.match(f, /5\.000 ┤[\u2800-\u28ff]+/);
    assert.match(f, /2\.000 ┤[\u2800-\u28ff]+/);
    s.push({ type: 'eval', stage: 0, step: 4, task: 'arithmetic', accuracy: 1 / 3, n: 3, correct: 1 });
    s.push({ type: 'sample', stage: 0, step: 4, prompt: 'What is 2 + 3?', text: '5' });
    s.push({ type: 'checkpoint', path: '/runs/tiny/checkpoints/step-000004.ckpt', step: 4, stage: 0 });
    s.push({ type: 'warning', message: 'something to know' });
    f = await until('eval', (f) => f.includes('step-000004.ckpt') && f.includes('something to know'));
    assert.match(f, /eval step 4 arithmetic 33\.3% \(1\/3\)/);
    assert.match(f, /sample \(step 4\) "What is 2 \+ 3\?" → "5"/);
    for (let g = 5; g <= 8; g++) s.push(stepEvent(0, g, 8, g, 12));
    s.push({ type: 'stage', index: 1, name: 'chat', kind: 'sft', steps: 4, from_step: 0, batch_size: 4, grad_accum: 1, seq_len: 40 });
    f = await until('stage 2', (f) => /▶ chat/.test(f));
    assert.match(f, /✓ pre\s+pretrain\s+8\/8 done/);
    assert.match(f, /▶ chat\s+sft\s+0\/4 running 4x40 /);
    for (let g = 1; g <= 4; g++) s.push(stepEvent(1, g, 4, 8 + g, 12));
    s.push({ type: 'done', final_dir: '/runs/tiny/final', steps: 12, elapsed_s: 3 });
    s.end();
    f = await until('done', (f) => f.includes('done: model saved to /runs/tiny/final'));
    assert.match(f, /12\/12 steps 100%/);
    assert.match(f, /✓ chat/);
    assert.ok(!f.includes('p pause'), 'no key legend after the end');
    await until('onDone', () => done === 1);
    assert.deepEqual(controls.calls, []);
  });

  it('p/s/e/q call the controls and show what is pending; Ctrl-C calls onInterrupt', async () => {
    const s = controlled();
    const controls = recordingControls();
    let interrupts = 0;
    const ui = render(<TuneDashboard events={s.events} controls={controls} onInterrupt={() => interrupts++} />);
    const until = (what: string, ok: (f: string) => boolean) => waitFor(what, ui.lastFrame, ok);
    s.push(START, STAGE0, stepEvent(0, 1, 8, 1, 12));
    await until('a step', (f) => f.includes('1/12 steps'));
    ui.stdin.write('p');
    await until('pausing', (f) => f.includes('pausing after this step') && f.includes('p resume'));
    assert.deepEqual(controls.calls, ['pause']);
    s.push({ type: 'paused', step: 1, stage: 0 });
    await until('paused', (f) => /PAUSED after step 1/.test(f) && f.includes('eta paused'));
    ui.stdin.write('se'); // keys typed together arrive as one chunk
    await until('checkpoint and eval pending', (f) => f.includes('checkpoint after this step') && f.includes('evaluating after this step'));
    s.push({ type: 'checkpoint', path: '/runs/tiny/checkpoints/step-000001.ckpt', step: 1, stage: 0 });
    s.push({ type: 'warning', message: 'stage "pre" has no eval: section; nothing to evaluate', request: 'evaluate' });
    let f = await until('answers', (f) => f.includes('nothing to evaluate') && !f.includes('after this step'));
    assert.match(f, /checkpoint step 1: .*step-000001\.ckpt/);
    ui.stdin.write('p');
    await until('resuming', (f) => f.includes('resuming'));
    s.push({ type: 'resumed', step: 1, paused_s: 2 });
    await until('resumed', (f) => f.includes('training') && f.includes('p pause'));
    ui.stdin.write('q');
    await until('quitting', (f) => f.includes('stopping after this step'));
    ui.stdin.write('\x03'); // Ctrl-C in raw mode
    await until('interrupt', () => interrupts === 1);
    ui.stdin.write('\x03\x03'); // a quick double Ctrl-C arrives as one chunk: both count
    await until('two more interrupts', () => interrupts === 3);
    assert.deepEqual(controls.calls, ['pause', 'checkpoint', 'evaluate', 'resume', 'quit']);
    s.push({ type: 'checkpoint', path: '/runs/tiny/checkpoints/step-000002.ckpt', step: 2, stage: 0 });
    s.push({ type: 'interrupted', step: 2, checkpoint: '/runs/tiny/checkpoints/step-000002.ckpt', reason: 'quit' });
    s.end();
    f = await until('stopped', (f) => f.includes('STOPPED after step 2'));
    assert.match(f, /stopped at step 2 of 12/, 'the summary replaces the key legend');
    assert.ok(!f.includes('p pause'));
    ui.stdin.write('s'); // ignored after the end
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(controls.calls.length, 5);
  });

  it('follows the terminal width: side by side when wide, stacked when narrow, never wider than the terminal', () => {
    let state = [START, STAGE0, ...Array.from({ length: 30 }, (_, i) => stepEvent(0, i + 1, 8, i + 1, 12))].reduce(reduceTuneView, initialTuneView);
    state = reduceTuneView(state, { type: 'sample', stage: 0, step: 4, prompt: 'p'.repeat(300), text: 'x' });
    for (const columns of [WIDE_COLUMNS + 40, 60]) {
      const ui = render(<TuneDashboardView state={state} columns={columns} rows={40} />);
      const lines = ui.lastFrame()!.split('\n');
      for (const l of lines) assert.ok([...l].length <= columns, `line wider than ${columns}: ${JSON.stringify(l)}`);
      const stagesLine = lines.findIndex((l) => l.startsWith('stages'));
      const chartTitle = lines.findIndex((l) => l.includes('loss (one dot column per step)'));
      if (columns > WIDE_COLUMNS) assert.equal(chartTitle, stagesLine, 'chart beside the stages');
      else assert.ok(chartTitle > stagesLine + 3, 'chart below the stages and numbers');
      ui.unmount();
    }
    // a short terminal gets a shorter chart, so the frame fits its rows
    const tall = render(<TuneDashboardView state={state} columns={80} rows={40} />).lastFrame()!.split('\n').length;
    const short = render(<TuneDashboardView state={state} columns={80} rows={24} />).lastFrame()!.split('\n').length;
    assert.ok(short < tall && short <= 23, `${short} lines for 24 rows, ${tall} for 40`);
  });
});

describe('the training dashboard with MTP modules', () => {
  it('shows the modules\' loss beside the loss, and the acceptance of their drafts beside an eval', () => {
    const events: TuneEvent[] = [START, stepEvent(0, 1, 8, 1, 12, { mtp_loss: 2.5 }), { type: 'eval', stage: 0, step: 1, task: 'arithmetic', accuracy: 0.5, n: 4, correct: 2, mtp_acceptance: 0.83 }];
    const state = events.reduce(reduceTuneView, initialTuneView);
    const f = render(<TuneDashboardView state={state} columns={100} rows={40} />).lastFrame()!;
    assert.match(f, /mtp 2\.5000/);
    assert.match(f, /drafts 83% accepted/);
  });
});
