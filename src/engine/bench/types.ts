import type { Gpu } from '../../gpu/gpu.js';

/**
 * One kernel benchmark: an op at one shape. `setup` allocates inputs once; `run` records one
 * invocation of the op (no sync — the runner batches and times). `flops` and `bytes` are per
 * invocation: bytes is the minimum traffic (each input read once, each output written once), which
 * is what GB/s and the roofline column are computed from.
 */
export interface KernelBenchCase {
  /** kernel family, e.g. "matmul", "attention.decode", "rmsnorm" */
  name: string;
  /** e.g. "1024x1024x1024" (M×N×K for matmul); free-form but stable across runs for --compare */
  shape: string;
  flops: number;
  bytes: number;
  setup(gpu: Gpu): KernelBenchInstance;
}

export interface KernelBenchInstance {
  run(): void;
  dispose(): void;
}

/** One measured row, as printed by `ponder bench kernels` and emitted as JSON. */
export interface KernelBenchResult {
  name: string;
  shape: string;
  ms_median: number;
  ms_p10: number;
  ms_p90: number;
  gflops: number;
  gbps: number;
  samples: number;
  adapter: string;
  /**
   * Percent of the roofline ceiling that applies (see ceilings.ts): max(gflops / peak_gflops,
   * gbps / peak_gbps) × 100. Present when the run measured ceilings; null when neither is known.
   */
  pct_of_peak?: number | null;
}
