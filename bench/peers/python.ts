import { execFile } from 'node:child_process';
import type { MatmulShape } from '../../src/engine/bench/types.js';

/**
 * What the Python peers (numpy.ts, torch.ts) share: running a `-c` script in a subprocess with one-line
 * errors (the interpreter missing, the module missing, else Python's last error line), and timing one
 * matmul shape with a script that prints {"ms": …} as its last line.
 */
export function runPython(exe: string, module: { import: string; name: string }, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(exe, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout.trim());
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(`${exe} is not installed`));
      const last = stderr.trim().split('\n').pop() ?? '';
      reject(new Error(new RegExp(`No module named .?${module.import}`).test(stderr) ? `${module.name} is not installed for ${exe}` : last || err.message));
    });
  });
}

/** Runs a timing script for shape `s` (argv: M N K transB budgetMs); its median ms per matmul. */
export async function timePythonMatmul(run: (args: string[], timeoutMs: number) => Promise<string>, script: string, peer: string, s: MatmulShape, budgetMs: number): Promise<number> {
  const out = await run(['-c', script, String(s.M), String(s.N), String(s.K), s.transB ? '1' : '0', String(budgetMs)], 120_000 + 4 * budgetMs);
  const ms = (JSON.parse(out.split('\n').pop()!) as { ms: number }).ms;
  if (!(ms > 0)) throw new Error(`${peer} timing gave ${ms} ms`);
  return ms;
}
