import { Argument, type Command } from 'commander';
import { allKernelCases } from '../../../bench/kernels/index.js';
import { matchesFilter, runKernelBench } from '../../engine/bench/runner.js';
import { PonderError } from '../../errors.js';
import { Gpu } from '../../gpu/gpu.js';
import { printBenchJson, printBenchPlain } from '../../tui/bench-print.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import type { CliIO } from '../io.js';

interface BenchOpts {
  filter?: string;
  json?: boolean;
  list?: boolean;
  time?: string;
  adapter?: string;
  backend?: string;
}

export function registerBench(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('bench')
      .description('benchmark the GPU kernels: median ms, GFLOP/s and GB/s per kernel and shape')
      .addArgument(new Argument('[suite]', 'what to benchmark').choices(['kernels']).default('kernels'))
      .option('--filter <text>', 'only cases whose "name shape" contains TEXT (or matches /regex/)')
      .option('--json', 'one JSON object per line: name, shape, ms_median, gflops, gbps, adapter')
      .option('--list', 'list the cases without running them')
      .option('--time <ms>', 'time budget per case in milliseconds', '400'),
  ).action(async (_suite: string, opts: BenchOpts) => {
    const timeMs = Number(opts.time);
    if (!Number.isFinite(timeMs) || timeMs <= 0) throw new PonderError('USAGE', `--time must be a positive number of milliseconds, got "${opts.time}"`);
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
    const gpu = await Gpu.open(deviceOptions(opts));
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    try {
      const print = opts.json ? printBenchJson : printBenchPlain;
      let errors = 0;
      for await (const ev of runKernelBench(gpu, cases, { filter: opts.filter, timeMs, signal: abort.signal })) {
        if (ev.type === 'error') errors++;
        print(ev, io.out);
      }
      if (abort.signal.aborted) throw new PonderError('INTERRUPTED', 'benchmark interrupted');
      if (errors) throw new PonderError('GPU_VALIDATION', `${errors} benchmark case${errors === 1 ? '' : 's'} failed (see the rows marked error)`);
    } finally {
      process.off('SIGINT', onSigint);
      gpu.close();
    }
  });
}
