import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  /** stderr without Dawn's own start-up "Warning: ..." lines (a lavapipe artefact, not ponder's). */
  stderr: string;
  stderrLines: string[];
}

/** Runs the real `ponder` executable as a user would. */
export function runPonder(args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    input: opts.input,
    timeout: opts.timeoutMs ?? 120_000,
  });
  const stderrLines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Warning: '));
  return { code: r.status, stdout: r.stdout, stderr: stderrLines.join('\n'), stderrLines };
}
