import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import type { ModelBenchResult, TrainBenchResult } from '../../src/engine/bench/types.js';
import { BenchTableView, initialBenchView, reduceBenchView, type BenchViewState } from '../../src/tui/bench-table.js';
import type { BenchEvent } from '../../src/engine/bench/runner.js';

/** The live table of a run of several suites: one table per suite, each with its own columns. */
afterEach(() => cleanup());

const model: ModelBenchResult = {
  suite: 'model', name: 'tiny-bytes', shape: 'tg16 B32', test: 'tg', batch: 32, ms_median: 60, tokens_per_s: 533, params: 821248,
  weight_bytes: 3284992, roofline_tokens_per_s: 25000, pct_of_roofline: 2.1, copy_gbps: 2.6, adapter: 'fake',
};
const train: TrainBenchResult = {
  suite: 'train', name: 'tiny-arithmetic-sft', shape: 'sft B16 T48', batch: 16, seq_len: 48, params: 107700, steps: 5, ms_median: 518,
  ms_p10: 500, ms_p90: 530, tokens_per_s: 1330, peak_bytes: 10.3 * 2 ** 20, floor_bytes: 10.2 * 2 ** 20, peak_over_floor: 1.01, loss: 5.5, adapter: 'fake',
};

describe('bench table with model and train rows', () => {
  it('draws a table per suite with the suite\'s columns, a running case under its own suite, and notes', () => {
    const events: BenchEvent[] = [
      { type: 'start', total: 3, adapter: 'fake', suites: ['model', 'train'] },
      { type: 'case', index: 0, name: model.name, shape: model.shape, suite: 'model' },
      { type: 'result', index: 0, result: model },
      { type: 'case', index: 0, name: train.name, shape: train.shape, suite: 'train' },
      { type: 'result', index: 0, result: train },
      { type: 'note', message: 'peer numpy: skipped (python3 is not installed)' },
      { type: 'case', index: 1, name: 'bench-50m', shape: 'bench B1 T256', suite: 'train' },
    ];
    const state = events.reduce((s: BenchViewState, ev) => reduceBenchView(s, ev), initialBenchView);
    const f = render(<BenchTableView state={state} />).lastFrame() ?? '';
    assert.match(f, /model\s+test\s+ms\s+tok\/s\s+roofline\s+% roof\s+accept\s+params/);
    assert.match(f, /tiny-bytes\s+tg16 B32\s+60\.0\s+533\s+25000\s+2\.1%\s+-\s+821\.2k/);
    assert.match(f, /recipe\s+stage\s+step ms\s+tok\/s\s+params\s+peak\s+floor\s+peak\/floor/);
    assert.match(f, /tiny-arithmetic-sft\s+sft B16 T48\s+518\s+1330\s+107\.7k\s+10\.3 MiB\s+10\.2 MiB\s+1\.01x/);
    assert.match(f, /bench-50m\s+bench B1 T256\s+running/);
    assert.ok(f.indexOf('bench-50m') > f.indexOf('tiny-arithmetic-sft') && f.indexOf('tiny-arithmetic-sft') > f.indexOf('tiny-bytes'));
    assert.match(f, /peer numpy: skipped/);
    assert.match(f, /2\/3 cases/);
    assert.ok(!f.includes('kernel '), 'no kernel table in a run without kernels');
  });
});
