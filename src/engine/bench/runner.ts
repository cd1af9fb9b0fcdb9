import { Bench } from 'tinybench';
import { adapterName } from '../../gpu/device.js';
import type { Gpu } from '../../gpu/gpu.js';
import { measureCeilings, pctOfPeak, type BenchCeilings } from './ceilings.js';
import type { KernelBenchCase, KernelBenchResult } from './types.js';

/**
 * Runs kernel benchmark cases and yields events as results arrive, so a view can render rows live
 * and a headless printer can stream them.
 *
 * Timing: one tinybench task per case. A task iteration records `reps` invocations and waits for the
 * GPU (`gpu.sync()`), and the sample is divided by `reps`. `reps` is calibrated per case so one
 * iteration takes ~2 ms: below that the ~90 µs submit-and-wait overhead of a software adapter would
 * dominate small kernels; large kernels run once per iteration. The first invocation (pipeline
 * compilation) is excluded by a warm-up run before calibration.
 *
 * With `ceilings`, the roofline ceilings are measured (or taken as given) once, after `start` and
 * before the first case, announced as a `ceilings` event, and every result gets `pct_of_peak`.
 */
export type BenchEvent =
  | { type: 'start'; total: number; adapter: string }
  | { type: 'ceilings'; ceilings: BenchCeilings }
  | { type: 'case'; index: number; name: string; shape: string }
  | { type: 'result'; index: number; result: KernelBenchResult }
  | { type: 'error'; index: number; name: string; shape: string; message: string }
  | { type: 'done'; results: KernelBenchResult[] };

export interface BenchRunOptions {
  /** Case-insensitive substring (or /regex/) matched against "name shape". */
  filter?: string;
  /** Time budget per case in ms (tinybench `time`). */
  timeMs?: number;
  /** Minimum samples per case. */
  minSamples?: number;
  signal?: AbortSignal;
  /** 'measure': measure the ceilings first (from the full case list); or ceilings measured before. */
  ceilings?: 'measure' | BenchCeilings;
}

export function matchesFilter(c: { name: string; shape: string }, filter: string | undefined): boolean {
  if (!filter) return true;
  const text = `${c.name} ${c.shape}`;
  const re = /^\/(.*)\/([a-z]*)$/.exec(filter);
  if (re) return new RegExp(re[1], re[2] || 'i').test(text);
  return text.toLowerCase().includes(filter.toLowerCase());
}

export async function* runKernelBench(gpu: Gpu, cases: KernelBenchCase[], opts: BenchRunOptions = {}): AsyncGenerator<BenchEvent> {
  const selected = cases.filter((c) => matchesFilter(c, opts.filter));
  const adapter = adapterName(gpu.info);
  const results: KernelBenchResult[] = [];
  yield { type: 'start', total: selected.length, adapter };
  let ceilings: BenchCeilings | undefined;
  if (opts.ceilings && !opts.signal?.aborted) {
    ceilings = opts.ceilings === 'measure' ? await measureCeilings(gpu, cases) : opts.ceilings;
    yield { type: 'ceilings', ceilings };
  }
  for (const [index, c] of selected.entries()) {
    if (opts.signal?.aborted) break;
    yield { type: 'case', index, name: c.name, shape: c.shape };
    let instance: ReturnType<KernelBenchCase['setup']> | undefined;
    try {
      instance = c.setup(gpu);
      const inst = instance;
      inst.run();
      await gpu.sync(); // compile + first run
      const t0 = performance.now();
      inst.run();
      await gpu.sync();
      const once = performance.now() - t0;
      const reps = Math.max(1, Math.min(256, Math.round(2 / Math.max(once, 1e-3))));
      const bench = new Bench({ time: opts.timeMs ?? 400, iterations: opts.minSamples ?? 5, warmup: false, throws: true, retainSamples: false });
      bench.add(`${c.name} ${c.shape}`, async () => {
        for (let r = 0; r < reps; r++) inst.run();
        await gpu.sync();
      });
      await bench.run();
      const task = bench.tasks[0];
      const res = task.result;
      if (res.state !== 'completed' && res.state !== 'aborted-with-statistics') {
        const message = res.state === 'errored' ? res.error.message : `benchmark ${res.state}`;
        throw new Error(message);
      }
      const lat = res.latency;
      const ms = lat.p50 / reps;
      const result: KernelBenchResult = {
        name: c.name,
        shape: c.shape,
        ms_median: ms,
        ms_p10: percentile(lat.samples, 0.1, lat.min) / reps,
        ms_p90: percentile(lat.samples, 0.9, lat.max) / reps,
        gflops: c.flops / (ms * 1e6),
        gbps: c.bytes / (ms * 1e6),
        samples: lat.samplesCount,
        adapter,
      };
      if (ceilings) {
        const pct = pctOfPeak(result, ceilings);
        result.pct_of_peak = Number.isFinite(pct) ? pct : null;
      }
      results.push(result);
      yield { type: 'result', index, result };
    } catch (e) {
      yield { type: 'error', index, name: c.name, shape: c.shape, message: e instanceof Error ? e.message.split('\n')[0] : String(e) };
    } finally {
      instance?.dispose();
      gpu.pool.trim();
    }
  }
  yield { type: 'done', results };
}

function percentile(samples: readonly number[] | undefined, q: number, fallback: number): number {
  if (!samples || samples.length === 0) return fallback;
  const i = Math.min(samples.length - 1, Math.max(0, Math.round(q * (samples.length - 1))));
  return samples[i];
}
