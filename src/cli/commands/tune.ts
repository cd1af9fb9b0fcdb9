import type { Command } from 'commander';
import { runTuner } from '../../engine/tuner.js';
import type { TuneEvent } from '../../engine/tuner-events.js';
import { PonderError } from '../../errors.js';
import { Gpu } from '../../gpu/gpu.js';
import { loadRecipe } from '../../recipe/load.js';
import { formatPlan, planRecipe } from '../../recipe/plan.js';
import { createPlainPrinter, printTuneJson } from '../../tui/tune-print.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import type { CliIO } from '../io.js';

interface TuneOpts {
  check?: boolean;
  resume?: boolean;
  force?: boolean;
  plain?: boolean;
  json?: boolean;
  adapter?: string;
  backend?: string;
}

/**
 * `ponder tune recipe.yaml` (also the `tune` executable). `--check` validates the recipe and prints
 * its plan without touching the GPU. A run trains the recipe's stages with the Tuner engine and
 * prints its events: plain progress lines (no TTY, or --plain; the dashboard comes later) or every
 * event as a JSON line (--json).
 *
 * Ctrl-C once: the current step finishes, a checkpoint is written and the command exits 130 with a
 * line saying how to resume. Ctrl-C twice: exit at once (the newest checkpoint stays valid; saves are
 * atomic).
 */
export function registerTune(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('tune')
      .description('post-train a model by running a recipe (pretrain, SFT, DPO, GRPO stages)')
      .argument('<recipe>', 'recipe YAML file (see docs/recipes.md)')
      .option('--check', 'validate the recipe and print its plan (stages, steps, tokens, parameters); no GPU')
      .option('--resume', 'continue from the newest valid checkpoint')
      .option('--force', 'with --resume: continue even though the recipe changed')
      .option('--plain', 'plain progress lines instead of the dashboard')
      .option('--json', 'with --check: the plan as one JSON object; otherwise engine events as JSON Lines'),
  ).action(async (recipePath: string, opts: TuneOpts) => {
    const loaded = loadRecipe(recipePath);
    const { recipe, hash } = loaded;
    const plan = planRecipe(recipe);
    if (opts.check) {
      if (opts.json) io.out(JSON.stringify({ ok: true, recipe: recipePath, hash, plan }));
      else {
        for (const line of formatPlan(plan, recipePath, hash)) io.out(line);
        io.out('ok: the recipe is valid');
      }
      return;
    }
    if (opts.force && !opts.resume) throw new PonderError('USAGE', '--force only applies with --resume');

    const print: (e: TuneEvent) => void = opts.json ? (e) => printTuneJson(e, io.out) : createPlainPrinter(io.out);
    const abort = new AbortController();
    let sigints = 0;
    const onSigint = () => {
      sigints++;
      if (sigints === 1) {
        abort.abort();
        io.err('stopping after this step and writing a checkpoint (Ctrl-C again to quit now)');
      } else {
        io.err(`interrupted; resume from the newest checkpoint with \`ponder tune ${recipePath} --resume\``);
        process.exit(130);
      }
    };
    process.on('SIGINT', onSigint);
    const gpu = await Gpu.open(deviceOptions(opts));
    let stopped: Extract<TuneEvent, { type: 'interrupted' }> | undefined;
    try {
      for await (const ev of runTuner(gpu, loaded, { resume: opts.resume, force: opts.force, signal: abort.signal })) {
        if (ev.type === 'warning' && !opts.json) io.err(ev.message);
        else print(ev);
        if (ev.type === 'interrupted') stopped = ev;
      }
    } finally {
      process.off('SIGINT', onSigint);
      gpu.close();
    }
    if (stopped) {
      throw new PonderError('INTERRUPTED', `training stopped after step ${stopped.step}; checkpoint ${stopped.checkpoint}`, `resume with \`ponder tune ${recipePath} --resume\``);
    }
  });
}
