import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { render } from 'ink';
import { createElement } from 'react';
import { runTuner, TunerControl } from '../../engine/tuner.js';
import type { TuneEvent } from '../../engine/tuner-events.js';
import { PonderError } from '../../errors.js';
import { Gpu } from '../../gpu/gpu.js';
import { loadRecipe } from '../../recipe/load.js';
import { isOverrideArg, parseOverrides, type RecipeOverride } from '../../recipe/overrides.js';
import { formatPlan, planRecipe } from '../../recipe/plan.js';
import { fillDerivedSeqLens, formatDerivedSeqLen } from '../../recipe/seq-len.js';
import { createPlainPrinter, printTuneJson } from '../../tui/tune-print.js';
import { TuneDashboard } from '../../tui/tune/dashboard.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import type { CliIO } from '../io.js';
import { pickMatmulConfig } from '../../ops/matmul-configs.js';
import { applyFreshStart, freshStartLine } from '../fresh-run.js';
import { checkTargetCoverage, checkTrainingFits, checkTrainingGrid, checkTuneOutput } from '../tune-preflight.js';
import { matmulCover } from '../../model/limits.js';
import { prefillTiles } from '../../ops/attention.js';
import { ATTENTION_BACKWARD_QUERY_ROWS } from '../../ops/attention-backward.js';

/**
 * The overrides of a tune command line: each `key=value` after the recipe, then --output (last, so
 * it wins over an output=... argument). Anything else after the recipe is a usage error.
 */
function tuneOverrides(args: readonly string[], opts: TuneOpts): RecipeOverride[] {
  const stray = args.find((a) => !isOverrideArg(a));
  if (stray !== undefined) throw new PonderError('USAGE', `unexpected argument ${JSON.stringify(stray)} after the recipe: overrides are key=value (e.g. stages.0.steps=50)`);
  const out = parseOverrides(args);
  if (opts.output !== undefined) out.push({ text: `--output ${opts.output}`, path: ['output'], value: opts.output });
  return out;
}

