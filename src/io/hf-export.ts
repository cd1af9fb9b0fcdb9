/**
 * ponder model directory → Hugging Face directory: config.json (HF fields only, float32),
 * model.safetensors (F32, HF tensor names, in expectedWeights order; lm_head left out when tied, as
 * HF's own save_pretrained does), the tokenizer files and generation_config.json. transformers'
 * AutoModelForCausalLM loads it, and `ponder import` of it gives a model that answers the same.
 *
 * Every file that changes how the model behaves goes along: an HF tokenizer's files (with its chat
 * template and generation_config.json) are copied; ponder's byte tokenizer is written as an HF
 * `tokenizer.json` + `tokenizer_config.json` (byteTokenizerHfFiles: the same ids, the same chat
 * template), and its generation_config.json (the model's sampling defaults: the bundled model's
 * greedy `do_sample: false`) is copied with the tokenizer's stop ids (<|eos|>, <|im_end|>) added
 * when the file names none, since an HF tokenizer only knows its own eos_token.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BYTE_SPECIAL_TOKENS, byteTokenizerHfFiles, ByteTokenizer } from '../data/byte-tokenizer.js';
import { configToJson, expectedWeights } from '../model/config.js';
import { GENERATION_CONFIG, readSamplingDefaults } from './generation-config.js';
import { writeSafetensors, type TensorToWrite } from './safetensors.js';
import { checkReplaceable, copyTokenizerFiles, loadModelDir, readJsonFile, writeDirAtomically } from './model-dir.js';

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
  readSamplingDefaults(modelDir); // a malformed generation_config.json is one clear error before anything is written
  const generationPath = join(modelDir, GENERATION_CONFIG);
  const generation = existsSync(generationPath) ? (readJsonFile(generationPath, 'generation config') as Record<string, unknown>) : undefined;
  writeDirAtomically(outDir, opts.overwrite ?? false, (tmp) => {
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(json, null, 2) + '\n');
    writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt' });
    if (tokenizerKind === 'hf') {
      copyTokenizerFiles(modelDir, tmp); // generation_config.json is one of them
      return;
    }
    const files = byteTokenizerHfFiles();
    writeFileSync(join(tmp, 'tokenizer.json'), JSON.stringify(files.tokenizer, null, 2) + '\n');
    writeFileSync(join(tmp, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig, null, 2) + '\n');
    const stops = new ByteTokenizer().eosIds;
    const gen = { bos_token_id: BYTE_SPECIAL_TOKENS.bos, eos_token_id: stops, pad_token_id: BYTE_SPECIAL_TOKENS.pad, ...generation };
    writeFileSync(join(tmp, GENERATION_CONFIG), JSON.stringify(gen, null, 2) + '\n');
  }, { sources: [modelDir] });
  return { notes, outDir };
}
