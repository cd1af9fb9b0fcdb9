import { autotune, type AutotuneEvent } from '../../engine/bench/autotune.js';
import { PonderError } from '../../errors.js';
import type { Gpu } from '../../gpu/gpu.js';
import type { CliIO } from '../io.js';

/**
 * `ponder bench --tune`: runs the autotuner on the open Gpu before the benchmark, printing each
 * candidate's time per shape and the pick of each part (a plain table, or one JSON object per line
 * with `--json`), then saves the tune cache. The picked settings stay installed on `gpu`, so the
 * benchmark that follows runs with them.
 */
export async function runTune(gpu: Gpu, io: CliIO, opts: { json?: boolean; csv?: boolean; signal?: AbortSignal }): Promise<void> {
  // with --csv, stdout stays pure CSV: the tuning report goes to stderr
  const out = opts.csv ? io.err : io.out;
  const print = opts.json ? (ev: AutotuneEvent) => out(JSON.stringify({ suite: 'tune', ...ev })) : plainPrinter(out);
  try {
    for await (const ev of autotune(gpu, { signal: opts.signal })) print(ev);
  } catch (e) {
    if (e instanceof PonderError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new PonderError('BAD_INPUT', `cannot save the tune cache (${code}): ${(e as Error).message.split('\n')[0]}`);
    throw e;
  }
  if (opts.signal?.aborted) throw new PonderError('INTERRUPTED', 'tuning interrupted');
}

function plainPrinter(out: (line: string) => void): (ev: AutotuneEvent) => void {
  const f = (ms: number | null) => (ms === null ? '-' : ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
  return (ev) => {
    switch (ev.type) {
      case 'start':
        out(`tuning on ${ev.adapter}: ${ev.parts.map((p) => `${p.part} (${p.candidates} candidates)`).join(', ')}`);
        break;
      case 'candidate': {
        const times = ev.shapes.map((s, i) => `${s} ${f(ev.ms[i])} ms`).join('  ');
        out(`  ${ev.part.padEnd(17)}  ${ev.candidate.padEnd(28)}  ${ev.score === null ? `error: ${ev.error}` : `x${ev.score.toFixed(2)}`}  ${ev.error ? '' : times}`);
        break;
      }
      case 'picked':
        out(`  ${ev.part.padEnd(17)}  picked: ${ev.candidate}`);
        break;
      case 'saved':
        out(`tune cache saved to ${ev.path}`);
        break;
      case 'done':
        break;
    }
  };
}
