import type { Gpu } from '../../gpu/gpu.js';

/**
 * The adapter's memory ceiling: GB/s of a large buffer-to-buffer copy (read + write counted), the
 * denominator of every roofline column. 64 MiB by default: past the CPU caches on a software
 * adapter, big enough to saturate a GPU's memory. Median of several timed copies.
 */
export async function measureCopyBandwidth(gpu: Gpu, bytes = 64 * 2 ** 20, reps = 7): Promise<number> {
  const n = bytes / 4;
  const src = gpu.empty([n]);
  const dst = gpu.empty([n]);
  gpu.copy(src, dst);
  await gpu.sync();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    gpu.copy(src, dst);
    await gpu.sync();
    times.push(performance.now() - t0);
  }
  src.release();
  dst.release();
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  return (2 * bytes) / (ms * 1e6);
}
