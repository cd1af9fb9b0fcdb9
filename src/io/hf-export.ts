/**
 * ponder model directory → Hugging Face directory: config.json (HF fields only, float32),
 * model.safetensors (F32, HF tensor names, in expectedWeights order; lm_head left out when tied, as
 * HF's own save_pretrained does) and the tokenizer files. transformers' AutoModelForCausalLM loads it.
 * A model that uses ponder's byte tokenizer exports without tokenizer files (HF has no equivalent);
 * a note says so.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configToJson, expectedWeights } from '../model/config.js';
import { writeSafetensors, type TensorToWrite } from './safetensors.js';
import { checkReplaceable, copyTokenizerFiles, loadModelDir, writeDirAtomically } from './model-dir.js';

export interface ExportOptions {
  /** Replace an existing directory at outDir (default: refuse). */
  overwrite?: boolean;
}

/** Exports a ponder model directory as an HF directory at `outDir` (written atomically). */
export function exportHfModel(modelDir: string, outDir: string, opts: ExportOptions = {}): { notes: string[]; outDir: string } {
  checkReplaceable(outDir, opts.overwrite ?? false, [modelDir]);
  const { config, weights, tokenizerKind } = loadModelDir(modelDir);
  const notes: string[] = [];
  const json = configToJson(config);
  delete json.ponder;
  json.torch_dtype = 'float32';
  const tensors: TensorToWrite[] = [];
  for (const name of expectedWeights(config).keys()) {
    const t = weights.get(name)!;
    tensors.push({ name, dtype: 'F32', shape: t.shape, data: t.data });
  }
  const extra = [...weights.keys()].filter((n) => !expectedWeights(config).has(n));
  for (const name of extra) {
    const t = weights.get(name)!;
    tensors.push({ name, dtype: 'F32', shape: t.shape, data: t.data });
  }
  if (tokenizerKind === 'bytes') notes.push("the model uses ponder's byte tokenizer, which has no HF tokenizer files: none were exported");
  writeDirAtomically(outDir, opts.overwrite ?? false, (tmp) => {
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(json, null, 2) + '\n');
    writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt' });
    if (tokenizerKind === 'hf') copyTokenizerFiles(modelDir, tmp);
  }, { sources: [modelDir] });
  return { notes, outDir };
}
