import type { Command } from 'commander';
import { PonderError } from '../../errors.js';
import { loadRecipe } from '../../recipe/load.js';
import { formatPlan, planRecipe } from '../../recipe/plan.js';
import type { CliIO } from '../io.js';

interface TuneOpts {
  check?: boolean;
  resume?: boolean;
  plain?: boolean;
  json?: boolean;
}

/**
 * `ponder tune recipe.yaml` (also the `tune` executable). `--check` validates the recipe and prints
 * its plan without touching the GPU. A real run validates first (a broken recipe gets its own error)
 * and then says plainly that training is not in this build yet; the engine lands with the training work.
 */
export function registerTune(program: Command, io: CliIO): void {
  program
    .command('tune')
    .description('post-train a model by running a recipe (pretrain, SFT, DPO, GRPO stages)')
    .argument('<recipe>', 'recipe YAML file (see docs/recipes.md)')
    .option('--check', 'validate the recipe and print its plan (stages, steps, tokens, parameters); no GPU')
    .option('--resume', 'continue from the newest valid checkpoint')
    .option('--plain', 'plain progress lines instead of the dashboard')
    .option('--json', 'with --check: the plan as one JSON object; otherwise engine events as JSON Lines')
    .action(async (recipePath: string, opts: TuneOpts) => {
      const { recipe, hash } = loadRecipe(recipePath);
      const plan = planRecipe(recipe);
      if (opts.check) {
        if (opts.json) io.out(JSON.stringify({ ok: true, recipe: recipePath, hash, plan }));
        else {
          for (const line of formatPlan(plan, recipePath, hash)) io.out(line);
          io.out('ok: the recipe is valid');
        }
        return;
      }
      throw new PonderError('BAD_INPUT', 'training is not available in this build of ponder yet', `the recipe is valid; \`ponder tune --check ${recipePath}\` shows its plan`);
    });
}
