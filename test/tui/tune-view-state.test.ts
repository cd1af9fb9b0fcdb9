import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { brailleChart, fitToColumns } from '../../src/tui/tune/braille-chart.js';
import { stepEvent } from './tune-fixtures.js';
import { ETA_WINDOW, etaSeconds, initialTuneView, MAX_LOSS_POINTS, reduceTuneView, wantsPause, type TuneViewAction, type TuneViewState } from '../../src/tui/tune/view-state.js';

/** The dashboard's reducer (events and keys -> view state, ETA) and its braille loss chart, without Ink. */
const START: TuneEvent = {
  type: 'start',
  output: '/runs/x',
  recipe_hash: 'ab'.repeat(32),
  resumed: false,
  total_steps: 30,
  start_step: 0,
  parameters: 1234,
  stages: [
    { name: 'pre', kind: 'pretrain', steps: 10 },
    { name: 'chat', kind: 'sft', steps: 20 },
  ],
};

function run(actions: TuneViewAction[], from: TuneViewState = initialTuneView): TuneViewState {
  return actions.reduce(reduceTuneView, from);
}

describe('tune dashboard state', () => {
  it('stages go pending -> running -> done; progress counts global steps', () => {
    let s = run([START]);
    assert.deepEqual(s.stages.map((x) => x.status), ['pending', 'pending']);
    assert.equal(s.totalSteps, 30);
    s = run([{ type: 'stage', index: 0, name: 'pre', kind: 'pretrain', steps: 10, from_step: 0, batch_size: 4, grad_accum: 2, seq_len: 24 }, stepEvent(0, 1, 10, 1, 30)], s);
    assert.deepEqual(s.stages.map((x) => [x.status, x.done]), [['running', 1], ['pending', 0]]);
    assert.deepEqual(s.batch, { size: 4, accum: 2, seqLen: 24 });
    assert.equal(s.globalStep, 1);
    s = run([stepEvent(0, 10, 10, 10, 30), { type: 'stage', index: 1, name: 'chat', kind: 'sft', steps: 20, from_step: 0, batch_size: 4, grad_accum: 1, seq_len: 24 }], s);
    assert.deepEqual(s.stages.map((x) => x.status), ['done', 'running']);
    s = run([{ type: 'done', final_dir: '/runs/x/final', steps: 30, elapsed_s: 9 }], s);
    assert.deepEqual(s.stages.map((x) => [x.status, x.done]), [['done', 10], ['done', 20]]);
    assert.deepEqual(s.finished, { kind: 'done', finalDir: '/runs/x/final', elapsedS: 9 });
  });

  it('a resumed run starts with the finished stages done and the progress at the checkpoint', () => {
    const s = run([{ ...START, resumed: true, resumed_from: '/runs/x/checkpoints/step-000012.ckpt', start_step: 12 } as TuneEvent]);
    assert.deepEqual(s.stages.map((x) => [x.status, x.done]), [['done', 10], ['pending', 2]]);
    assert.equal(s.globalStep, 12);
    assert.equal(s.resumedAt, 12);
    assert.match(s.log[0]!.text, /resumed at step 12 from .*step-000012\.ckpt/);
  });

  it('ETA: mean of the last ETA_WINDOW step times x steps left', () => {
    let s = run([START]);
    assert.equal(etaSeconds(s), undefined);
    s = run([stepEvent(0, 1, 10, 1, 30, { step_ms: 1000 }), stepEvent(0, 2, 10, 2, 30, { step_ms: 3000 })], s);
    assert.equal(etaSeconds(s), 28 * 2); // mean 2 s, 28 steps left
    // only the recent window counts: after ETA_WINDOW steps of 500 ms the slow start is forgotten
    for (let g = 3; g < 3 + ETA_WINDOW; g++) s = reduceTuneView(s, stepEvent(0, g, 30, g, 30, { step_ms: 500 }));
    assert.equal(s.recentStepMs.length, ETA_WINDOW);
    assert.equal(etaSeconds(s), (30 - (2 + ETA_WINDOW)) * 0.5);
  });

  it('the loss curve keeps every step, then merges pairs so it stays bounded and uniform', () => {
    let s = run([START]);
    const n = MAX_LOSS_POINTS + 6;
    for (let g = 1; g <= n; g++) s = reduceTuneView(s, stepEvent(0, g, n, g, n, { loss: g }));
    // MAX_LOSS_POINTS steps filled the curve and were merged to half, each point now 2 steps (the
    // mean of g and g+1); the 6 later steps added 3 points
    assert.equal(s.lossStride, 2);
    assert.equal(s.losses.length, MAX_LOSS_POINTS / 2 + 3);
    assert.equal(s.losses[0], 1.5);
    assert.equal(s.losses.at(-1), n - 0.5);
  });

  it('key requests stay pending until the event that answers them', () => {
    let s = run([START, stepEvent(0, 1, 10, 1, 30)]);
    s = run([{ type: 'key', request: 'pause' }, { type: 'key', request: 'checkpoint' }, { type: 'key', request: 'evaluate' }], s);
    assert.deepEqual(s.pending, { pause: true, checkpoint: true, evaluate: true });
    assert.equal(wantsPause(s), true);
    s = run([{ type: 'checkpoint', path: '/c/step-000001.ckpt', step: 1, stage: 0 }, { type: 'warning', message: 'stage "pre" has no eval: section', request: 'evaluate' }, { type: 'paused', step: 1, stage: 0 }], s);
    assert.deepEqual(s.pending, {});
    assert.equal(s.paused, true);
    assert.deepEqual(s.log.map((l) => l.kind), ['checkpoint', 'warning']);
    s = run([{ type: 'key', request: 'resume' }], s);
    assert.equal(wantsPause(s), false);
    s = run([{ type: 'resumed', step: 1, paused_s: 3 }], s);
    assert.equal(s.paused, false);
    assert.deepEqual(s.pending, {});
    // pause then resume before the Tuner reached the step boundary: nothing stays pending
    s = run([{ type: 'key', request: 'pause' }, { type: 'key', request: 'resume' }], s);
    assert.deepEqual(s.pending, {});
    s = run([{ type: 'key', request: 'quit' }, { type: 'interrupted', step: 2, checkpoint: '/c/step-000002.ckpt', reason: 'quit' }], s);
    assert.deepEqual(s.pending, {});
    assert.deepEqual(s.finished, { kind: 'interrupted', step: 2, checkpoint: '/c/step-000002.ckpt' });
    // keys after the end change nothing
    assert.equal(reduceTuneView(s, { type: 'key', request: 'checkpoint' }), s);
  });

  it('evals keep the last few; a sample replaces the previous one', () => {
    let s = run([START]);
    for (let k = 1; k <= 5; k++) s = reduceTuneView(s, { type: 'eval', stage: 0, step: k, task: 'arithmetic', accuracy: k / 10, n: 10, correct: k });
    assert.deepEqual(s.evals.map((e) => e.step), [3, 4, 5]);
    s = run([{ type: 'sample', stage: 0, step: 4, prompt: 'a', text: 'b' }, { type: 'sample', stage: 0, step: 5, prompt: 'c', text: 'd' }], s);
    assert.deepEqual(s.sample, { step: 5, prompt: 'c', text: 'd' });
  });
});

