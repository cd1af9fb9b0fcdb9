/**
 * The run directory a training run writes (see docs/checkpoint-format.md):
 *
 *   <output>/recipe.yaml       the resolved recipe the run uses
 *   <output>/recipe.hash       its sha256 (hex) + newline; a resume with a different recipe is refused
 *   <output>/metrics.jsonl     one JSON object per logged step: {stage, step, loss, lr, ...}
 *   <output>/checkpoints/      step-NNNNNN.ckpt (src/train/checkpoint.ts)
 *
 * Files are replaced atomically (tmp + fsync + rename). Metrics are appended one line at a time with
 * appendFileSync, so a crash loses at most the line being written; on resume, every line after the
 * resumed (stage, step), and a torn last line, is cut off so the log never holds a step twice.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PonderError } from '../errors.js';
import { READ_LIMITS, readTextFile } from '../io/read-file.js';
import { CHECKPOINTS_SUBDIR, isCheckpointFileName } from './checkpoint.js';

export const RECIPE_FILE = 'recipe.yaml';
export const RECIPE_HASH_FILE = 'recipe.hash';
export const METRICS_FILE = 'metrics.jsonl';

export interface RunDirOptions {
  /** The resolved recipe, as YAML text. */
  recipeText: string;
  /** Its sha256 (hex), as computed by the recipe loader. */
  recipeHash: string;
  /** Continue the run already in `output` (it must exist); otherwise `output` must not hold a run. */
  resume: boolean;
  /** Resume even when the recipe hash differs (the new recipe replaces the old one, which is kept as recipe.<oldhash12>.yaml). */
  force?: boolean;
}

export interface RunDir {
  dir: string;
  recipePath: string;
  metricsPath: string;
  checkpointsDir: string;
  resumed: boolean;
  /** Lines for the user (e.g. "the recipe changed ... resuming anyway (--force)"). */
  warnings: string[];
}

function bad(path: string, problem: string, hint?: string): PonderError {
  return new PonderError('BAD_INPUT', `${path}: ${problem}`, hint);
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}

/** Writes `text` to `path` via a fsynced tmp file and a rename. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      const b = Buffer.from(text, 'utf8');
      let done = 0;
      while (done < b.length) done += writeSync(fd, b, done, b.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = errnoOf(e);
    if (code !== undefined) throw bad(path, `writing failed: ${code}${code === 'ENOSPC' ? ' (disk full)' : ''}`);
    throw e;
  }
}

/**
 * Files ponder writes at the top of a run directory, and their .tmp: the recipe, its hash, old
 * recipes, metrics, the report, a preference stage's reference log-probs (`<stage>-ref-logps.json`)
 * and a self_evolve stage's rounds (`<stage>-round-<r>.json`). `tune --fresh` (cli/fresh-run.ts)
 * reads the same list, so a run is recognised alike by both.
 */
export const RUN_FILE_RE = /^(recipe\.yaml|recipe\.hash|metrics\.jsonl|report\.md|recipe\.[0-9a-f]{12}\.yaml|[A-Za-z0-9][A-Za-z0-9._-]*-ref-logps\.json|[A-Za-z0-9][A-Za-z0-9._-]*-round-\d+\.json)(\.tmp)?$/;
/** Folders stage runners keep in a run (rollout logs, KL / DPO reference models). */
export const RUN_SUBDIRS: ReadonlySet<string> = new Set(['completions', 'reference']);
/** The model directory a finished run leaves (the tuner's FINAL_DIR). */
export const FINAL_SUBDIR = 'final';

/** What an existing directory holds, as a run directory sees it. */
interface RunDirContents {
  /** Entries ponder did not write (a fresh run refuses to share a directory with them). */
  foreign: string[];
  /** What makes it a run worth keeping (a checkpoint or a final model), if anything. */
  progress?: string;
  /** True when it holds ponder's run files but no progress: a run that stopped before its first checkpoint. */
  stale: boolean;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    throw bad(dir, `cannot read: ${errnoOf(e) ?? String(e)}`);
  }
}

function isDirAt(path: string): boolean | undefined {
  try {
    return statSync(path).isDirectory();
  } catch {
    return undefined;
  }
}

