import { describe, it, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, render } from 'ink-testing-library';
import type { TuneControls } from '../../src/engine/tuner-control.js';
import type { TuneEvent, TuneStartEvent } from '../../src/engine/tuner-events.js';
import { TuneDashboard } from '../../src/tui/tune/dashboard.js';
import { parseRunHistory } from '../../src/tui/tune/run-history.js';
import { initialTuneView, reduceTuneView } from '../../src/tui/tune/view-state.js';
import { controlledStream } from '../helpers/event-stream.js';
import { stepEvent } from './tune-fixtures.js';

/**
 * After `ponder tune --resume` the dashboard reads the run's earlier steps and evaluations back from
 * its metrics.jsonl: the loss curve and the other metrics' curves start at step 1, the evals before
 * the checkpoint are listed, and lines past the checkpoint (about to be redone) or torn are skipped.
 */
afterEach(() => cleanup());
const root = mkdtempSync(join(tmpdir(), 'ponder-tune-history-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** metrics.jsonl of a two-stage run (4 + 4 steps) that ran 7 steps, resumed from the checkpoint at 6. */
function metricsText(): string {
  const lines: object[] = [];
  for (let g = 1; g <= 7; g++) {
    const stage = g <= 4 ? 0 : 1;
    const step = g - 4 * stage;
    lines.push({ stage, step, stage_name: stage ? 'rl' : 'pre', global_step: g, loss: 10 - g, ...(stage ? { reward: g / 10 } : {}), lr: 0.01, grad_norm: 1, skipped: false, tokens_per_s: 100, gpu_mem_bytes: 1, time_s: g });
    if (g === 4) lines.push({ stage: 0, step: 4, eval_task: 'arithmetic', accuracy: 0.25, eval_n: 8 });
    if (g === 6) lines.push({ stage: 1, step: 2, eval_task: 'countdown', accuracy: 0.5, eval_n: 4, 'pass@k': 0.75, samples: 4 });
    if (g === 7) lines.push({ stage: 1, step: 3, eval_task: 'countdown', accuracy: 1, eval_n: 4 });
  }
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n{"stage": 1, "step": 8, "glo';
}

const START: TuneStartEvent = {
  type: 'start',
  output: join(root, 'run'),
  recipe_hash: 'ab'.repeat(32),
  resumed: true,
  resumed_from: join(root, 'run/checkpoints/step-000006.ckpt'),
  total_steps: 8,
  start_step: 6,
  parameters: 1000,
  stages: [
    { name: 'pre', kind: 'pretrain', steps: 4 },
    { name: 'rl', kind: 'sft', steps: 4 },
  ],
};

describe('a resumed run\'s history', () => {
  it('parses steps and evals up to the checkpoint, skipping later and torn lines', () => {
    const h = parseRunHistory(metricsText(), 6, [4, 4]);
    assert.deepEqual(
      h.steps.map((s) => [s.global_step, s.loss]),
      [1, 2, 3, 4, 5, 6].map((g) => [g, 10 - g]),
    );
    assert.deepEqual(h.steps[4]!.metrics, { reward: 0.5 });
    assert.deepEqual(h.steps[0]!.metrics, {});
    assert.deepEqual(h.evals, [
      { type: 'eval', stage: 0, step: 4, task: 'arithmetic', accuracy: 0.25, n: 8, correct: 2 },
      { type: 'eval', stage: 1, step: 2, task: 'countdown', accuracy: 0.5, n: 4, correct: 2, samples: 4, 'pass@k': 0.75 },
    ]);
  });

  it('the reducer puts the history before this session\'s steps', () => {
    let s = reduceTuneView(initialTuneView, START);
    s = reduceTuneView(s, parseRunHistory(metricsText(), 6, [4, 4]));
    s = reduceTuneView(s, stepEvent(1, 3, 4, 7, 8, { loss: 0.5, metrics: { loss: 0.5, reward: 0.9 } }));
    assert.deepEqual(s.losses, [9, 8, 7, 6, 5, 4, 0.5]);
    assert.deepEqual(s.curves.reward!.points, [0.5, 0.6, 0.9]);
    assert.equal(s.firstLoss, 9);
    assert.deepEqual(s.evals.map((e) => e.step), [4, 2]);
  });

  it('the dashboard reads <output>/metrics.jsonl on a resumed start', async () => {
    mkdirSync(START.output, { recursive: true });
    writeFileSync(join(START.output, 'metrics.jsonl'), metricsText());
    const stream = controlledStream<TuneEvent>();
    const controls: TuneControls = { pause() {}, resume() {}, checkpointNow() {}, evaluateNow() {}, quit() {} };
    const ui = render(<TuneDashboard events={stream.events} controls={controls} />);
    stream.push(START, { type: 'stage', index: 1, name: 'rl', kind: 'sft', steps: 4, from_step: 2, batch_size: 2, grad_accum: 1, seq_len: 16 });
    const t0 = Date.now();
    let f = '';
    while (!(f = ui.lastFrame() ?? '').includes('countdown 50.0%')) {
      if (Date.now() - t0 > 3000) assert.fail(`no history in the frame:\n${f}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.match(f, /resumed at step 6/);
    assert.match(f, /eval step 2 countdown 50\.0% \(2\/4\)/);
    assert.match(f, /eval step 4 arithmetic 25\.0% \(2\/8\)/);
    assert.match(f, /9\.000 ┤/, 'the loss chart starts at the first step of the run');
    stream.end();
  });
});
