import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pctOfPeak } from '../../src/engine/bench/ceilings.js';
import { Baseline, classify, compareRuns, compareSummary, parseSavedRun, SAVED_RUN_FORMAT, serializeSavedRun, type SavedRun } from '../../src/engine/bench/compare.js';
import type { BenchEvent } from '../../src/engine/bench/runner.js';
import type { KernelBenchResult } from '../../src/engine/bench/types.js';
import { csvColumns, printBenchCsv, printBenchPlain } from '../../src/tui/bench-print.js';

const CSV_COLUMNS = csvColumns(['kernels']);
import { PonderError } from '../../src/errors.js';

/** Compare logic, roofline percent and the headless printers, from synthetic rows (no GPU). */
const ADAPTER = 'llvmpipe (LLVM 15.0.7, 256 bits)';

function result(name: string, shape: string, ms: number, extra: Partial<KernelBenchResult> = {}): KernelBenchResult {
  return { name, shape, ms_median: ms, ms_p10: ms * 0.9, ms_p90: ms * 1.1, gflops: 1, gbps: 2, samples: 10, adapter: ADAPTER, ...extra };
}

function saved(rows: KernelBenchResult[]): SavedRun {
  return { format: SAVED_RUN_FORMAT, date: '2025-01-02T03:04:05.000Z', ponder_version: '0.1.0', adapter: ADAPTER, ceilings: { peak_gbps: 10, peak_gflops: 100 }, rows };
}

function collect(events: BenchEvent[], print: (ev: BenchEvent, w: (l: string) => void) => void): string[] {
  const lines: string[] = [];
  for (const ev of events) print(ev, (l) => lines.push(l));
  return lines;
}

describe('bench compare', () => {
  const old = saved([result('matmul', '64x64x64', 1.0), result('rmsnorm', '1x896', 0.5), result('argmax', '1x10', 0.2), result('softmax', '4x4', 0.3)]);

  it('ratio is new/old time; over the threshold is a regression, under its inverse is faster', () => {
    const rows = compareRuns(old, [result('matmul', '64x64x64', 1.25), result('rmsnorm', '1x896', 0.52), result('argmax', '1x10', 0.1)], 10);
    const by = new Map(rows.map((r) => [`${r.name} ${r.shape}`, r]));
    assert.equal(by.get('matmul 64x64x64')!.ratio, 1.25);
    assert.equal(by.get('matmul 64x64x64')!.status, 'regression');
    assert.equal(by.get('matmul 64x64x64')!.old_ms, 1.0);
    assert.ok(Math.abs(by.get('rmsnorm 1x896')!.ratio! - 1.04) < 1e-12);
    assert.equal(by.get('rmsnorm 1x896')!.status, 'same');
    assert.equal(by.get('argmax 1x10')!.status, 'faster');
  });

  it('the threshold decides: 25% slower is fine at 30, a regression at 20; exactly at the threshold is not', () => {
    assert.equal(classify(1.25, 30), 'same');
    assert.equal(classify(1.25, 20), 'regression');
    assert.equal(classify(1.1, 10), 'same');
    assert.equal(classify(1.1000001, 10), 'regression');
    assert.equal(classify(1 / 1.1 - 1e-9, 10), 'faster');
    assert.equal(new Baseline(old, 50).compare(result('matmul', '64x64x64', 1.4)).status, 'same');
    assert.equal(new Baseline(old, 5).compare(result('matmul', '64x64x64', 1.06)).status, 'regression');
  });

  it('cases only in the new run are "new", cases only in the saved run are "gone", after the run rows', () => {
    const rows = compareRuns(old, [result('matmul', '64x64x64', 1.0), result('matmul', '128x128x128', 3.0)], 10);
    assert.deepEqual(
      rows.map((r) => [r.name, r.shape, r.status]),
      [
        ['matmul', '64x64x64', 'same'],
        ['matmul', '128x128x128', 'new'],
        ['rmsnorm', '1x896', 'gone'],
        ['argmax', '1x10', 'gone'],
        ['softmax', '4x4', 'gone'],
      ],
    );
    const fresh = rows[1];
    assert.equal(fresh.old_ms, undefined);
    assert.equal(fresh.ratio, undefined);
    assert.equal(rows[2].ms, undefined);
    assert.equal(compareSummary(rows, 10), 'vs saved run: 0 regressions over 10%, 1 same, 1 new, 3 not run');
  });

  it('a saved run survives serialize -> parse (NaN ceilings become null, then NaN)', () => {
    const run = saved([result('matmul', '64x64x64', 1.0, { pct_of_peak: 12.5 })]);
    run.ceilings = { peak_gbps: 10, peak_gflops: NaN };
    const text = serializeSavedRun(run);
    assert.match(text, /"peak_gflops": null/);
    const back = parseSavedRun(text, 'x.json');
    assert.equal((back.rows[0] as KernelBenchResult).pct_of_peak, 12.5);
    assert.equal(back.ceilings!.peak_gbps, 10);
    assert.ok(Number.isNaN(back.ceilings!.peak_gflops));
    assert.equal(back.date, run.date);
  });

  it('invalid saved files are one-line BAD_INPUT errors naming the file', () => {
    const cases: [string, RegExp][] = [
      ['{not json', /"f\.json" is not valid JSON/],
      ['[1,2]', /expected a JSON object/],
      ['{"format":"other","rows":[]}', /"format" is "other"/],
      [JSON.stringify({ format: SAVED_RUN_FORMAT, rows: {} }), /"rows" is not an array/],
      [JSON.stringify({ format: SAVED_RUN_FORMAT, rows: [{ name: 'a', shape: 'b', ms_median: -1 }] }), /rows\[0\] needs/],
    ];
    for (const [text, re] of cases) {
      assert.throws(
        () => parseSavedRun(text, 'f.json'),
        (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message) && !e.message.includes('\n'),
        text,
      );
    }
  });
});

