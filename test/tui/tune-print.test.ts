import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { createPlainPrinter, formatDuration, printTuneJson } from '../../src/tui/tune-print.js';
import { stepEvent } from './tune-fixtures.js';

/** The headless printers: one plain line per event kind (progress lines rate-limited), JSON Lines. */
describe('tune plain printer', () => {
  it('prints stages (with accumulation), rate-limited progress, pauses, notices and the end', () => {
    const lines: string[] = [];
    let t = 0;
    const print = createPlainPrinter((l) => lines.push(l), { intervalMs: 1000, now: () => t });
    const events: TuneEvent[] = [
      { type: 'stage', index: 0, name: 'pre', kind: 'pretrain', steps: 3, from_step: 0, batch_size: 2, grad_accum: 4, seq_len: 24 },
      stepEvent(0, 1, 3, 1, 3, { step_ms: 2000 }),
      stepEvent(0, 2, 3, 2, 3, { step_ms: 2000 }), // within the interval: no line
      { type: 'paused', step: 2, stage: 0 },
      { type: 'notice', message: 'checkpoint for step 2 already written: /c', request: 'checkpoint' },
      { type: 'resumed', step: 2, paused_s: 75 },
      stepEvent(0, 3, 3, 3, 3, { step_ms: 2000 }), // the stage's last step: always
      { type: 'done', final_dir: '/runs/x/final', steps: 3, elapsed_s: 3725 },
    ];
    for (const e of events) print(e);
    assert.deepEqual(lines.map((l) => l.replace(/ {2}loss.*eta/, ' … eta')), [
      'stage 1 "pre" (pretrain): 3 steps (4 micro-batches of 2 per step)',
      '[s0] step 1/3 … eta 0:04',
      'paused after step 2',
      'checkpoint for step 2 already written: /c',
      'resumed after 1:15 paused',
      '[s0] step 3/3 … eta 0:00',
      'done: 3 steps in 1:02:05; model saved to /runs/x/final',
    ]);
    assert.equal(formatDuration(NaN), '-');
  });

  it('--json: one line per event, parseable back', () => {
    const lines: string[] = [];
    const e: TuneEvent = { type: 'interrupted', step: 4, checkpoint: '/c/step-000004.ckpt', reason: 'quit' };
    printTuneJson(e, (l) => lines.push(l));
    assert.deepEqual(lines.map((l) => JSON.parse(l)), [e]);
  });
});
