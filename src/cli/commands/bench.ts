import { Argument, type Command } from 'commander';
import { allKernelCases } from '../../../bench/kernels/index.js';
import { modelBenchShapes } from '../../../bench/models.js';
import { benchModel } from '../../engine/bench/model.js';
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
      .description("benchmark the GPU kernels (median ms, GFLOP/s, GB/s per shape) or whole models (prefill and decode tokens/s)")
      .addArgument(new Argument('[suite]', 'what to benchmark').choices(['kernels', 'model']).default('kernels'))
      .option('--filter <text>', 'only cases whose "name shape" contains TEXT (or matches /regex/)')
      .option('--json', 'one JSON object per line: name, shape, ms_median, gflops, gbps, adapter')
      .option('--list', 'list the cases without running them')
      .option('--time <ms>', 'time budget per case in milliseconds', '400'),
  ).action(async (suite: string, opts: BenchOpts) => {
    if (suite === 'model') return benchModels(io, opts);
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
