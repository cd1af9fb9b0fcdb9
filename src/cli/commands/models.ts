import type { Command } from 'commander';
import { countParameters, findModels, shortCount, type ModelEntry } from '../../io/model-catalog.js';
import type { CliIO } from '../io.js';

/**
 * `ponder models`: the models ponder can find (io/model-catalog.ts: bundled, ./models/*, recent
 * ./runs/<run>/final), one a row, with what to pass to --model, where it comes from, its family,
 * parameters, context and what it is for (its card's summary). No GPU, no weights read.
 *
 *   NAME           SOURCE   FAMILY  PARAMS         CONTEXT  FOR
 *   default        bundled  llama   855K +230K MTP 384      A tiny reasoning model that works out ...
 *
 * On a terminal the FOR column is cut at the terminal's width; --json prints one object per model
 * in an array.
 */
const HEADERS = ['NAME', 'SOURCE', 'FAMILY', 'PARAMS', 'CONTEXT', 'FOR'] as const;

function paramsCell(e: ModelEntry): string {
  if (!e.config) return '?';
  const p = countParameters(e.config);
  return p.mtp > 0 ? `${shortCount(p.trunk)} +${shortCount(p.mtp)} MTP` : shortCount(p.trunk);
}

export function modelRows(entries: ModelEntry[]): string[][] {
  return entries.map((e) => [
    e.name,
    e.source,
    e.config?.family ?? (e.format === 'hf' ? 'hf' : '?'),
    paramsCell(e),
    e.config ? String(e.config.max_position_embeddings) : '?',
    e.error ? `cannot read: ${e.error}` : (e.summary ?? '-'),
  ]);
}

/** Rows as aligned columns; the last column is cut to `width` (Infinity: never). */
export function formatTable(rows: string[][], width = Infinity): string[] {
  const all = [[...HEADERS], ...rows];
  const widths = HEADERS.map((_, c) => Math.max(...all.map((r) => [...r[c]!].length)));
  return all.map((r) => {
    const line = r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ');
    const chars = [...line];
    return chars.length > width ? chars.slice(0, Math.max(0, width - 1)).join('') + '…' : line;
  });
}

export function modelJson(e: ModelEntry): Record<string, unknown> {
  const p = e.config ? countParameters(e.config) : undefined;
  return {
    name: e.name,
    dir: e.dir,
    source: e.source,
    format: e.format,
    ...(e.config ? { family: e.config.family, architecture: e.config.architecture, parameters: p!.trunk, mtp_parameters: p!.mtp, context: e.config.max_position_embeddings } : {}),
    ...(e.summary ? { summary: e.summary } : {}),
    ...(e.example ? { example: e.example } : {}),
    ...(e.error ? { error: e.error } : {}),
  };
}

export function registerModels(program: Command, io: CliIO): void {
  program
    .command('models')
    .description('list the models ponder can find (bundled, ./models/*, recent ./runs/*/final) and what each is for')
    .option('--json', 'print one JSON array')
    .action((opts: { json?: boolean }) => {
      const found = findModels();
      if (opts.json) {
        io.out(JSON.stringify(found.map(modelJson)));
        return;
      }
      const width = io.isTTY && process.stdout.columns ? process.stdout.columns : Infinity;
      for (const line of formatTable(modelRows(found), width)) io.out(line);
      io.out('');
      io.out('use one with --model NAME (chat, generate, eval); `ponder show NAME` prints its config, template and card');
    });
}
