import { Argument, type Command } from 'commander';
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { render } from 'ink';
import { createElement } from 'react';
import { allKernelCases } from '../../../bench/kernels/index.js';
import { allModelCases } from '../../../bench/models.js';
import { matmulPeers, MODEL_PEER_NAMES, modelPeers, PEER_NAMES, TRAIN_PEER_NAMES, trainPeers } from '../../../bench/peers/index.js';
import { allTrainCases } from '../../../bench/train.js';
import type { BenchCeilings } from '../../engine/bench/ceilings.js';
import { Baseline, compareRuns, loadSavedRun, makeSavedRun, rowLabel, serializeSavedRun } from '../../engine/bench/compare.js';
import type { BenchEvent } from '../../engine/bench/runner.js';
import { listCases, runBench, type BenchCases } from '../../engine/bench/suites.js';
import { BENCH_SUITES, type BenchResult, type BenchSuite } from '../../engine/bench/types.js';
import { PonderError } from '../../errors.js';
import { Gpu } from '../../gpu/gpu.js';
import { printBenchCsv, printBenchJson, printBenchPlain } from '../../tui/bench-print.js';
import { BenchTable } from '../../tui/bench-table.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import type { CliIO } from '../io.js';
import { usageError } from '../output.js';
import { runServeBench } from './bench-serve.js';
import { runTune } from './bench-tune.js';
import { parseNumberFlag } from '../parse.js';

interface BenchOpts {
  model: string;
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
  peers?: boolean;
  tune?: boolean;
  adapter?: string;
  backend?: string;
}