function inspectRunDir(dir: string): RunDirContents {
  const out: RunDirContents = { foreign: [], stale: false };
  for (const name of listDir(dir)) {
    const path = join(dir, name);
    if (RUN_FILE_RE.test(name)) {
      out.stale = true;
    } else if (name === CHECKPOINTS_SUBDIR && isDirAt(path)) {
      out.stale = true;
      for (const n of listDir(path)) {
        if (!isCheckpointFileName(n)) out.foreign.push(`${CHECKPOINTS_SUBDIR}/${n}`);
        else if (!n.endsWith('.tmp')) out.progress ??= `${CHECKPOINTS_SUBDIR}/${n}`;
      }
    } else if (name === FINAL_SUBDIR && isDirAt(path)) {
      out.progress ??= `${FINAL_SUBDIR}/`;
    } else if (RUN_SUBDIRS.has(name) && isDirAt(path)) {
      out.stale = true;
    } else {
      out.foreign.push(name);
    }
  }
  if (out.progress !== undefined) out.stale = false;
  return out;
}

function listFew(names: string[]): string {
  const shown = names.slice(0, 3).map((n) => JSON.stringify(n)).join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

/**
 * Checks that `output` can take a run without writing anything: it is missing, an empty directory, or
 * (with `resume`) a run. A fresh run shares a directory only with ponder's own run files; a run that
 * stopped before its first checkpoint (recipe and metrics but no checkpoint or final model) is started
 * again. Nothing the user put there is ever replaced: a directory holding anything else is refused.
 * Returns the warnings creating the run would print.
 */
export function checkRunDirUsable(output: string, resume: boolean): string[] {
  let st;
  try {
    st = statSync(output);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOTDIR') throw bad(output, 'cannot be created: a parent of it is a file, not a directory', 'choose another output directory');
    if (code !== 'ENOENT') throw bad(output, `cannot read: ${code ?? String(e)}`);
  }
  if (st && !st.isDirectory()) throw bad(output, 'exists and is not a directory', 'choose another output directory');
  const ck = join(output, CHECKPOINTS_SUBDIR);
  if (st && existsSync(ck) && !isDirAt(ck)) throw bad(ck, 'exists and is not a directory (a run keeps its checkpoints there)', 'move it away, or choose another output directory');
  if (resume) {
    if (!st || !existsSync(join(output, RECIPE_HASH_FILE))) throw new PonderError('NOT_FOUND', `${output}: no run to resume (no ${RECIPE_HASH_FILE})`, 'start the run without --resume');
    return [];
  }
  if (!st) return [];
  const c = inspectRunDir(output);
  if (c.foreign.length > 0) {
    throw bad(
      output,
      `is not empty and not a ponder run (it holds ${listFew(c.foreign)})`,
      'choose a new or empty output directory; ponder never replaces files it did not write',
    );
  }
  if (c.progress !== undefined) throw bad(output, `already holds a run (${c.progress})`, 'pass --resume to continue it, or choose another output directory');
  return c.stale ? [`warning: ${output} holds a run that stopped before its first checkpoint; starting it again`] : [];
}

/**
 * Creates (or, with `resume`, reopens) the run directory `output` and writes the resolved recipe.
 * A fresh run refuses a directory that already holds a run; a resume refuses a missing run and, unless
 * `force`, a recipe whose hash differs from the one the run started with.
 */
export function createRunDir(output: string, opts: RunDirOptions): RunDir {
  if (typeof opts.recipeHash !== 'string' || !/^[0-9a-f]{8,}$/i.test(opts.recipeHash)) throw new PonderError('BAD_INPUT', `createRunDir: recipe hash must be a hex string, got ${JSON.stringify(opts.recipeHash ?? null)}`);
  if (typeof opts.recipeText !== 'string') throw new PonderError('BAD_INPUT', 'createRunDir: recipe text must be a string');
  const recipePath = join(output, RECIPE_FILE);
  const hashPath = join(output, RECIPE_HASH_FILE);
  const run: RunDir = { dir: output, recipePath, metricsPath: join(output, METRICS_FILE), checkpointsDir: join(output, CHECKPOINTS_SUBDIR), resumed: opts.resume, warnings: [] };
  const warnings = checkRunDirUsable(output, opts.resume);

  if (opts.resume) {
    const oldHash = readTextFile(hashPath, { what: 'recipe hash file', maxBytes: 1024 }).trim();
    if (oldHash !== opts.recipeHash) {
      if (!opts.force) {
        throw new PonderError('BAD_INPUT', `${output}: the recipe changed since this run started (hash ${oldHash.slice(0, 12)} != ${opts.recipeHash.slice(0, 12)}); pass --force to resume anyway`);
      }
      if (existsSync(recipePath)) writeFileAtomic(join(output, `recipe.${oldHash.slice(0, 12)}.yaml`), readTextFile(recipePath, { what: 'recipe file', maxBytes: READ_LIMITS.small }));
      writeFileAtomic(recipePath, opts.recipeText);
      writeFileAtomic(hashPath, opts.recipeHash + '\n');
      run.warnings.push(`warning: the recipe changed since this run started (hash ${oldHash.slice(0, 12)} -> ${opts.recipeHash.slice(0, 12)}); resuming anyway (--force); the old recipe is kept as recipe.${oldHash.slice(0, 12)}.yaml`);
    }
    mkdirSync(run.checkpointsDir, { recursive: true });
    return run;
  }

  run.warnings.push(...warnings);
  // a run restarted after stopping before its first checkpoint: its metrics start again too
  if (warnings.length > 0 && existsSync(run.metricsPath)) truncateSync(run.metricsPath, 0);
  try {
    mkdirSync(run.checkpointsDir, { recursive: true });
  } catch (e) {
    throw bad(output, `cannot create the run directory: ${errnoOf(e) ?? String(e)}`);
  }
  writeFileAtomic(recipePath, opts.recipeText);
  writeFileAtomic(hashPath, opts.recipeHash + '\n');
  return run;
}

/** One metrics line. `stage` and `step` are required; any other JSON fields may follow. */
export interface MetricsRecord {
  stage: number;
  step: number;
  loss?: number;
  lr?: number;
  grad_norm?: number;
  tokens_per_s?: number;
  [key: string]: unknown;
}

function isPos(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Cuts metrics.jsonl after the last line at or before (stage, step): later lines, and the first line
 * that does not parse (a torn write) with everything after it, are dropped. Returns the number of
 * lines kept and dropped. A missing file is fine (0, 0).
 */
export function truncateMetrics(path: string, at: { stage: number; step: number }): { kept: number; dropped: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return { kept: 0, dropped: 0 };
    throw bad(path, `cannot read: ${errnoOf(e) ?? String(e)}`);
  }
  let bytes = 0;
  let kept = 0;
  let pos = 0;
  const lines = text.split('\n');
  const total = lines.filter((l, i) => l !== '' || i < lines.length - 1).length;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) break; // a last line without its newline was torn by a crash
    const line = text.slice(pos, nl);
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      break;
    }
    if (typeof rec !== 'object' || rec === null) break;
    const { stage, step } = rec as { stage?: unknown; step?: unknown };
    if (!isPos(stage) || !isPos(step)) break;
    if (stage > at.stage || (stage === at.stage && step > at.step)) break;
    kept++;
    pos = nl + 1;
    bytes += Buffer.byteLength(line, 'utf8') + 1;
  }
  if (bytes < Buffer.byteLength(text, 'utf8')) truncateSync(path, bytes);
  return { kept, dropped: total - kept };
}