/** Which dots of a braille character are set, as (x, y) pairs. */
function dots(ch: string): string[] {
  const bits = ch.charCodeAt(0) - 0x2800;
  const pos = [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [0, 3], [1, 3]];
  return pos.filter((_, i) => bits & (1 << i)).map(([x, y]) => `${x},${y}`);
}

describe('braille chart', () => {
  it('maps max to the top dot row and min to the bottom, one dot column per value', () => {
    const c = brailleChart([2, 1], 1, 1);
    assert.equal(c.min, 1);
    assert.equal(c.max, 2);
    assert.equal(c.rows.length, 1);
    // column 0 at the top (2), column 1 at the bottom (1), joined: rows 1 and 2 split between them
    assert.deepEqual(dots(c.rows[0]!).sort(), ['0,0', '0,1', '1,2', '1,3'].sort());
  });

  it('a short series fills from the left; a long one is averaged into the columns', () => {
    const short = brailleChart([1, 1, 1], 4, 2);
    assert.equal(short.rows.length, 2);
    assert.equal(short.rows[0]!.length, 4);
    assert.equal(short.valuesPerColumn, 1);
    // a flat line sits on one dot row; columns 3.. are empty
    assert.equal(short.rows.join('').replace(/\u2800/g, '').length, 2);
    assert.deepEqual(fitToColumns([1, 3, 5, 7, 9, 11], 3), [2, 6, 10]);
    assert.deepEqual(fitToColumns([1, NaN, 5, 7], 2), [1, 6]);
    const long = brailleChart(Array.from({ length: 80 }, (_, i) => i), 10, 2);
    assert.equal(long.valuesPerColumn, 4);
    assert.equal(long.max, 77.5);
  });

  it('NaN values leave gaps and do not set the range; all-NaN draws an empty chart', () => {
    const c = brailleChart([1, NaN, 3], 2, 1);
    assert.deepEqual([c.min, c.max], [1, 3]);
    const empty = brailleChart([NaN], 3, 2);
    assert.equal(empty.min, undefined);
    assert.deepEqual(empty.rows, ['\u2800'.repeat(3), '\u2800'.repeat(3)]);
  });
});
