/**
 * `--model <spec>`: a ponder model directory, a model named under the package's models/ folder, or
 * a Hugging Face directory (read in memory, no import needed). resolveModel only decides which;
 * loadAnyModel loads any of them with its tokenizer.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PonderError } from '../errors.js';
import type { ModelConfig, Weights } from '../model/config.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { modelsDir as packageModelsDir } from '../paths.js';
import { isModelDir, loadModelDir, loadTokenizer } from './model-dir.js';
import { readHfModel } from './hf-import.js';

export type ModelKind = 'ponder' | 'hf' | 'named';

export interface ResolvedModel {
  kind: ModelKind;
  dir: string;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** config.json plus model.safetensors, an index, or any *.safetensors file. */
export function isHfDir(dir: string): boolean {
  if (!existsSync(join(dir, 'config.json'))) return false;
  if (existsSync(join(dir, 'model.safetensors.index.json'))) return true;
  try {
    return readdirSync(dir).some((f) => f.endsWith('.safetensors'));
  } catch {
    return false;
  }
}

/** Decides what `spec` names. `modelsDir` defaults to the package's models/ folder (tests pass their own). */
export function resolveModel(spec: string, opts: { modelsDir?: string } = {}): ResolvedModel {
  if (spec !== '' && isDir(spec)) {
    if (isModelDir(spec)) return { kind: 'ponder', dir: spec };
    if (isHfDir(spec)) return { kind: 'hf', dir: spec };
  }
  const models = opts.modelsDir ?? packageModelsDir;
  if (spec !== '' && !spec.includes('/') && !spec.includes('\\') && spec !== '.' && spec !== '..') {
    const named = join(models, spec);
    if (isDir(named) && isModelDir(named)) return { kind: 'named', dir: named };
  }
  throw new PonderError(
    'NOT_FOUND',
    `no model at ${spec} (looked for a ponder model directory, a model named ${spec} under models/, or an HF directory)`,
    isDir(spec) ? `${spec} exists but has neither weights.msgpack / weights.index.json nor config.json + *.safetensors` : undefined,
  );
}

export interface AnyModel {
  config: ModelConfig;
  weights: Weights;
  tokenizer: Tokenizer;
  kind: ModelKind;
  dir: string;
}

/** Loads whatever `spec` names (see resolveModel) with its tokenizer. */
export async function loadAnyModel(spec: string, opts: { modelsDir?: string } = {}): Promise<AnyModel> {
  const { kind, dir } = resolveModel(spec, opts);
  if (kind === 'hf') {
    const { config, weights } = readHfModel(dir);
    const tokenizer = await loadTokenizer(dir, config);
    return { config, weights, tokenizer, kind, dir };
  }
  const { config, weights } = loadModelDir(dir);
  const tokenizer = await loadTokenizer(dir, config);
  return { config, weights, tokenizer, kind, dir };
}
