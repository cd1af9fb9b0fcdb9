import type { Command } from 'commander';
import { PonderError } from '../../errors.js';
import type { CliIO } from '../io.js';

/**
 * `ponder tune recipe.yaml` (also the `tune` executable). The training engine lands with the
 * training issue; until then the command parses its arguments and says plainly that it cannot run.
 */
export function registerTune(program: Command, _io: CliIO): void {
  program
    .command('tune')
    .description('post-train a model by running a recipe (pretrain, SFT, DPO, GRPO stages)')
    .argument('<recipe>', 'recipe YAML file')
    .option('--check', 'validate the recipe only')
    .option('--resume', 'continue from the newest valid checkpoint')
    .option('--plain', 'plain progress lines instead of the dashboard')
    .option('--json', 'engine events as JSON Lines')
    .action(async () => {
      throw new PonderError('BAD_INPUT', 'training is not available in this build of ponder yet', 'see the project README for what works today');
    });
}