/** An argument as a shell would need it typed (single-quoted unless plain). */
function shellWord(a: string): string {
  return /^[\w./=:,+@%-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** A path as the user would type it from here: relative when under the working directory. */
function relativeOrAbsolute(p: string): string {
  const r = relative(process.cwd(), p);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r) ? r : p;
}

/** Signals that stop a run after the current step with a checkpoint (the first one; a second exits at once). */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

interface TuneOpts {
  check?: boolean;
  resume?: boolean;
  fresh?: boolean;
  force?: boolean;
  plain?: boolean;
  json?: boolean;
  output?: string;
  adapter?: string;
  backend?: string;
}

/**
 * `ponder tune recipe.yaml` (also the `tune` executable). `--check` validates the recipe and prints
 * its plan without touching the GPU. A run trains the recipe's stages with the Tuner engine and shows
 * its events: the live Ink dashboard on a terminal (tui/tune/dashboard.tsx, with keys that drive a
 * TunerControl), plain progress lines (no TTY, or --plain) or every event as a JSON line (--json).
 *
 * Ctrl-C once (or q in the dashboard, or SIGTERM / SIGHUP): the current step finishes, a checkpoint
 * is written and the command exits 130 with a line saying how to resume. Ctrl-C twice: exit at once (the newest
 * checkpoint stays valid; saves are atomic).
 */
const HELP_AFTER = `
On a terminal, tune shows a live dashboard (stages, progress and ETA, the loss curve, lr, grad norm,
tokens/s, GPU memory, evaluations, a sample, checkpoints). Keys:
  p  pause / resume (between optimizer steps)
  s  write a checkpoint now
  e  run the stage's evaluation now
  q  write a checkpoint and quit (exit 130; continue with --resume)
  Ctrl-C once: checkpoint and stop; twice: exit now (SIGTERM and SIGHUP act as Ctrl-C)
--plain prints progress lines instead; --json prints the engine's events as JSON Lines.`;
export function registerTune(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('tune')
      .description('post-train a model by running a recipe (pretrain, SFT, DPO, GRPO stages)')
      .argument('<recipe>', 'recipe YAML file (see docs/recipes.md)')
      .argument('[overrides...]', 'key=value settings over the file\'s, e.g. stages.0.steps=50 seed=3 (values are YAML)')
      .option('--output <dir>', 'the run directory (same as output=DIR)')
      .option('--check', 'validate the recipe and print its plan (stages, steps, tokens, parameters); no GPU')
      .option('--resume', 'continue from the newest valid checkpoint')
      .option('--force', 'with --resume: continue even though the recipe changed')
      .option('--fresh', "start over in an output that holds an earlier run: that run's files move to <output>.prev-N (nothing is deleted)")
      .option('--plain', 'plain progress lines instead of the dashboard')
      .option('--json', 'with --check: the plan as one JSON object; otherwise engine events as JSON Lines')
      .addHelpText('after', HELP_AFTER),
  ).action(async (recipePath: string, overrideArgs: string[], opts: TuneOpts) => {
    const loaded = loadRecipe(recipePath, { overrides: tuneOverrides(overrideArgs, opts) });
    // the command that resumes this run: the same recipe and overrides
    const again = [recipePath, ...overrideArgs, ...(opts.output !== undefined ? ['--output', opts.output] : [])].map(shellWord).join(' ');
    if (opts.fresh && opts.resume) throw new PonderError('USAGE', '--fresh starts the run over and --resume continues it: pass one of them');
    const { recipe, hash } = loaded;
    // stages without a seq_len get theirs from the data before anything is checked or planned
    const derived = await fillDerivedSeqLens(recipe);
    const plan = planRecipe(recipe);
    if (opts.force && !opts.resume) throw new PonderError('USAGE', '--force only applies with --resume');
    // before any weight is built: where the run writes, and (no GPU yet) the model against this
    // machine's memory; the device's own limits are checked once it is open
    const output = checkTuneOutput(recipe, { resume: opts.resume ?? false, fresh: opts.fresh });
    const outputShown = relativeOrAbsolute(recipe.output);
    checkTrainingFits(recipe);
    for (const d of derived) io.err(formatDerivedSeqLen(d));
    if (opts.check) {
      for (const w of output.warnings) io.err(w);
      if (output.fresh) io.err(freshStartLine(output.fresh, outputShown, true));
      for (const w of await checkTargetCoverage(recipe)) io.err(`warning: ${w}`);
      if (opts.json) io.out(JSON.stringify({ ok: true, recipe: recipePath, hash, plan }));
      else {
        for (const line of formatPlan(plan, recipePath, hash)) io.out(line);
        io.out('ok: the recipe is valid');
      }
      return;
    }

    const live = io.isTTY && !opts.json && !opts.plain;
    const abort = new AbortController();
    let stopUi: (() => void) | undefined;
    let sigints = 0;
    // the first Ctrl-C (a signal, or a key while the dashboard holds the terminal in raw mode) stops
    // after the step with a checkpoint; the second exits at once
    const onSigint = () => {
      sigints++;
      if (sigints === 1) {
        abort.abort();
        if (!live) io.err('stopping after this step and writing a checkpoint (Ctrl-C again to quit now)');
      } else {
        stopUi?.();
        io.err(`interrupted; resume from the newest checkpoint with \`ponder tune ${again} --resume\``);
        process.exit(130);
      }
    };
    // SIGTERM and SIGHUP (a `kill`, a closed terminal) stop the run the same way: a checkpoint, then
    // exit 130 (the status a Ctrl-C stop has, so scripts see one "interrupted" code)
    for (const sig of STOP_SIGNALS) process.on(sig, onSigint);
    const gpu = await Gpu.open(deviceOptions(opts));
    try {
      const limits = { maxBufferSize: gpu.limits.maxBufferSize!, maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize!, maxComputeWorkgroupsPerDimension: gpu.limits.maxComputeWorkgroupsPerDimension! };
      checkTrainingFits(recipe, limits);
      const tile = prefillTiles(recipe.model.config.head_dim, gpu.limits.maxComputeWorkgroupStorageSize);
      checkTrainingGrid(recipe, limits, { ...matmulCover(pickMatmulConfig(gpu)), queryRows: Math.min(ATTENTION_BACKWARD_QUERY_ROWS, tile.RG * tile.RM) });
    } catch (e) {
      for (const sig of STOP_SIGNALS) process.off(sig, onSigint);
      gpu.close();
      throw e;
    }
    // every check has passed: only now does an earlier run move aside (--fresh)
    if (output.fresh) {
      try {
        io.err(applyFreshStart(output.fresh, outputShown));
      } catch (e) {
        for (const sig of STOP_SIGNALS) process.off(sig, onSigint);
        gpu.close();
        throw e;
      }
    }
    const control = live ? new TunerControl() : undefined;
    let stopped: Extract<TuneEvent, { type: 'interrupted' }> | undefined;
    try {
      const events = runTuner(gpu, loaded, { resume: opts.resume, force: opts.force, signal: abort.signal, control });
      async function* tracked(): AsyncGenerator<TuneEvent> {
        for await (const ev of events) {
          if (ev.type === 'interrupted') stopped = ev;
          yield ev;
        }
      }
      if (live) {
        let finish!: (e?: unknown) => void;
        const finished = new Promise<unknown>((resolve) => (finish = resolve));
        const ui = render(createElement(TuneDashboard, { events: tracked(), controls: control!, onInterrupt: onSigint, onDone: (e?: unknown) => finish(e) }), { exitOnCtrlC: false, patchConsole: false });
        stopUi = () => ui.unmount();
        const error = await finished;
        await new Promise((r) => setTimeout(r, 50)); // let the last event's frame render before unmounting
        if (error) ui.clear(); // the error line alone says what happened
        ui.unmount();
        await ui.waitUntilExit().catch(() => {});
        if (error) throw error;
      } else {
        const print: (e: TuneEvent) => void = opts.json ? (e) => printTuneJson(e, io.out) : createPlainPrinter(io.out);
        for await (const ev of tracked()) {
          if ((ev.type === 'warning' || ev.type === 'notice') && !opts.json) io.err(ev.message);
          else print(ev);
        }
      }
    } finally {
      for (const sig of STOP_SIGNALS) process.off(sig, onSigint);
      gpu.close();
    }
    if (stopped) {
      throw new PonderError('INTERRUPTED', `training stopped after step ${stopped.step}; checkpoint ${stopped.checkpoint}`, `resume with \`ponder tune ${again} --resume\``);
    }
  });
}
