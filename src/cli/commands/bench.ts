import { Argument, type Command } from 'commander';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { render } from 'ink';
import { createElement } from 'react';
import { allKernelCases } from '../../../bench/kernels/index.js';
import { modelBenchShapes } from '../../../bench/models.js';
import { benchModel } from '../../engine/bench/model.js';
import type { BenchCeilings } from '../../engine/bench/ceilings.js';
import { Baseline, compareRuns, loadSavedRun, makeSavedRun, rowKey, serializeSavedRun } from '../../engine/bench/compare.js';
import { matchesFilter, runKernelBench, type BenchEvent } from '../../engine/bench/runner.js';
import type { KernelBenchResult } from '../../engine/bench/types.js';
import { PonderError } from '../../errors.js';
import { Gpu } from '../../gpu/gpu.js';
import { printBenchCsv, printBenchJson, printBenchPlain } from '../../tui/bench-print.js';
import { BenchTable } from '../../tui/bench-table.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import type { CliIO } from '../io.js';
import { usageError } from '../output.js';
import { parseNumberFlag } from '../parse.js';

interface BenchOpts {
  filter?: string;
  json?: boolean;
  csv?: boolean;
  plain?: boolean;
  list?: boolean;
  time?: string;
  save?: string;
  compare?: string;
  threshold: string;
  failOnRegression?: boolean;
  adapter?: string;
  backend?: string;
}

export function registerBench(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('bench')
      .description("benchmark the GPU kernels (median ms, GFLOP/s, GB/s and % of the measured roofline per shape) or whole models (prefill and decode tokens/s)")
      .addArgument(new Argument('[suite]', 'what to benchmark').choices(['kernels', 'model']).default('kernels'))
      .option('--filter <text>', 'only cases whose "name shape" contains TEXT (or matches /regex/)')
      .option('--json', 'one JSON object per line: name, shape, ms_median, gflops, gbps, pct_of_peak, adapter')
      .option('--csv', 'CSV: one header line, then one line per case')
      .option('--plain', 'the plain text table even on a terminal (no live view)')
      .option('--list', 'list the cases without running them')
      .option('--time <ms>', 'time budget per case in milliseconds', '400')
      .option('--save <file>', 'write the run (ceilings, rows, adapter, date, version, commit) as JSON to FILE')
      .option('--compare <file>', 'show each case beside the run saved in FILE (ratio = new/old time)')
      .option('--threshold <pct>', 'with --compare: mark cases slower by more than PCT percent', '10')
      .option('--fail-on-regression', 'with --compare: exit with status 1 when a case regressed'),
  ).action(async (suite: string, opts: BenchOpts) => {
    if (suite === 'model') return benchModels(io, opts);
    const timeMs = Number(opts.time);
    if (!Number.isFinite(timeMs) || timeMs <= 0) throw new PonderError('USAGE', `--time must be a positive number of milliseconds, got "${opts.time}"`);
    const threshold = parseNumberFlag('--threshold', opts.threshold, 0, 1e6)!;
    if (opts.json && opts.csv) throw usageError('--json and --csv cannot be combined');
    if (opts.failOnRegression && !opts.compare) throw usageError('--fail-on-regression needs --compare FILE');
    const cases = allKernelCases();
    if (opts.list) {
      for (const c of cases.filter((c) => matchesFilter(c, opts.filter))) {
        io.out(opts.json ? JSON.stringify({ name: c.name, shape: c.shape, flops: c.flops, bytes: c.bytes }) : `${c.name.padEnd(22)}  ${c.shape}`);
      }
      return;
    }
    if (!cases.some((c) => matchesFilter(c, opts.filter))) {
      throw new PonderError('USAGE', `no benchmark case matches --filter "${opts.filter}"`, 'see `ponder bench --list`');
    }
    // both files are checked before the GPU is opened: a typo should not cost a whole run
    const baseline = opts.compare !== undefined ? new Baseline(loadSavedRun(opts.compare), threshold) : undefined;
    if (opts.save !== undefined) checkWritable(opts.save);

    const gpu = await Gpu.open(deviceOptions(opts));
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    try {
      let errors = 0;
      let adapter = '';
      let ceilings: BenchCeilings | undefined;
      let results: KernelBenchResult[] = [];
      const events = runKernelBench(gpu, cases, { filter: opts.filter, timeMs, signal: abort.signal, ceilings: 'measure' });
      // bookkeeping shared by every view; the view sees the same events
      async function* tracked(): AsyncGenerator<BenchEvent> {
        for await (const ev of events) {
          if (ev.type === 'start') adapter = ev.adapter;
          else if (ev.type === 'ceilings') ceilings = ev.ceilings;
          else if (ev.type === 'error') errors++;
          else if (ev.type === 'done') results = ev.results;
          yield ev;
        }
      }
      const live = io.isTTY && !opts.json && !opts.csv && !opts.plain;
      if (live) await runLiveTable(tracked(), baseline);
      else {
        const print = opts.json ? printBenchJson : opts.csv ? printBenchCsv : printBenchPlain;
        for await (const ev of tracked()) print(ev, io.out, { baseline });
      }
      if (abort.signal.aborted) throw new PonderError('INTERRUPTED', 'benchmark interrupted');
      if (opts.save !== undefined) {
        try {
          writeFileSync(opts.save, serializeSavedRun(makeSavedRun(results, adapter, ceilings)));
        } catch (e) {
          throw new PonderError('BAD_INPUT', `cannot write --save file "${opts.save}" (${(e as NodeJS.ErrnoException).code ?? e})`);
        }
        if (!opts.json && !opts.csv) io.err(`saved ${results.length} case${results.length === 1 ? '' : 's'} to ${opts.save}`);
      }
      if (errors) throw new PonderError('GPU_VALIDATION', `${errors} benchmark case${errors === 1 ? '' : 's'} failed (see the rows marked error)`);
      if (baseline && opts.failOnRegression) {
        const regressed = compareRuns(baseline.run, results, threshold).filter((r) => r.status === 'regression');
        if (regressed.length) {
          const names = regressed.slice(0, 3).map(rowKey).join(', ') + (regressed.length > 3 ? ', ...' : '');
          throw new PonderError('BAD_INPUT', `${regressed.length} case${regressed.length === 1 ? '' : 's'} regressed by more than ${threshold}% against ${opts.compare}: ${names}`);
        }
      }
    } finally {
      process.off('SIGINT', onSigint);
      gpu.close();
    }
  });
}

