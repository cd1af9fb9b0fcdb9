import { Option, type Command } from 'commander';
import { exportHfModel } from '../../io/hf-export.js';
import { importUsableHfModel } from '../../io/hf-import.js';
import { removeInFlightTemps } from '../../io/model-dir.js';
import { resolveModel } from '../../io/resolve-model.js';
import type { CliIO } from '../io.js';

/**
 * `ponder import <hf-dir> --out <dir>` and `ponder export <model> --format hf --out <dir>`: conversion
 * between HF safetensors directories and ponder model directories. Both validate everything before
 * writing and write nothing to --out unless they succeed.
 */
/** Signals that stop an import or export (it cleans up its temporary directory first). */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `work` with handlers that, on SIGINT/SIGTERM/SIGHUP, remove the save's temporary directory and
 * exit 130 saying --out is untouched. The reads and writes are synchronous, so a signal is handled
 * when the current one ends: one that comes after the output was renamed into place lets the command
 * finish (the output is complete). A process killed outright (SIGKILL) leaves its temporary directory
 * to the sweep the next save into the same folder makes (io/model-dir.ts sweepStaleTemps).
 */
async function withCleanupOnSignals<T>(io: CliIO, out: string, work: () => Promise<T>): Promise<T> {
  let finished = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (finished) return;
    removeInFlightTemps();
    io.err(`interrupted (${signal}); nothing was written to ${out}`);
    process.exit(130);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    const result = await work();
    finished = true;
    return result;
  } finally {
    // the handlers stay until the command's output is printed; a late signal then finds `finished`
    setImmediate(() => {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
    });
  }
}

export function registerConvert(program: Command, io: CliIO): void {
  program
    .command('import')
    .description('convert an HF model directory (config.json + safetensors + tokenizer) into a ponder model directory')
    .argument('<hf-dir>', 'HF model directory')
    .requiredOption('-o, --out <dir>', 'where to write the ponder model directory (must not exist unless --overwrite)')
    .option('--overwrite', 'replace an existing directory at --out (only once the new one is complete)')
    .action(async (hfDir: string, flags: { out: string; overwrite?: boolean }) => {
      const { config, notes } = await withCleanupOnSignals(io, flags.out, () => importUsableHfModel(hfDir, flags.out, { overwrite: flags.overwrite }));
      for (const note of notes) io.err(`note: ${note}`);
      io.out(`imported ${hfDir} (${config.architecture}, ${config.num_hidden_layers} layers) -> ${flags.out}`);
    });

  program
    .command('export')
    .description('write a model as an HF directory (safetensors + config.json + tokenizer) that transformers loads')
    .argument('<model>', 'ponder model directory or a name under models/')
    .addOption(new Option('--format <format>', 'output format').choices(['hf']).default('hf'))
    .requiredOption('-o, --out <dir>', 'where to write (must not exist unless --overwrite)')
    .option('--overwrite', 'replace an existing directory at --out (only once the new one is complete)')
    .action(async (model: string, flags: { out: string; overwrite?: boolean }) => {
      const resolved = resolveModel(model);
      const { notes } = await withCleanupOnSignals(io, flags.out, async () => {
        await new Promise((r) => setImmediate(r));
        return exportHfModel(resolved.dir, flags.out, { overwrite: flags.overwrite });
      });
      for (const note of notes) io.err(`note: ${note}`);
      io.out(`exported ${model} -> ${flags.out}`);
    });
}