/**
 * Appends metrics to metrics.jsonl, one JSON object per line, each line flushed to the file as it is
 * logged. Opened with `resumeFrom`, it first cuts the lines after that (stage, step).
 */
export class MetricsWriter {
  readonly path: string;
  /** Lines dropped by the resume truncation. */
  readonly dropped: number;

  constructor(pathOrRun: string | RunDir, resumeFrom?: { stage: number; step: number }) {
    this.path = typeof pathOrRun === 'string' ? pathOrRun : pathOrRun.metricsPath;
    this.dropped = resumeFrom ? truncateMetrics(this.path, resumeFrom).dropped : 0;
  }

  append(rec: MetricsRecord): void {
    if (!isPos(rec?.stage) || !isPos(rec?.step)) throw new PonderError('BAD_INPUT', `metrics: stage and step must be non-negative integers, got stage ${JSON.stringify(rec?.stage ?? null)}, step ${JSON.stringify(rec?.step ?? null)}`);
    const { stage, step, ...rest } = rec;
    let line: string;
    try {
      line = JSON.stringify({ stage, step, ...rest });
    } catch (e) {
      throw new PonderError('BAD_INPUT', `metrics: the record for step ${step} is not JSON-serializable (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    }
    try {
      appendFileSync(this.path, line + '\n');
    } catch (e) {
      throw bad(this.path, `appending metrics failed: ${errnoOf(e) ?? String(e)}`);
    }
  }
}
