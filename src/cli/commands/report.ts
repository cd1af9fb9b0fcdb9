import type { Command } from 'commander';
import { formatReport, readRunReport, reportJson } from '../../engine/report.js';
import type { CliIO } from '../io.js';

/**
 * `ponder report RUN_DIR`: prints a training run's report card again (engine/report.ts), rebuilt
 * from the run directory alone (recipe.yaml, recipe.hash, metrics.jsonl), so it also reports a run
 * still going or stopped part-way. No GPU. --json: one object {model, recipe, stages, final, ...}.
 */
export function registerReport(program: Command, io: CliIO): void {
  program
    .command('report')
    .description("print a training run's report card: the model, the recipe, and each stage's held-out eval scores")
    .argument('<run-dir>', 'the output directory of a `ponder tune` run')
    .option('--json', 'print one JSON object')
    .action((dir: string, opts: { json?: boolean }) => {
      const r = readRunReport(dir);
      if (opts.json) io.out(JSON.stringify(reportJson(r)));
      else io.out(formatReport(r).replace(/\n$/, ''));
    });
}