/** The Ink table on a terminal; resolves when the stream ends (rejects if it threw). */
async function runLiveTable(events: AsyncIterable<BenchEvent>, baseline: Baseline | undefined): Promise<void> {
  let finish!: (e?: unknown) => void;
  const finished = new Promise<unknown>((resolve) => (finish = resolve));
  // no useInput: stdin stays cooked, so Ctrl-C is the usual SIGINT that aborts the run
  const ui = render(createElement(BenchTable, { events, baseline, onDone: (e?: unknown) => finish(e) }), { exitOnCtrlC: false, patchConsole: false });
  const error = await finished;
  await new Promise((r) => setTimeout(r, 30)); // let the last event's frame render before unmounting
  ui.unmount();
  await ui.waitUntilExit().catch(() => {});
  if (error) throw error;
}

/** Fails early (before a long run) when --save points into a missing folder or at a folder. */
function checkWritable(file: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir)) throw usageError(`--save: folder "${dir}" does not exist`);
  if (existsSync(file) && statSync(file).isDirectory()) throw usageError(`--save: "${file}" is a folder`);
}

/** `ponder bench model`: prefill/decode tokens/s per model shape, decode against its memory roofline. */
async function benchModels(io: CliIO, opts: BenchOpts): Promise<void> {
  const shapes = modelBenchShapes().filter((s) => !opts.filter || s.name.includes(opts.filter));
  if (opts.list) {
    for (const s of shapes) io.out(opts.json ? JSON.stringify({ name: s.name }) : s.name);
    return;
  }
  if (shapes.length === 0) throw new PonderError('USAGE', `no model shape matches --filter "${opts.filter}"`, 'see `ponder bench model --list`');
  const gpu = await Gpu.open(deviceOptions(opts));
  try {
    if (!opts.json) io.out(`${'model'.padEnd(20)}  ${'params'.padStart(8)}  ${'pp tok/s'.padStart(9)}  ${'tg tok/s'.padStart(9)}  ${'roofline'.padStart(9)}  ${'% roof'.padStart(7)}  copy GB/s`);
    for (const s of shapes) {
      const r = await benchModel(gpu, s.name, s.config, { promptTokens: s.promptTokens, decodeTokens: s.decodeTokens });
      if (opts.json) io.out(JSON.stringify(r));
      else {
        const f = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(3));
        io.out(`${r.name.padEnd(20)}  ${(r.params / 1e6).toFixed(1).padStart(7)}M  ${f(r.prefill_tokens_per_s).padStart(9)}  ${f(r.decode_tokens_per_s).padStart(9)}  ${f(r.decode_roofline_tokens_per_s).padStart(9)}  ${r.pct_of_roofline.toFixed(1).padStart(6)}%  ${f(r.copy_gbps)}`);
      }
      gpu.pool.trim();
    }
  } finally {
    gpu.close();
  }
}
