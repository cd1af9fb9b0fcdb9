import { Bench } from 'tinybench';
import { adapterName } from '../../gpu/device.js';
import type { Gpu } from '../../gpu/gpu.js';
import { measureCeilings, pctOfPeak, type BenchCeilings } from './ceilings.js';
import { matmulShapeOf, type BenchResult, type BenchSuite, type KernelBenchCase, type KernelBenchResult, type MatmulPeer, type MatmulShape, type PeerFigure } from './types.js';

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
 *
 * With `peers` (--peers), each peer is opened once (a `note` says what it is, or why it is skipped),
 * and each matmul case is timed by every open peer right after ponder times it, so both figures come
 * from the same minute of a noisy machine; the row gets each peer's GFLOP/s and ponder/peer ratio.
 *
 * The event stream is shared by every suite (suites.ts frames kernels, model and train into one run).
 */
export type BenchEvent =
  | { type: 'start'; total: number; adapter: string; suites?: BenchSuite[] }
  | { type: 'ceilings'; ceilings: BenchCeilings }
  /** a one-line remark for the reader, e.g. a peer that is not available here */
  | { type: 'note'; message: string }
  /** `index` counts the cases of one suite from 0, so a printer starts a suite's table at index 0 */
  | { type: 'case'; index: number; name: string; shape: string; suite?: BenchSuite }
  | { type: 'result'; index: number; result: BenchResult }
  | { type: 'error'; index: number; name: string; shape: string; message: string; suite?: BenchSuite }
  | { type: 'done'; results: BenchResult[] };

/** The events of one suite inside a run (no start/done: runBench in suites.ts frames them). */
export type SuiteEvent = Exclude<BenchEvent, { type: 'start' } | { type: 'done' }>;

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
  /** --peers: libraries that time each matmul case right after ponder does (see peers.ts) */
  peers?: MatmulPeer[];
}

export function matchesFilter(c: { name: string; shape: string }, filter: string | undefined): boolean {
  if (!filter) return true;
  const text = `${c.name} ${c.shape}`;
  const re = /^\/(.*)\/([a-z]*)$/.exec(filter);
  if (re) return new RegExp(re[1], re[2] || 'i').test(text);
  return text.toLowerCase().includes(filter.toLowerCase());
}

export async function* runKernelBench(gpu: Gpu, cases: KernelBenchCase[], opts: BenchRunOptions = {}): AsyncGenerator<BenchEvent> {
  const results: BenchResult[] = [];
  yield { type: 'start', total: cases.filter((c) => matchesFilter(c, opts.filter)).length, adapter: adapterName(gpu.info), suites: ['kernels'] };
  for await (const ev of kernelSuite(gpu, cases, opts)) {
    if (ev.type === 'result') results.push(ev.result);
    yield ev;
  }
  yield { type: 'done', results };
}

/** The kernel cases that pass the filter, timed one after the other (see the header comment). */
export async function* kernelSuite(gpu: Gpu, cases: KernelBenchCase[], opts: BenchRunOptions = {}): AsyncGenerator<SuiteEvent> {
  const selected = cases.filter((c) => matchesFilter(c, opts.filter));
  const adapter = adapterName(gpu.info);
  let ceilings: BenchCeilings | undefined;
  if (opts.ceilings && !opts.signal?.aborted) {
    ceilings = opts.ceilings === 'measure' ? await measureCeilings(gpu, cases) : opts.ceilings;
    yield { type: 'ceilings', ceilings };
  }
  const peers = opts.peers?.length && selected.some((c) => matmulShapeOf(c)) ? yield* openPeers(opts.peers) : [];
  try {
    for (const [index, c] of selected.entries()) {
      if (opts.signal?.aborted) break;
      yield { type: 'case', index, name: c.name, shape: c.shape, suite: 'kernels' };
      let result: KernelBenchResult;
      try {
        result = await timeKernelCase(gpu, c, adapter, opts);
      } catch (e) {
        yield { type: 'error', index, name: c.name, shape: c.shape, suite: 'kernels', message: e instanceof Error ? e.message.split('\n')[0] : String(e) };
        continue;
      }
      if (ceilings) {
        const pct = pctOfPeak(result, ceilings);
        result.pct_of_peak = Number.isFinite(pct) ? pct : null;
      }
      const shape = matmulShapeOf(c);
      if (shape && opts.peers?.length) result.peers = await peerFigures(opts.peers, peers, shape, result.gflops, opts.timeMs ?? 400);
      yield { type: 'result', index, result };
    }
  } finally {
    for (const p of peers) await p.close().catch(() => {});
  }
}

async function timeKernelCase(gpu: Gpu, c: KernelBenchCase, adapter: string, opts: BenchRunOptions): Promise<KernelBenchResult> {
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
    return {
      suite: 'kernels',
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
  } finally {
    instance?.dispose();
    gpu.pool.trim();
  }
}

/**
 * Opens each peer (matmul or model) once; one note per peer (what runs, or why it does not). Returns
 * the open ones.
 */
export async function* openPeers<P extends { name: string; open(): Promise<string> }>(peers: P[]): AsyncGenerator<SuiteEvent, P[]> {
  const open: P[] = [];
  for (const p of peers) {
    try {
      const what = await p.open();
      open.push(p);
      yield { type: 'note', message: `peer ${p.name}: ${what}` };
    } catch (e) {
      yield { type: 'note', message: `peer ${p.name}: skipped (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` };
    }
  }
  return open;
}

/** Each requested peer's GFLOP/s on this matmul and ponder's ratio to it (null where it cannot run). */
async function peerFigures(requested: MatmulPeer[], open: MatmulPeer[], shape: MatmulShape, gflops: number, budgetMs: number): Promise<PeerFigure[]> {
  const out: PeerFigure[] = [];
  for (const p of requested) {
    if (!open.includes(p)) {
      out.push({ peer: p.name, gflops: null, ratio: null, note: 'not available' });
      continue;
    }
    try {
      const ms = await p.timeMatmul(shape, budgetMs);
      const peerGflops = (2 * shape.M * shape.N * shape.K) / (ms * 1e6);
      out.push({ peer: p.name, gflops: peerGflops, ratio: gflops / peerGflops });
    } catch (e) {
      out.push({ peer: p.name, gflops: null, ratio: null, note: e instanceof Error ? e.message.split('\n')[0] : String(e) });
    }
  }
  return out;
}

function percentile(samples: readonly number[] | undefined, q: number, fallback: number): number {
  if (!samples || samples.length === 0) return fallback;
  const i = Math.min(samples.length - 1, Math.max(0, Math.round(q * (samples.length - 1))));
  return samples[i];
}