export function registerBench(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('bench')
      .description(
        'benchmark the GPU kernels (median ms, GFLOP/s, GB/s and % of the measured roofline per shape), whole models ' +
          '(prefill and decode tokens/s at batch 1 and 32), training (optimizer steps: tokens/s, step ms, peak GPU memory ' +
          'against its floor), or all three in one run',
      )
      .addArgument(
        new Argument('[suite]', 'what to benchmark: kernels, model, train, or all (kernels, then model, then train); serve: 1, 8 and 32 concurrent clients of `ponder serve`')
          .choices([...BENCH_SUITES, 'all', 'serve'])
          .default('kernels'),
      )
      .option('-m, --model <model>', 'serve: the model to serve', 'default')
      .option('--filter <text>', 'only cases whose "name shape" contains TEXT (or matches /regex/), in every suite run')
      .option('--json', 'one JSON object per line, with its suite: name, shape, ms_median and the suite\'s figures (see bench/RESULTS.md)')
      .option('--csv', 'CSV: one header line, then one line per case')
      .option('--plain', 'the plain text table even on a terminal (no live view)')
      .option('--list', 'list the cases without running them')
      .option('--time <ms>', 'time budget per kernel case in milliseconds', '400')
      .option(
        '--peers',
        'kernels: time each matmul case also with numpy (python3), tfjs-webgpu and onnxruntime-webgpu (optional dev packages) and PyTorch (cuBLAS on a CUDA GPU, else CPU); ' +
          'model: run the same model\'s batch-1 prefill and greedy decode in PyTorch (CUDA, else CPU), shown only where its first greedy tokens equal ponder\'s; ' +
          'train: train the same model on the same batches with the same AdamW in PyTorch (CUDA, else CPU: its BLAS and threads are named, and a ratio is given only on an optimized BLAS using every core), shown only where its first loss equals ponder\'s; ' +
          'PyTorch runs in python3 or $PONDER_PYTHON; prints ponder/peer ratios',
      )
      .option('--save <file>', 'write the run (ceilings, rows, adapter, date, version, commit) as JSON to FILE')
      .option('--compare <file>', 'show each case beside the run saved in FILE (ratio = new/old time)')
      .option('--threshold <pct>', 'with --compare: mark cases slower by more than PCT percent', '10')
      .option('--fail-on-regression', 'with --compare: exit with status 1 when a case regressed')
      .option('--tune', 'kernels: first autotune matmul and attention on this adapter, save the tune cache (see README), then benchmark with the picks'),
  ).action(async (suiteArg: string, opts: BenchOpts) => {
    if (suiteArg === 'serve') return serveSuite(io, opts);
    if (opts.model !== 'default') throw usageError('--model applies to `bench serve` only');
    const suites: BenchSuite[] = suiteArg === 'all' ? [...BENCH_SUITES] : [suiteArg as BenchSuite];
    const timeMs = Number(opts.time);
    if (!Number.isFinite(timeMs) || timeMs <= 0) throw new PonderError('USAGE', `--time must be a positive number of milliseconds, got "${opts.time}"`);
    const threshold = parseNumberFlag('--threshold', opts.threshold, 0, 1e6)!;
    if (opts.json && opts.csv) throw usageError('--json and --csv cannot be combined');
    if (opts.failOnRegression && !opts.compare) throw usageError('--fail-on-regression needs --compare FILE');
    if (opts.tune && !suites.includes('kernels')) throw usageError('--tune runs with the kernels suite: use `bench kernels --tune` or `bench all --tune`');
    if (opts.tune && opts.list) throw usageError('--tune cannot be combined with --list');

    checkFilter(opts.filter);
    const cases = benchCases(suites);
    const listed = listCases(cases, suites, opts.filter);
    if (opts.list) {
      for (const c of listed) io.out(opts.json ? JSON.stringify(c) : `${c.suite.padEnd(8)}  ${c.name.padEnd(22)}  ${c.shape}`);
      return;
    }
    if (listed.length === 0) {
      throw new PonderError('USAGE', `no benchmark case matches --filter "${opts.filter}"`, `see \`ponder bench ${suiteArg} --list\``);
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
      let results: BenchResult[] = [];
      if (opts.tune) await runTune(gpu, io, { json: opts.json, csv: opts.csv, signal: abort.signal });
      // each suite opens only its own peers, and only when it runs a case they time
      const peers = opts.peers && suites.includes('kernels') ? matmulPeers(deviceOptions(opts)) : undefined;
      const mPeers = opts.peers && suites.includes('model') ? modelPeers() : undefined;
      const tPeers = opts.peers && suites.includes('train') ? trainPeers() : undefined;
      const runSuites = suites.filter((s) => listed.some((c) => c.suite === s));
      const events = runBench(gpu, cases, suites, { filter: opts.filter, timeMs, signal: abort.signal, ceilings: 'measure', peers, modelPeers: mPeers, trainPeers: tPeers });
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
      const printOpts = { baseline, peers: peers ? [...PEER_NAMES] : undefined, modelPeers: mPeers ? [...MODEL_PEER_NAMES] : undefined, trainPeers: tPeers ? [...TRAIN_PEER_NAMES] : undefined, suites: runSuites };
      const live = io.isTTY && !opts.json && !opts.csv && !opts.plain;
      if (live) await runLiveTable(tracked(), baseline, printOpts);
      else {
        const print = opts.json ? printBenchJson : opts.csv ? printBenchCsv : printBenchPlain;
        for await (const ev of tracked()) print(ev, io.out, printOpts);
      }
      if (abort.signal.aborted) throw new PonderError('INTERRUPTED', 'benchmark interrupted');
      if (opts.save !== undefined) {
        saveRun(opts.save, serializeSavedRun(makeSavedRun(results, adapter, ceilings)));
        if (!opts.json && !opts.csv) io.err(`saved ${results.length} case${results.length === 1 ? '' : 's'} to ${opts.save}`);
      }
      if (errors) throw new PonderError('GPU_VALIDATION', `${errors} benchmark case${errors === 1 ? '' : 's'} failed (see the rows marked error)`);
      if (baseline && opts.failOnRegression) {
        const regressed = compareRuns(baseline.run, results, threshold).filter((r) => r.status === 'regression');
        if (regressed.length) {
          const names = regressed.slice(0, 3).map(rowLabel).join(', ') + (regressed.length > 3 ? ', ...' : '');
          throw new PonderError('BAD_INPUT', `${regressed.length} case${regressed.length === 1 ? '' : 's'} regressed by more than ${threshold}% against ${opts.compare}: ${names}`);
        }
      }
    } finally {
      process.off('SIGINT', onSigint);
      gpu.close();
    }
  });
}

