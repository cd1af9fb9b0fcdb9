import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import type { ModelBenchResult, TrainBenchResult } from '../../src/engine/bench/types.js';
import { BenchTableView, initialBenchView, reduceBenchView, type BenchViewState } from '../../src/tui/bench-table.js';
import type { BenchEvent } from '../../src/engine/bench/runner.js';
import { csvColumns, printBenchCsv, printBenchJson, printBenchPlain } from '../../src/tui/bench-print.js';

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

describe('model rows with --peers', () => {
  const base = { suite: 'model' as const, name: 'tiny-bytes', batch: 1, params: 821248, weight_bytes: 3284992, copy_gbps: 2.6, adapter: 'fake', roofline_tokens_per_s: null, pct_of_roofline: null };
  const pp: ModelBenchResult = { ...base, shape: 'pp64 B1', test: 'pp', ms_median: 191, tokens_per_s: 335, peers: [{ peer: 'pytorch', tokens_per_s: 803, ratio: 335 / 803 }] };
  const differ = "its greedy tokens differ from ponder's: 1 2 3 4 vs 1 2 3 5";
  const tg: ModelBenchResult = { ...base, shape: 'tg32 B1', test: 'tg', ms_median: 17, tokens_per_s: 53.7, roofline_tokens_per_s: 1881, pct_of_roofline: 2.9, peers: [{ peer: 'pytorch', tokens_per_s: null, ratio: null, note: differ }] };
  const events: BenchEvent[] = [
    { type: 'start', total: 3, adapter: 'fake', suites: ['model'] },
    { type: 'note', message: 'peer pytorch: torch 2.4.0 (cpu, 8 threads)' },
    { type: 'case', index: 0, name: pp.name, shape: pp.shape, suite: 'model' },
    { type: 'result', index: 0, result: pp },
    { type: 'case', index: 1, name: tg.name, shape: tg.shape, suite: 'model' },
    { type: 'result', index: 1, result: tg },
    { type: 'case', index: 2, name: model.name, shape: model.shape, suite: 'model' },
    { type: 'result', index: 2, result: model },
  ];

  it('the plain table has the model peer\'s tok/s and ratio columns, and says why a row has no figure', () => {
    const out: string[] = [];
    for (const ev of events) printBenchPlain(ev, (l) => out.push(l), { peers: ['numpy'], modelPeers: ['pytorch'] });
    const text = out.join('\n');
    assert.match(text, /^model\s+test\s+ms\s+tok\/s\s+roofline\s+% roof\s+accept\s+params\s+disp\/step\s+subm\/step\s+pytorch tok\/s\s+vs pytorch$/m);
    assert.ok(!text.includes('numpy GFLOP/s'), 'kernel peers have no columns on the model table');
    assert.match(text, /^tiny-bytes\s+pp64 B1\s+191\s+335\s+-\s+-\s+-\s+821\.2k\s+-\s+-\s+803\s+0\.42x$/m);
    assert.ok(out.some((l) => /^tiny-bytes\s+tg32 B1\s+17\.0\s+53\.7\s+1881\s+2\.9%\s+-\s+821\.2k\s+-\s+-\s+-\s+-  pytorch: its greedy tokens differ/.test(l) && l.endsWith(differ)), text);
    // a row the peer does not run (batch 32) leaves its columns empty
    assert.match(text, /^tiny-bytes\s+tg16 B32\s+60\.0\s+533\s+25000\s+2\.1%\s+-\s+821\.2k\s+-\s+-$/m);
  });

  it('the live table has the same columns and the note', () => {
    const state = events.reduce((st: BenchViewState, ev) => reduceBenchView(st, ev), initialBenchView);
    const f = render(<BenchTableView state={state} peers={['numpy']} modelPeers={['pytorch']} />).lastFrame() ?? '';
    // at 100 columns the peer titles are cut to their narrow width, as the kernel peers' are
    assert.match(f, /params\s+pytorch t…\s*vs pytor…/);
    assert.match(f, /pp64 B1\s+191\s+335\s+-\s+-\s+-\s+821\.2k\s+803\s+0\.42x/);
    assert.match(f, /tiny-bytes\s+tg32 B1\s+17\.0 .*821\.2k\s+-\s+-\n  pytorch: its greedy tokens differ/);
    assert.ok(!f.includes('numpy'));
  });

  it('JSON carries the peers array; CSV has the peer\'s tokens/s and a ratio column shared with kernel rows', () => {
    const json: string[] = [];
    for (const ev of events) printBenchJson(ev, (l) => json.push(l));
    assert.deepEqual(JSON.parse(json[0]!).peers, pp.peers);
    assert.deepEqual(JSON.parse(json[1]!).peers, tg.peers);
    const cols = csvColumns(['kernels', 'model'], ['pytorch'], ['pytorch']);
    assert.equal(cols.filter((c) => c === 'ratio_vs_pytorch').length, 1);
    assert.ok(cols.includes('pytorch_gflops') && cols.includes('pytorch_tokens_per_s'));
    const csv: string[] = [];
    for (const ev of events) printBenchCsv(ev, (l) => csv.push(l), { modelPeers: ['pytorch'] });
    const header = csv[0]!.split(',');
    const row = (i: number) => csv[i]!.split(',');
    const at = (i: number, c: string) => row(i)[header.indexOf(c)];
    assert.equal(at(1, 'pytorch_tokens_per_s'), '803');
    assert.equal(Number(at(1, 'ratio_vs_pytorch')), 335 / 803);
    assert.equal(at(2, 'pytorch_tokens_per_s'), '');
    assert.equal(at(3, 'ratio_vs_pytorch'), '');
  });
});
