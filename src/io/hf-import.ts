/**
 * Hugging Face model directory → ponder. An HF directory is config.json + model.safetensors (or
 * shards + model.safetensors.index.json) + tokenizer files. Tensor names are the same in both worlds
 * (ponder keeps HF names), so the import is: validate the config, validate every safetensors header,
 * check names and shapes against the config, and only then read the data (F16/BF16 widened exactly
 * to f32).
 *
 * Dropped on the way: `*.rotary_emb.inv_freq` buffers (recomputed from rope_theta), `lm_head.weight`
 * when the config ties it to the embeddings, and `model.mtp_layers.*` tensors when the config declares
 * no MTP modules (num_nextn_predict_layers). A config that declares MTP modules whose tensors are all
 * absent (a trunk-only upload) imports as a trunk with num_nextn_predict_layers 0. Each case gets a
 * note. Any other tensor the config does not explain is an error: it usually means the config and the
 * weights disagree (e.g. a wrong num_hidden_layers).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PonderError } from '../errors.js';
import { checkWeights, expectedWeights, isMtpWeight, type ModelConfig, type Weights } from '../model/config.js';
import { checkModelUsable } from './check-usable.js';
import { openSafetensorsModel, readTensorF32, type TensorEntry } from './safetensors.js';
import { checkReplaceable, checkTokenizerFiles, checkWeightShapes, readConfigJson, saveModelDir, type ModelCard, type SaveModelOptions } from './model-dir.js';

export interface HfModel {
  config: ModelConfig;
  weights: Weights;
  /** What was dropped or assumed on the way, one line each (for the CLI to print). */
  notes: string[];
}

function checkDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new PonderError('NOT_FOUND', `${dir}: no such model directory`);
  }
  if (!st.isDirectory()) throw new PonderError('BAD_INPUT', `${dir}: is not a directory (an HF model is a directory with config.json and *.safetensors)`);
}

/** Reads an HF model directory into memory (validated; see the module comment). */
export function readHfModel(hfDir: string): HfModel {
  checkDir(hfDir);
  let config = readConfigJson(hfDir);
  const { tensors, files } = openSafetensorsModel(hfDir);
  const where = files.length === 1 ? files[0]! : join(hfDir, 'model.safetensors.index.json');
  const notes: string[] = [];
  if (config.num_nextn_predict_layers > 0 && ![...tensors.keys()].some(isMtpWeight)) {
    notes.push(`the config declares ${config.num_nextn_predict_layers} MTP layers but the weights have none: imported without MTP`);
    config = { ...config, num_nextn_predict_layers: 0 };
  }
  const expected = expectedWeights(config);

  const keep = new Map<string, TensorEntry>();
  let rotary = 0;
  let mtp = 0;
  let droppedHead = false;
  for (const [name, entry] of tensors) {
    if (name.endsWith('.rotary_emb.inv_freq')) {
      rotary++;
      continue;
    }
    if (config.num_nextn_predict_layers === 0 && isMtpWeight(name)) {
      mtp++;
      continue;
    }
    if (name === 'lm_head.weight' && config.tie_word_embeddings && !expected.has(name)) {
      droppedHead = true;
      continue;
    }
    keep.set(name, entry);
  }
  if (rotary > 0) notes.push(`dropped ${rotary} rotary_emb.inv_freq buffers (recomputed from rope_theta)`);
  if (mtp > 0) notes.push(`dropped ${mtp} MTP tensors (model.mtp_layers.*): the config declares no num_nextn_predict_layers`);
  if (droppedHead) notes.push('dropped lm_head.weight: the config ties it to the embeddings');

  // Names and shapes first, from the headers alone; then the data.
  checkWeightShapes(config, new Map([...keep].map(([n, e]) => [n, e.shape])), where);
  const weights: Weights = new Map();
  for (const name of expected.keys()) {
    const e = keep.get(name)!;
    weights.set(name, { shape: [...e.shape], data: readTensorF32(e) });
  }
  checkWeights(config, weights, where);
  return { config, weights, notes };
}

export interface ImportOptions extends SaveModelOptions {
  card?: ModelCard;
}

/**
 * Imports an HF model directory as a ponder model directory at `outDir`. Everything is read and
 * checked first; `outDir` is written (atomically) only when all of it succeeded.
 */
export function importHfModel(hfDir: string, outDir: string, opts: ImportOptions = {}): { config: ModelConfig; notes: string[]; outDir: string } {
  // refused before anything is read: an existing --out without --overwrite, anything but a model
  // directory with it, and the source directory itself (or one holding it)
  checkReplaceable(outDir, opts.overwrite ?? false, [hfDir]);
  const { config, weights, notes } = readHfModel(hfDir);
  const hasTokenizer = existsSync(join(hfDir, 'tokenizer.json'));
  if (hasTokenizer) checkTokenizerFiles(hfDir);
  else notes.push(`no tokenizer.json in ${hfDir}: the model will use ponder's byte tokenizer`);
  const out: ModelConfig = { ...config, ponder: { ...config.ponder, tokenizer: hasTokenizer ? 'hf' : 'bytes' } };
  saveModelDir(
    outDir,
    { config: out, weights, tokenizerFrom: hasTokenizer ? hfDir : undefined, generationConfigFrom: hfDir, card: { source: `imported from Hugging Face directory ${hfDir}`, notes, ...opts.card } },
    { ...opts, sources: [...(opts.sources ?? []), hfDir] },
  );
  return { config: out, notes, outDir };
}

/**
 * importHfModel for the CLI: the same, after checking that the imported model would be usable
 * (io/check-usable.ts: its tokenizer loads and fits the vocabulary, its special ids are in range), so
 * a model every later command would fail on is refused here instead of written.
 */
export async function importUsableHfModel(hfDir: string, outDir: string, opts: ImportOptions = {}): Promise<{ config: ModelConfig; notes: string[]; outDir: string }> {
  checkReplaceable(outDir, opts.overwrite ?? false, [hfDir]);
  checkDir(hfDir);
  await checkModelUsable(hfDir, readConfigJson(hfDir));
  // a turn of the event loop before the (synchronous) read and write, so a signal that came during
  // the checks is handled before anything is written
  await new Promise((r) => setImmediate(r));
  return importHfModel(hfDir, outDir, opts);
}
