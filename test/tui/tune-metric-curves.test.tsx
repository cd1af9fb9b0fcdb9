import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { createPlainPrinter, formatStepLine } from '../../src/tui/tune-print.js';
import { TuneDashboardView } from '../../src/tui/tune/dashboard.js';
import { chartedMetric, initialTuneView, MAX_METRIC_POINTS, reduceTuneView, type TuneViewState } from '../../src/tui/tune/view-state.js';
import { stepEvent } from './tune-fixtures.js';

/**
 * Step metrics beyond the loss (what a stage's runner reports, e.g. GRPO's reward and kl): the plain
 * line prints them compactly, the reducer keeps a bounded curve per metric name, and the dashboard
 * charts the stage's headline metric (else `reward`) beside the loss curve. (Also: the finished
 * dashboard names the report card.)
 */
afterEach(() => cleanup());

const START: TuneEvent = { type: 'start', output: '/runs/rl', recipe_hash: 'ab'.repeat(32), resumed: false, total_steps: 2000, start_step: 0, parameters: 1000, stages: [{ name: 'rl', kind: 'sft', steps: 2000 }] };
const stageEvent = (headline?: string): TuneEvent => ({ type: 'stage', index: 0, name: 'rl', kind: 'sft', steps: 2000, from_step: 0, batch_size: 2, grad_accum: 1, seq_len: 16, ...(headline ? { headline } : {}) });

function run(events: TuneEvent[]): TuneViewState {
  return events.reduce(reduceTuneView, initialTuneView);
}

function rlSteps(n: number): TuneEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const g = i + 1;
    return stepEvent(0, g, 2000, g, 2000, { loss: 1 / g, metrics: { loss: 1 / g, reward: g / 10, kl: 0.001 * g } });
  });
}

describe('step metrics beyond the loss', () => {
  it('the plain line lists them after the loss', () => {
    const e = stepEvent(0, 3, 10, 3, 10, { loss: 0.5, metrics: { loss: 0.5, reward: 0.625, kl: 0.0000123, 'pass@4': 0.75 } });
    const line = formatStepLine(e, 0);
    assert.match(line, /loss 0\.5000 {2}reward 0\.625 {2}kl 1\.23e-5 {2}pass@4 0\.75 {2}lr /);
    assert.doesNotMatch(formatStepLine(stepEvent(0, 1, 10, 1, 10), 0), /reward/);
  });

  it('the reducer keeps a curve per metric (not the loss), bounded like the loss curve', () => {
    const n = MAX_METRIC_POINTS + 6;
    const s = run([START, stageEvent(), ...rlSteps(n)]);
    assert.deepEqual(Object.keys(s.curves).sort(), ['kl', 'reward']);
    const r = s.curves.reward!;
    assert.equal(r.stride, 2);
    assert.equal(r.points.length, MAX_METRIC_POINTS / 2 + 3);
    assert.ok(Math.abs(r.points[0]! - 0.15) < 1e-12, String(r.points[0])); // mean of steps 1 and 2
    assert.ok(Math.abs(r.points.at(-1)! - (n - 0.5) / 10) < 1e-12);
    assert.equal(s.losses.length, n, 'the loss curve is unchanged');
  });

  it('charted: the stage headline when it has points, else reward, else none', () => {
    assert.equal(chartedMetric(run([START, stageEvent(), ...rlSteps(3)])), 'reward');
    assert.equal(chartedMetric(run([START, stageEvent('kl'), ...rlSteps(3)])), 'kl');
    assert.equal(chartedMetric(run([START, stageEvent('missing'), ...rlSteps(3)])), 'reward');
    assert.equal(chartedMetric(run([START, stageEvent(), stepEvent(0, 1, 2000, 1, 2000)])), undefined);
  });

  it('the dashboard draws the reward curve beside the loss curve and the metrics in the numbers', () => {
    const state = run([START, stageEvent(), ...rlSteps(20)]);
    const f = render(<TuneDashboardView state={state} columns={120} rows={40} />).lastFrame()!;
    assert.match(f, /loss \(one dot column per step\).*reward \(one dot column per step\)/);
    assert.match(f, /reward 2 {3}kl 0\.02/);
    assert.match(f, /2\.000 ┤[\u2800-\u28ff]+/, 'the reward axis: max 2.0');
    const plain = run([START, stageEvent(), stepEvent(0, 1, 2000, 1, 2000), stepEvent(0, 2, 2000, 2, 2000)]);
    assert.doesNotMatch(render(<TuneDashboardView state={plain} columns={120} rows={40} />).lastFrame()!, /reward/);
  });

  it('a rollout stage shows its latest completion with its reward (dashboard and plain lines)', () => {
    const completions = [{ prompt: 'What is 2 + 3?', text: '2 + 3 = 5. Answer: 5', reward: 1, advantage: 0.7 }];
    const state = run([START, stageEvent(), ...rlSteps(2), stepEvent(0, 3, 2000, 3, 2000, { metrics: { loss: 0.1, reward: 0.5 }, completions })]);
    assert.deepEqual(state.sample, { step: 3, prompt: 'What is 2 + 3?', text: '2 + 3 = 5. Answer: 5', reward: 1 });
    const f = render(<TuneDashboardView state={state} columns={120} rows={40} />).lastFrame()!;
    assert.match(f, /rollout \(step 3, reward 1\.00\) "What is 2 \+ 3\?" → "2 \+ 3 = 5\. Answer: 5"/);
    const lines: string[] = [];
    createPlainPrinter((l) => lines.push(l))(stepEvent(0, 1, 2000, 1, 2000, { completions }));
    assert.match(lines.join('\n'), /\[rollout\] step 1: reward 1\.00 "What is 2 \+ 3\?" -> "2 \+ 3 = 5\. Answer: 5"/);
  });

  it('the finished dashboard names the report card', () => {
    const state = run([START, stageEvent(), ...rlSteps(2), { type: 'done', final_dir: '/runs/rl/final', report: '/runs/rl/report.md', steps: 2000, elapsed_s: 3 }]);
    assert.match(render(<TuneDashboardView state={state} columns={120} rows={40} />).lastFrame()!, /done: model saved to \/runs\/rl\/final; report card \/runs\/rl\/report\.md/);
  });
});
