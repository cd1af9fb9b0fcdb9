/**
 * `ponder tune --fresh`: start a run over in a directory that already holds one. A fresh run never
 * shares a directory with an earlier run's progress (train/run-dir.ts refuses it), so --fresh first
 * sets the earlier run aside: every file and folder that run wrote moves, unchanged, into a new
 * sibling directory `<output>.prev-N` (the lowest N not taken), and the run then starts in the
 * emptied directory. Nothing is deleted, and only a run's own files move:
 *
 *   - the directory must be a ponder run: it holds recipe.hash, which every run writes first;
 *   - every entry must be one a run writes (docs/checkpoint-format.md): recipe.yaml, recipe.hash,
 *     recipe.<hash12>.yaml, metrics.jsonl, report.md, `<stage>-ref-logps.json`,
 *     `<stage>-round-<r>.json` (and their .tmp), checkpoints/ holding only checkpoint files,
 *     completions/, reference/, and final/ holding only the files of a saved model. Anything else
 *     is the user's: the directory is refused with one line naming it, and nothing moves;
 *   - the init model's own directory (or one holding it) is refused before this runs
 *     (tune-preflight.ts checkTuneOutput).
 *
 * Moving whole entries is a rename each, so a crash part-way leaves every file either in the run
 * directory or in the set-aside one, never half-copied.
 */
import { mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PonderError } from '../errors.js';
import { TOKENIZER_FILES, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from '../io/model-dir.js';
import { CHECKPOINTS_SUBDIR, isCheckpointFileName } from '../train/checkpoint.js';
import { FINAL_SUBDIR, RECIPE_HASH_FILE, RUN_FILE_RE, RUN_SUBDIRS } from '../train/run-dir.js';

/** What a saved model directory holds (io/model-dir.ts saveModelDir). */
const MODEL_FILE_RE = /^weights-\d{5,}-of-\d{5,}\.msgpack$/;
const MODEL_FILES = new Set(['config.json', 'README.md', WEIGHTS_FILE, WEIGHTS_INDEX_FILE, ...TOKENIZER_FILES]);

export interface FreshStartPlan {
  /** the run directory */
  output: string;
  /** the entries that move, in directory order */
  entries: string[];
  /** where they move to: a new sibling directory */
  to: string;
}

function bad(path: string, problem: string, hint?: string): PonderError {
  return new PonderError('BAD_INPUT', `${path}: ${problem}`, hint);
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    throw bad(dir, `cannot read: ${errnoOf(e) ?? String(e)}`);
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The entries of `output` a run did not write (paths relative to it). */
function foreignEntries(output: string, names: string[]): string[] {
  const foreign: string[] = [];
  for (const name of names) {
    const path = join(output, name);
    if (RUN_FILE_RE.test(name) && !isDir(path)) continue;
    if (RUN_SUBDIRS.has(name) && isDir(path)) continue;
    if (name === CHECKPOINTS_SUBDIR && isDir(path)) {
      for (const n of listDir(path)) if (!isCheckpointFileName(n)) foreign.push(`${CHECKPOINTS_SUBDIR}/${n}`);
      continue;
    }
    if (name === FINAL_SUBDIR && isDir(path)) {
      for (const n of listDir(path)) if (!MODEL_FILES.has(n) && !MODEL_FILE_RE.test(n)) foreign.push(`${FINAL_SUBDIR}/${n}`);
      continue;
    }
    foreign.push(name);
  }
  return foreign;
}

function listFew(names: string[]): string {
  const shown = names.slice(0, 3).map((n) => JSON.stringify(n)).join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

/** `<output>.prev-N` for the lowest N that does not exist yet. */
function setAsidePath(output: string): string {
  const parent = dirname(output);
  for (let n = 1; ; n++) {
    const candidate = join(parent, `${basename(output)}.prev-${n}`);
    try {
      statSync(candidate);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return candidate;
      throw bad(candidate, `cannot read: ${errnoOf(e) ?? String(e)}`);
    }
  }
}

/**
 * What `--fresh` would set aside in `output`, without touching anything: undefined when there is
 * nothing to set aside (a missing or empty directory). Throws one line for a directory that is not a
 * ponder run or that holds files a run did not write.
 */
export function planFreshStart(outputPath: string): FreshStartPlan | undefined {
  const output = resolve(outputPath);
  let st;
  try {
    st = statSync(output);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    // ENOTDIR and the rest: run-dir.ts's own check names them
    return undefined;
  }
  if (!st.isDirectory()) return undefined;
  const names = listDir(output);
  if (names.length === 0) return undefined;
  if (!names.includes(RECIPE_HASH_FILE)) {
    throw bad(outputPath, `is not a ponder run (no ${RECIPE_HASH_FILE}); --fresh sets aside only an earlier run's own files`, 'choose a new or empty output directory');
  }
  const foreign = foreignEntries(output, names);
  if (foreign.length > 0) {
    throw bad(outputPath, `holds files a run did not write (${listFew(foreign)}); --fresh moves only a run's own files and a new run cannot share the directory with them`, 'move them away, or choose another output directory');
  }
  if (dirname(output) === output) throw bad(outputPath, 'is the root directory; there is nowhere beside it to set the run aside');
  return { output, entries: [...names].sort(), to: setAsidePath(output) };
}

/** Moves the plan's entries into its set-aside directory (created here, never reused). Returns the one line saying so. */
export function applyFreshStart(plan: FreshStartPlan, outputShown: string): string {
  try {
    mkdirSync(plan.to);
  } catch (e) {
    throw bad(plan.to, `cannot create it to set the earlier run aside: ${errnoOf(e) ?? String(e)}`, 'choose another output directory');
  }
  for (const name of plan.entries) {
    try {
      renameSync(join(plan.output, name), join(plan.to, name));
    } catch (e) {
      throw bad(join(plan.output, name), `cannot move it into ${plan.to}: ${errnoOf(e) ?? String(e)}`, 'the entries moved so far are in that directory; move them back or remove them, then run again');
    }
  }
  return freshStartLine(plan, outputShown, false);
}

/** "--fresh: set aside the earlier run in X (checkpoints/, final/, metrics.jsonl, ...)"; `dryRun` words it as what a run would do. */
export function freshStartLine(plan: FreshStartPlan, outputShown: string, dryRun: boolean): string {
  const shown = plan.entries.map((n) => (isDir(join(dryRun ? plan.output : plan.to, n)) ? `${n}/` : n));
  const list = shown.length > 6 ? `${shown.slice(0, 6).join(', ')} and ${shown.length - 6} more` : shown.join(', ');
  return `${dryRun ? '--fresh would set' : 'set'} aside the earlier run in ${outputShown}: ${list} ${dryRun ? 'would move' : 'moved'} to ${plan.to}`;
}