/** `bench serve` is its own measurement (a server and its clients), outside the case runner. */
async function serveSuite(io: CliIO, opts: BenchOpts): Promise<void> {
  const other = (['filter', 'csv', 'list', 'save', 'compare', 'failOnRegression', 'peers', 'tune'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (other.length) throw usageError(`bench serve takes --model, --json and --plain only (not --${other[0]!.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())})`);
  const gpu = await Gpu.open(deviceOptions(opts));
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    await runServeBench(gpu, io, { model: opts.model, json: opts.json, signal: abort.signal });
  } finally {
    process.off('SIGINT', onSigint);
    gpu.close();
  }
}

/** The cases of the suites asked for (the recipes are read only when the train suite is). */
function benchCases(suites: readonly BenchSuite[]): Partial<BenchCases> {
  return {
    ...(suites.includes('kernels') ? { kernels: allKernelCases() } : {}),
    ...(suites.includes('model') ? { model: allModelCases() } : {}),
    ...(suites.includes('train') ? { train: allTrainCases() } : {}),
  };
}

/** Writes the saved run as tmp + rename, so an interrupted write never leaves half a file. */
function saveRun(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new PonderError('BAD_INPUT', `cannot write --save file "${file}" (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}

/** The Ink table on a terminal; resolves when the stream ends (rejects if it threw). */
async function runLiveTable(events: AsyncIterable<BenchEvent>, baseline: Baseline | undefined, peers: { peers?: readonly string[]; modelPeers?: readonly string[]; trainPeers?: readonly string[] }): Promise<void> {
  let finish!: (e?: unknown) => void;
  const finished = new Promise<unknown>((resolve) => (finish = resolve));
  // no useInput: stdin stays cooked, so Ctrl-C is the usual SIGINT that aborts the run
  const ui = render(createElement(BenchTable, { events, baseline, peers: peers.peers, modelPeers: peers.modelPeers, trainPeers: peers.trainPeers, onDone: (e?: unknown) => finish(e) }), { exitOnCtrlC: false, patchConsole: false });
  const error = await finished;
  await new Promise((r) => setTimeout(r, 30)); // let the last event's frame render before unmounting
  ui.unmount();
  await ui.waitUntilExit().catch(() => {});
  if (error) throw error;
}

/**
 * Fails early (before a long run) when --save points into a missing folder or at a folder, and
 * refuses to replace a file that is not an earlier saved run: nothing a user owns is written over.
 */
function checkWritable(file: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir)) throw usageError(`--save: folder "${dir}" does not exist`);
  if (!existsSync(file)) return;
  const st = statSync(file);
  if (st.isDirectory()) throw usageError(`--save: "${file}" is a folder`);
  if (!st.isFile()) throw usageError(`--save: "${file}" is not a regular file`);
  try {
    loadSavedRun(file);
  } catch {
    throw usageError(`--save: "${file}" exists and is not a saved bench run; ponder replaces only its own saves`, 'choose another file name');
  }
}

/** A --filter of the form /regex/flags must compile: one usage line, not a failure inside the run. */
function checkFilter(filter: string | undefined): void {
  const re = filter === undefined ? null : /^\/(.*)\/([a-z]*)$/.exec(filter);
  if (!re) return;
  try {
    new RegExp(re[1]!, re[2] || 'i');
  } catch (e) {
    throw usageError(`--filter ${filter}: not a valid regular expression (${e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e)})`, 'write /regex/flags, or plain text to match as a substring');
  }
}
