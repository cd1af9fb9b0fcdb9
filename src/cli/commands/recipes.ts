import type { Command } from 'commander';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { PonderError } from '../../errors.js';
import { packageRoot } from '../../paths.js';
import { copyRecipe } from '../../recipe/copy.js';
import type { CliIO } from '../io.js';

/**
 * `ponder recipes ls`: the recipes bundled with ponder (its recipes/ folder), one a row with the first
 * line of the recipe's opening comment. `ponder recipes cp NAME DEST`: copies one (a bundled name, or
 * any recipe file) to DEST so it can be edited and run from there; the copy's relative paths are
 * rewritten to the originals, or with --with-data the data files are copied beside it
 * (recipe/copy.ts). No GPU.
 */
export const bundledRecipesDir = join(packageRoot, 'recipes');

/** The first comment line of a recipe ('' when it opens without one). */
function summaryOf(file: string): string {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    return t.startsWith('#') ? t.replace(/^#+\s*/, '') : '';
  }
  return '';
}

/** The bundled recipes: [name, file], sorted by name. */
export function bundledRecipes(dir = bundledRecipesDir): [string, string][] {
  return readdirSync(dir)
    .filter((f) => ['.yaml', '.yml'].includes(extname(f)) && statSync(join(dir, f)).isFile())
    .sort()
    .map((f) => [basename(f, extname(f)), join(dir, f)]);
}

/** A recipe file from what `cp` was given: a bundled recipe's name (with or without .yaml), else a path. */
function recipeFile(name: string): string {
  const bundled = bundledRecipes().find(([n, f]) => n === name || basename(f) === name);
  if (bundled) return bundled[1];
  if (existsSync(name) && statSync(name).isFile()) return name;
  throw new PonderError('NOT_FOUND', `no bundled recipe or file named ${JSON.stringify(name)}`, 'list the bundled recipes with `ponder recipes ls`');
}

const CP_HELP = `
The copy means what the original does: a recipe's paths (stage data files, jsonl's data option, a
model.init directory) are relative to the recipe's directory, so cp rewrites each one to the
original's absolute path. With --with-data it copies the data files beside the copy instead (the same
relative path, or data/<name> for one outside the recipe's folder) and leaves those paths relative;
model directories are never copied. Nothing that exists is overwritten.
  ponder recipes cp tiny-arithmetic-sft my.yaml
  ponder recipes cp exaone-style work/ --with-data`;

export function registerRecipes(program: Command, io: CliIO): void {
  const recipes = program.command('recipes').description('list the bundled recipes, or copy one to edit');
  recipes
    .command('ls')
    .description('list the bundled recipes with what each is for')
    .option('--json', 'print one JSON array of {name, file, summary}')
    .action((opts: { json?: boolean }) => {
      const rows = bundledRecipes().map(([name, file]) => ({ name, file, summary: summaryOf(file) }));
      if (opts.json) {
        io.out(JSON.stringify(rows));
        return;
      }
      const width = Math.max(...rows.map((r) => r.name.length));
      for (const r of rows) io.out(`${r.name.padEnd(width)}  ${r.summary}`);
      io.out('');
      io.out('check one with `ponder tune --check recipes/NAME.yaml`; copy one to edit with `ponder recipes cp NAME DEST`');
    });
  recipes
    .command('cp')
    .description('copy a bundled recipe (or any recipe file) to DEST, keeping its data paths valid')
    .argument('<name>', 'a bundled recipe (see `ponder recipes ls`) or a recipe file')
    .argument('<dest>', 'the new file, or an existing directory to copy into')
    .option('--with-data', 'copy the data files it references beside it instead of pointing at the originals')
    .addHelpText('after', CP_HELP)
    .action((name: string, dest: string, opts: { withData?: boolean }) => {
      const src = recipeFile(name);
      const target = existsSync(dest) && statSync(dest).isDirectory() ? join(dest, basename(src)) : dest;
      const r = copyRecipe(src, target, { withData: opts.withData });
      io.out(`copied ${src} -> ${r.file}`);
      for (const [field, path] of r.rewritten) io.out(`  ${field}: ${path}`);
      for (const [from, to] of r.copied) io.out(`  copied ${from} -> ${to}`);
    });
  for (const cmd of recipes.commands) cmd.exitOverride().showSuggestionAfterError(true);
}