describe('pct_of_peak', () => {
  it('is the larger of the compute and the memory fraction, in percent', () => {
    const c = { peak_gflops: 100, peak_gbps: 10 };
    assert.equal(pctOfPeak({ gflops: 50, gbps: 1 }, c), 50); // compute-bound
    assert.equal(pctOfPeak({ gflops: 1, gbps: 8 }, c), 80); // memory-bound
    assert.equal(pctOfPeak({ gflops: 1, gbps: 8 }, { peak_gflops: NaN, peak_gbps: 10 }), 80); // one ceiling missing
    assert.ok(Number.isNaN(pctOfPeak({ gflops: 1, gbps: 1 }, { peak_gflops: NaN, peak_gbps: NaN })));
  });
});

describe('bench printers', () => {
  const events: BenchEvent[] = [
    { type: 'start', total: 3, adapter: ADAPTER },
    { type: 'ceilings', ceilings: { peak_gbps: 10, peak_gflops: 100, peak_gflops_case: 'matmul.ABt 1024x1024x1024' } },
    { type: 'case', index: 0, name: 'matmul', shape: '64x64x64' },
    { type: 'result', index: 0, result: result('matmul', '64x64x64', 2.0, { pct_of_peak: 42 }) },
    { type: 'case', index: 1, name: 'rmsnorm', shape: '1x896' },
    { type: 'error', index: 1, name: 'rmsnorm', shape: '1x896', message: 'boom, "quoted"' },
    { type: 'case', index: 2, name: 'argmax', shape: '1x10' },
    { type: 'result', index: 2, result: result('argmax', '1x10', 0.2, { pct_of_peak: null }) },
    { type: 'done', results: [] },
  ];

  it('CSV: one header line and one row per case, the same number of fields in each', () => {
    const lines = collect(events, printBenchCsv);
    assert.equal(lines.length, 4);
    assert.equal(lines[0], CSV_COLUMNS.join(','));
    const split = (l: string) => [...l.matchAll(/("([^"]|"")*"|[^,]*)(,|$)/g)].map((m) => m[1]).slice(0, CSV_COLUMNS.length + 1);
    for (const l of lines) assert.equal(split(l).filter((_, i) => i < CSV_COLUMNS.length).length, CSV_COLUMNS.length, l);
    assert.match(lines[1], /^kernels,matmul,64x64x64,2,1\.8,2\.2,1,2,42,10,"llvmpipe \(LLVM 15\.0\.7, 256 bits\)",$/);
    assert.match(lines[2], /^kernels,rmsnorm,1x896,,,,,,,,,"boom, ""quoted"""$/);
    assert.match(lines[3], /^kernels,argmax,1x10,0\.2,/);
    assert.ok(lines[3].includes(',1,2,,10,'), 'unknown pct_of_peak is an empty field');
  });

  it('CSV with a baseline adds old_ms_median, ratio, status', () => {
    const base = new Baseline(saved([result('matmul', '64x64x64', 1.0)]), 10);
    const lines = collect(events, (ev, w) => printBenchCsv(ev, w, { baseline: base }));
    assert.ok(lines[0].endsWith(',error,old_ms_median,ratio,status'));
    assert.ok(lines[1].endsWith(',1,2,regression'), lines[1]);
    assert.ok(lines[3].endsWith(',,,new'), lines[3]);
  });

  it('plain: ceilings line, then the header with % peak; compare adds old ms, ratio and a marker, then a summary', () => {
    const plain = collect(events, printBenchPlain);
    assert.equal(plain[0], `adapter: ${ADAPTER}`);
    assert.equal(plain[2], 'ceilings: copy 10.0 GB/s, matmul 100 GFLOP/s (matmul.ABt 1024x1024x1024)');
    assert.match(plain[3], /^kernel\s+shape\s+ms \(median\)\s+GFLOP\/s\s+GB\/s\s+% peak$/);
    assert.match(plain[5], /^matmul\s+64x64x64\s+2\.000\s+1\.000\s+2\.000\s+42%$/);
    assert.match(plain[7], /^argmax\s+1x10\s+0\.200\s+1\.000\s+2\.000\s+-$/);

    const base = new Baseline(saved([result('matmul', '64x64x64', 1.0), result('argmax', '1x10', 0.5), result('gone', '1', 1)]), 10);
    const doneEv: BenchEvent = { type: 'done', results: [result('matmul', '64x64x64', 2.0), result('argmax', '1x10', 0.2)] };
    const cmp = collect([...events.slice(0, -1), doneEv], (ev, w) => printBenchPlain(ev, w, { baseline: base }));
    assert.match(cmp[1], /^compared with: 2025-01-02 03:04 UTC, llvmpipe/);
    assert.match(cmp[4], /% peak\s+old ms\s+ratio$/);
    assert.match(cmp[6], /42%\s+1\.000\s+2\.00x  << REGRESSION$/);
    assert.match(cmp[8], /0\.500\s+0\.40x  faster$/);
    assert.equal(cmp[9], 'vs saved run: 1 regression over 10%, 1 faster, 1 not run');
  });
});
