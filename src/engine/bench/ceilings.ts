import type { Gpu } from '../../gpu/gpu.js';
import { measureCopyBandwidth } from './bandwidth.js';
import type { KernelBenchCase } from './types.js';

/**
 * The two roofline ceilings of a run, measured once before the cases: the memory ceiling (GB/s of a
 * large buffer copy, see bandwidth.ts) and the compute ceiling (best GFLOP/s of the 1024³ A·Bᵀ
 * matmul, ponder's fastest compute-bound kernel). They are *achievable* peaks on this adapter, not
 * datasheet numbers, so `pct_of_peak` answers "how far is this kernel from what this device really
 * does", and a software adapter is not judged against a GPU's spec sheet.
 *
 * A case's bound is whichever ceiling it is closer to: max(gflops / peak_gflops, gbps / peak_gbps).
 * A memory-bound kernel scores on the bandwidth term, a compute-bound one on the FLOP term; taking
 * the max avoids needing each case's arithmetic intensity against the ridge point.
 */
export interface BenchCeilings {
  /** copy bandwidth, GB/s (read + write counted); NaN when it could not be measured */
  peak_gbps: number;
  /** best matmul GFLOP/s; NaN when the ceiling case is missing or failed */
  peak_gflops: number;
  /** the case the compute ceiling came from, e.g. "matmul.ABt 1024x1024x1024" */
  peak_gflops_case?: string;
}

export const CEILING_CASE = { name: 'matmul.ABt', shape: '1024x1024x1024' } as const;

export interface CeilingOptions {
  /** bytes copied for the bandwidth ceiling (default 64 MiB) */
  copyBytes?: number;
  /** timed matmul runs; the best one counts (default 2) */
  matmulReps?: number;
}

export function findCeilingCase(cases: readonly KernelBenchCase[]): KernelBenchCase | undefined {
  return cases.find((c) => c.name === CEILING_CASE.name && c.shape === CEILING_CASE.shape);
}

/**
 * Measures both ceilings. Best-of-N for the matmul (not the median): a ceiling is what the device can
 * reach, and scheduler noise only ever makes a run slower. Failures leave that ceiling NaN instead of
 * failing the whole benchmark; the other term of pct_of_peak still applies.
 */
export async function measureCeilings(gpu: Gpu, cases: readonly KernelBenchCase[], opts: CeilingOptions = {}): Promise<BenchCeilings> {
  let peak_gbps = NaN;
  try {
    peak_gbps = await measureCopyBandwidth(gpu, opts.copyBytes);
  } catch {
    /* leave NaN */
  }
  let peak_gflops = NaN;
  const c = findCeilingCase(cases);
  if (c) {
    let inst: ReturnType<KernelBenchCase['setup']> | undefined;
    try {
      inst = c.setup(gpu);
      inst.run();
      await gpu.sync(); // pipeline compilation, excluded
      let best = Infinity;
      for (let i = 0; i < (opts.matmulReps ?? 2); i++) {
        const t0 = performance.now();
        inst.run();
        await gpu.sync();
        best = Math.min(best, performance.now() - t0);
      }
      peak_gflops = c.flops / (best * 1e6);
    } catch {
      /* leave NaN */
    } finally {
      inst?.dispose();
      gpu.pool.trim();
    }
  }
  return { peak_gbps, peak_gflops, ...(c ? { peak_gflops_case: `${c.name} ${c.shape}` } : {}) };
}

/** Percent of the applicable roofline ceiling (see above); NaN when neither ceiling is known. */
export function pctOfPeak(r: { gflops: number; gbps: number }, c: BenchCeilings): number {
  const terms: number[] = [];
  if (Number.isFinite(c.peak_gflops) && c.peak_gflops > 0 && Number.isFinite(r.gflops)) terms.push(r.gflops / c.peak_gflops);
  if (Number.isFinite(c.peak_gbps) && c.peak_gbps > 0 && Number.isFinite(r.gbps)) terms.push(r.gbps / c.peak_gbps);
  return terms.length ? 100 * Math.max(...terms) : NaN;
}

/** One header line, e.g. "ceilings: copy 9.8 GB/s, matmul 42.1 GFLOP/s (matmul.ABt 1024x1024x1024)". */
export function describeCeilings(c: BenchCeilings, fmt: (v: number) => string): string {
  const gf = Number.isFinite(c.peak_gflops) ? `${fmt(c.peak_gflops)} GFLOP/s${c.peak_gflops_case ? ` (${c.peak_gflops_case})` : ''}` : 'n/a';
  const gb = Number.isFinite(c.peak_gbps) ? `${fmt(c.peak_gbps)} GB/s` : 'n/a';
  return `ceilings: copy ${gb}, matmul ${gf}`;
}
