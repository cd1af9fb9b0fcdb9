import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import { Baseline, SAVED_RUN_FORMAT } from '../../src/engine/bench/compare.js';
import type { BenchEvent } from '../../src/engine/bench/runner.js';
import type { KernelBenchResult } from '../../src/engine/bench/types.js';
import { BenchTable, progressBar } from '../../src/tui/bench-table.js';
import { controlledStream } from '../helpers/event-stream.js';

/** The live bench table from a synthetic event stream: rows fill in as results arrive, the bar advances. */
afterEach(() => cleanup());

function result(name: string, shape: string, ms: number, pct: number | null = 25): KernelBenchResult {
  return { name, shape, ms_median: ms, ms_p10: ms, ms_p90: ms, gflops: 3, gbps: 4, samples: 5, adapter: 'fake adapter', pct_of_peak: pct };
}

const controlled = () => controlledStream<BenchEvent>();

async function waitFor(what: string, frame: () => string | undefined, ok: (f: string) => boolean, ms = 3000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const f = frame() ?? '';
    if (ok(f)) return f;
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}; last frame:\n${f}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('bench table (Ink)', () => {
  it('progressBar fills done/total of its width', () => {
    assert.equal(progressBar(0, 4, 8), '░░░░░░░░');
    assert.equal(progressBar(1, 4, 8), '██░░░░░░');
    assert.equal(progressBar(4, 4, 8), '████████');
    assert.equal(progressBar(0, 0, 3), '░░░');
  });

  it('fills in rows as results arrive, shows the running case and the progress', async () => {
    const s = controlled();
    let done = 0;
    const ui = render(<BenchTable events={s.events} onDone={() => done++} />);
    const until = (what: string, ok: (f: string) => boolean) => waitFor(what, ui.lastFrame, ok);
    s.push({ type: 'start', total: 3, adapter: 'fake adapter' });
    await until('start', (f) => f.includes('adapter: fake adapter') && f.includes('0/3 cases') && f.includes('measuring ceilings'));
    s.push({ type: 'ceilings', ceilings: { peak_gbps: 16, peak_gflops: 120 } });
    s.push({ type: 'case', index: 0, name: 'matmul', shape: '64x64x64' });
    let f = await until('first case running', (f) => f.includes('ceilings: copy 16.0 GB/s, matmul 120 GFLOP/s') && /matmul\s+64x64x64\s+running/.test(f));
    assert.match(f, /kernel\s+shape\s+ms \(median\)\s+GFLOP\/s\s+GB\/s\s+% peak/);
    s.push({ type: 'result', index: 0, result: result('matmul', '64x64x64', 1.5) });
    s.push({ type: 'case', index: 1, name: 'rmsnorm', shape: '1x896' });
    f = await until('first row', (f) => f.includes('1/3 cases') && /rmsnorm\s+1x896\s+running/.test(f));
    assert.match(f, /matmul\s+64x64x64\s+1\.500\s+3\.000\s+4\.000\s+25%/);
    assert.ok(f.includes('██████████░░░░░░░░░░░░░░░░░░░░'), f);
    s.push({ type: 'error', index: 1, name: 'rmsnorm', shape: '1x896', message: 'device lost' });
    s.push({ type: 'case', index: 2, name: 'argmax', shape: '1x10' });
    s.push({ type: 'result', index: 2, result: result('argmax', '1x10', 0.25, null) });
    s.push({ type: 'done', results: [] });
    s.end();
    f = await until('done', (f) => f.includes('3/3 cases done'));
    assert.match(f, /rmsnorm\s+1x896\s+error\s*device lost/);
    assert.match(f, /argmax\s+1x10\s+0\.250\s+3\.000\s+4\.000\s+-/);
    assert.ok(!f.includes('running'), f);
    await waitFor('onDone', () => String(done), (d) => d === '1');
  });

  it('with a baseline: old ms, ratio, regression marker and the summary line', async () => {
    const base = new Baseline(
      { format: SAVED_RUN_FORMAT, date: '2025-01-02T03:04:05.000Z', ponder_version: '0.1.0', adapter: 'fake adapter', rows: [result('matmul', '64x64x64', 1.0), result('gone', '1', 1)] },
      10,
    );
    const s = controlled();
    const ui = render(<BenchTable events={s.events} baseline={base} />);
    const r1 = result('matmul', '64x64x64', 1.5);
    const r2 = result('argmax', '1x10', 0.25);
    s.push(
      { type: 'start', total: 2, adapter: 'fake adapter' },
      { type: 'case', index: 0, name: 'matmul', shape: '64x64x64' },
      { type: 'result', index: 0, result: r1 },
      { type: 'case', index: 1, name: 'argmax', shape: '1x10' },
      { type: 'result', index: 1, result: r2 },
      { type: 'done', results: [r1, r2] },
    );
    s.end();
    const f = await waitFor('done', ui.lastFrame, (f) => f.includes('2/2 cases done'));
    assert.match(f, /compared with: 2025-01-02 03:04 UTC, fake adapter/);
    assert.match(f, /old ms\s+ratio/);
    assert.match(f, /matmul\s+64x64x64\s+1\.500.*1\.000\s+1\.50x\s+<< REGRESSION/);
    assert.match(f, /argmax\s+1x10\s+0\.250.*-\s+-\s+new/);
    assert.match(f, /vs saved run: 1 regression over 10%, 1 new, 1 not run/);
  });
});
