/**
 * The models ponder can find without being told where (`ponder models`), and what each one is:
 *
 *   bundled   the package's models/ folder (the default model ships there)
 *   local     ./models/<name> in the working directory, when that is not the package's own folder
 *   run       ./runs/<run>/final, the final models of recent `ponder tune` runs, newest first
 *             (at most MAX_RUNS of them)
 *
 * A directory counts when resolveModel would load it (a ponder model directory or an HF one). Each
 * entry is described from files alone, no weights read: family and architecture, parameters (from the
 * config's tensor shapes: the trunk, and MTP modules apart), context (max_position_embeddings), the
 * tokenizer, and the card's summary and example (model-card.ts). A directory whose config.json does
 * not parse is still listed, with the reason in place of the figures, so a broken model is visible.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { expectedWeights, isMtpWeight, type ModelConfig } from '../model/config.js';
import { modelsDir as packageModelsDir } from '../paths.js';
import { readModelCard } from './model-card.js';
import { readConfigJson, isModelDir } from './model-dir.js';
import { isHfDir } from './resolve-model.js';

export const MAX_RUNS = 10;

export type ModelSource = 'bundled' | 'local' | 'run';

export interface ModelEntry {
  /** what to pass to --model */
  name: string;
  dir: string;
  source: ModelSource;
  format: 'ponder' | 'hf';
  config?: ModelConfig;
  /** why config.json could not be read */
  error?: string;
  summary?: string;
  example?: string;
}

export interface ParameterCount {
  /** the trunk: embeddings, blocks, final norm, LM head */
  trunk: number;
  /** the multi-token-prediction modules */
  mtp: number;
}

/** Parameters from the config's tensor shapes (the same table loaders check weights against). */
export function countParameters(config: ModelConfig): ParameterCount {
  const out: ParameterCount = { trunk: 0, mtp: 0 };
  for (const [name, shape] of expectedWeights(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (isMtpWeight(name)) out.mtp += n;
    else out.trunk += n;
  }
  return out;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() || (e.isSymbolicLink() && isDir(join(dir, e.name))))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** The entry for one directory, or undefined when it holds no model. */
export function describeModel(dir: string, name: string, source: ModelSource): ModelEntry | undefined {
  const format = isModelDir(dir) ? 'ponder' : isHfDir(dir) ? 'hf' : undefined;
  if (!format) return undefined;
  const entry: ModelEntry = { name, dir, source, format };
  try {
    entry.config = readConfigJson(dir);
  } catch (e) {
    entry.error = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
  const card = readModelCard(dir);
  if (card.summary) entry.summary = card.summary;
  if (card.example) entry.example = card.example;
  return entry;
}

/** A path as the user would type it from `cwd` (relative when inside it). */
function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) ? rel : path;
}

/** Every model found from `cwd` (bundled, local, recent runs), in that order. */
export function findModels(opts: { cwd?: string; bundledDir?: string } = {}): ModelEntry[] {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const bundled = resolve(opts.bundledDir ?? packageModelsDir);
  const out: ModelEntry[] = [];
  for (const name of subdirs(bundled)) {
    const e = describeModel(join(bundled, name), name, 'bundled');
    if (e) out.push(e);
  }
  const local = join(cwd, 'models');
  if (local !== bundled) {
    for (const name of subdirs(local)) {
      const e = describeModel(join(local, name), shown(join(local, name), cwd), 'local');
      if (e) out.push(e);
    }
  }
  const runs = join(cwd, 'runs');
  const finals: { dir: string; mtime: number }[] = [];
  for (const run of subdirs(runs)) {
    const dir = join(runs, run, 'final');
    try {
      finals.push({ dir, mtime: statSync(join(dir, 'config.json')).mtimeMs });
    } catch {
      // not finished (or not a run)
    }
  }
  finals.sort((a, b) => b.mtime - a.mtime || a.dir.localeCompare(b.dir));
  for (const { dir } of finals.slice(0, MAX_RUNS)) {
    const e = describeModel(dir, shown(dir, cwd), 'run');
    if (e) out.push(e);
  }
  return out;
}

/** 854,912 -> "855K"; 1,234,567,890 -> "1.23B". */
export function shortCount(n: number): string {
  if (n < 1000) return String(n);
  const [div, unit] = n >= 1e9 ? [1e9, 'B'] : n >= 1e6 ? [1e6, 'M'] : [1e3, 'K'];
  const v = n / div;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${unit}`.replace(/\.0+([KMB])$/, '$1');
}
