import { execFile } from 'node:child_process';
import type { MatmulShape } from '../../src/engine/bench/types.js';

/**
 * What the Python peers (numpy.ts, torch.ts) share: running a `-c` script in a subprocess (in this
 * process's environment, or `env`) with one-line errors (the interpreter missing, the module missing,
 * else Python's last error line), and timing one
 * matmul shape with a script that prints {"ms": …} as its last line.
 */
export function runPython(exe: string, module: { import: string; name: string }, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(exe, args, { timeout: timeoutMs, maxBuffer: 1 << 20, ...(env ? { env } : {}) }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout.trim());
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(`${exe} is not installed`));
      const last = stderr.trim().split('\n').pop() ?? '';
      reject(new Error(new RegExp(`No module named .?${module.import}`).test(stderr) ? `${module.name} is not installed for ${exe}` : last || err.message));
    });
  });
}

/**
 * Python source defining `median_ms(f, sync, budget)`, the timing loop both matmul peers use, the way
 * the kernel runner times ponder: one timed call (after the caller's warm-up) sets `reps` so a sample
 * lasts ~2 ms, samples run for the budget in seconds (at least 5), and the median sample ÷ reps comes
 * back in ms. `sync()` waits for the device (a no-op on the CPU), once per sample.
 */
export const PY_MEDIAN_MS = `
import time
def median_ms(f, sync, budget):
    t0 = time.perf_counter(); f(); sync(); once = time.perf_counter() - t0
    reps = max(1, min(256, round(0.002 / max(once, 1e-6))))
    samples = []
    end = time.perf_counter() + budget
    while (len(samples) < 5 or time.perf_counter() < end) and len(samples) < 10000:
        t0 = time.perf_counter()
        for _ in range(reps): f()
        sync()
        samples.append((time.perf_counter() - t0) / reps)
    samples.sort()
    return samples[len(samples) // 2] * 1000
`;

/** Runs a timing script for shape `s` (argv: M N K transB budgetMs); its median ms per matmul. */
export async function timePythonMatmul(run: (args: string[], timeoutMs: number) => Promise<string>, script: string, peer: string, s: MatmulShape, budgetMs: number): Promise<number> {
  const out = await run(['-c', script, String(s.M), String(s.N), String(s.K), s.transB ? '1' : '0', String(budgetMs)], 120_000 + 4 * budgetMs);
  const ms = (JSON.parse(out.split('\n').pop()!) as { ms: number }).ms;
  if (!(ms > 0)) throw new Error(`${peer} timing gave ${ms} ms`);
  return ms;
}
