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
import { CHECKPOINTS_SUBDIR } from './checkpoint.js';

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

function holdsRun(dir: string): string | undefined {
  for (const f of [RECIPE_HASH_FILE, RECIPE_FILE, METRICS_FILE]) if (existsSync(join(dir, f))) return f;
  const ck = join(dir, CHECKPOINTS_SUBDIR);
  if (existsSync(ck) && readdirSync(ck).length > 0) return `${CHECKPOINTS_SUBDIR}/`;
  return undefined;
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
  let st;
  try {
    st = statSync(output);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw bad(output, `cannot read: ${errnoOf(e) ?? String(e)}`);
  }
  if (st && !st.isDirectory()) throw bad(output, 'exists and is not a directory', 'choose another output directory');

  if (opts.resume) {
    if (!st || !existsSync(hashPath)) throw new PonderError('NOT_FOUND', `${output}: no run to resume (no ${RECIPE_HASH_FILE})`, 'start the run without --resume');
    const oldHash = readFileSync(hashPath, 'utf8').trim();
    if (oldHash !== opts.recipeHash) {
      if (!opts.force) {
        throw new PonderError('BAD_INPUT', `${output}: the recipe changed since this run started (hash ${oldHash.slice(0, 12)} != ${opts.recipeHash.slice(0, 12)}); pass --force to resume anyway`);
      }
      if (existsSync(recipePath)) writeFileAtomic(join(output, `recipe.${oldHash.slice(0, 12)}.yaml`), readFileSync(recipePath, 'utf8'));
      writeFileAtomic(recipePath, opts.recipeText);
      writeFileAtomic(hashPath, opts.recipeHash + '\n');
      run.warnings.push(`warning: the recipe changed since this run started (hash ${oldHash.slice(0, 12)} -> ${opts.recipeHash.slice(0, 12)}); resuming anyway (--force); the old recipe is kept as recipe.${oldHash.slice(0, 12)}.yaml`);
    }
    mkdirSync(run.checkpointsDir, { recursive: true });
    return run;
  }

  if (st) {
    const found = holdsRun(output);
    if (found !== undefined) throw bad(output, `already holds a run (${found})`, 'pass --resume to continue it, or choose another output directory');
  }
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
