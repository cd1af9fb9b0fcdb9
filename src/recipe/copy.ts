/**
 * Copies a recipe to a new place so that it means the same thing there.
 *
 * A recipe's paths (stage data files, task path options such as jsonl's `data`, a `model.init`
 * directory) are relative to the recipe's own directory, so a plain copy would point at files that
 * are not next to the copy. copyRecipe finds every such path and either
 *   - rewrites it to the original's absolute path (the default), or
 *   - with `withData`, copies the referenced file next to the copy (same relative path when it stays
 *     inside the recipe's directory, else `data/<name>`) and points there; model directories are
 *     never copied, only rewritten.
 * The text is edited in place at each path's source range, so comments and layout survive. Existing
 * files are never overwritten.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { PonderError } from '../errors.js';
import { taskByName } from '../tasks/index.js';

/** One relative path a recipe holds. */
export interface RecipePathRef {
  /** field path, e.g. stages[0].data */
  field: string;
  /** as written */
  written: string;
  /** absolute, against the recipe's directory */
  abs: string;
  /** what it names: a data file or a model directory */
  what: 'file' | 'dir';
  /** [start, end) of the scalar in the text */
  range: [number, number];
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The relative paths in a recipe's text (absolute ones, task names and model names are left out). */
export function recipePathRefs(text: string, recipeFile: string): RecipePathRef[] {
  const dir = dirname(resolve(recipeFile));
  const doc: Document = parseDocument(text);
  if (doc.errors.length > 0) throw new PonderError('BAD_INPUT', `${recipeFile}: not valid YAML (${doc.errors[0]!.message.split('\n')[0]}); check it with \`ponder tune --check\``);
  const refs: RecipePathRef[] = [];
  const add = (node: unknown, field: string, what: 'file' | 'dir') => {
    if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return;
    const written = node.value;
    if (written === '' || isAbsolute(written)) return;
    refs.push({ field, written, abs: resolve(dir, written), what, range: [node.range[0], node.range[1]] });
  };
  // model.init: a directory when it names one next to the recipe or has a slash (as the loader decides)
  const init = doc.getIn(['model', 'init'], true);
  if (isScalar(init) && typeof init.value === 'string' && init.value !== 'scratch') {
    const spec = init.value;
    if (spec.includes('/') || spec.includes('\\') || spec === '.' || spec === '..' || isDir(resolve(dir, spec))) add(init, 'model.init', 'dir');
  }
  /** a task mapping's path options (jsonl's data) */
  const taskPaths = (node: unknown, field: string) => {
    if (!isMap(node)) return;
    const task = node.get('task');
    if (typeof task !== 'string') return;
    let options;
    try {
      options = taskByName(task).options;
    } catch {
      return; // an unknown task: the loader reports it
    }
    for (const o of options) if (o.kind === 'path') add(node.get(o.name, true), `${field}.${o.name}`, 'file');
  };
  const stages = doc.get('stages', true);
  if (isSeq(stages)) {
    stages.items.forEach((stage, i) => {
      if (!isMap(stage)) return;
      const data = stage.get('data', true);
      if (isScalar(data)) add(data, `stages[${i}].data`, 'file');
      else taskPaths(data, `stages[${i}].data`);
      taskPaths(stage.get('eval', true), `stages[${i}].eval`);
    });
  }
  return refs;
}

export interface CopyResult {
  /** the new recipe file */
  file: string;
  /** paths rewritten to the originals: [field, new text] */
  rewritten: [string, string][];
  /** files copied: [from, to] */
  copied: [string, string][];
}

/** A path as a YAML scalar: plain when it is safe to, else double-quoted. */
function scalarText(p: string): string {
  return /^[\w./+-]+$/.test(p) && !p.startsWith('-') ? p : JSON.stringify(p);
}

/** Copies `src` to the file `dest` (which must not exist); see the header for what happens to its paths. */
export function copyRecipe(src: string, dest: string, opts: { withData?: boolean } = {}): CopyResult {
  const text = readFileSync(src, 'utf8');
  const destFile = resolve(dest);
  const destDir = dirname(destFile);
  if (existsSync(destFile)) throw new PonderError('BAD_INPUT', `${dest}: already exists (not overwritten)`, 'pick another name, or remove it first');
  if (!isDir(destDir)) throw new PonderError('NOT_FOUND', `${dirname(dest)}: no such directory`);
  const srcDir = dirname(resolve(src));
  const refs = recipePathRefs(text, src);
  const rewritten: [string, string][] = [];
  const copies: [string, string][] = [];
  const edits: { range: [number, number]; text: string }[] = [];
  for (const ref of refs) {
    let target: string;
    if (opts.withData && ref.what === 'file') {
      const inside = !relative(srcDir, ref.abs).split(sep).includes('..');
      const rel = inside ? relative(srcDir, ref.abs) : join('data', basename(ref.abs));
      const to = join(destDir, rel);
      if (!copies.some(([, t]) => t === to)) {
        if (!existsSync(ref.abs)) throw new PonderError('NOT_FOUND', `${src}: ${ref.field}: no such file ${JSON.stringify(ref.written)} to copy (looked at ${ref.abs})`);
        if (existsSync(to)) throw new PonderError('BAD_INPUT', `${to}: already exists (not overwritten)`, 'copy into an empty directory, or leave out --with-data');
        copies.push([ref.abs, to]);
      }
      target = rel.split(sep).join('/');
      if (target === ref.written) continue;
    } else {
      target = ref.abs;
    }
    edits.push({ range: ref.range, text: scalarText(target) });
    rewritten.push([ref.field, target]);
  }
  let out = text;
  for (const e of [...edits].sort((a, b) => b.range[0] - a.range[0])) out = out.slice(0, e.range[0]) + e.text + out.slice(e.range[1]);
  for (const [from, to] of copies) {
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
  }
  writeFileSync(destFile, out, { flag: 'wx' });
  return { file: destFile, rewritten, copied: copies };
}
