import { Option, type Command } from 'commander';
import { exportHfModel } from '../../io/hf-export.js';
import { importUsableHfModel } from '../../io/hf-import.js';
import { resolveModel } from '../../io/resolve-model.js';
import type { CliIO } from '../io.js';

/**
 * `ponder import <hf-dir> --out <dir>` and `ponder export <model> --format hf --out <dir>`: conversion
 * between HF safetensors directories and ponder model directories. Both validate everything before
 * writing and write nothing to --out unless they succeed.
 */
export function registerConvert(program: Command, io: CliIO): void {
  program
    .command('import')
    .description('convert an HF model directory (config.json + safetensors + tokenizer) into a ponder model directory')
    .argument('<hf-dir>', 'HF model directory')
    .requiredOption('-o, --out <dir>', 'where to write the ponder model directory (must not exist unless --overwrite)')
    .option('--overwrite', 'replace an existing directory at --out (only once the new one is complete)')
    .action(async (hfDir: string, flags: { out: string; overwrite?: boolean }) => {
      const { config, notes } = await importUsableHfModel(hfDir, flags.out, { overwrite: flags.overwrite });
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
      const { notes } = await exportHfModel(resolved.dir, flags.out, { overwrite: flags.overwrite });
      for (const note of notes) io.err(`note: ${note}`);
      io.out(`exported ${model} -> ${flags.out}`);
    });
}
