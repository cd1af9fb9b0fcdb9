/**
 * Tiny random models of each supported family, for tests that need a whole model (import/export,
 * loading, forward passes) without downloading anything.
 *
 *   tinyConfig('qwen2')                      -> a valid ModelConfig (vocab 320 ≥ the chatml-bpe fixture's 317)
 *   randomWeights(config, seed)              -> every tensor expectedWeights(config) lists, seeded
 *   writeHfModel(dir, config, weights, opts) -> an HF-style directory: config.json, model.safetensors
 *                                               (F32/F16/BF16, optionally sharded with an index) and
 *                                               the chatml-bpe tokenizer fixture files
 *
 * Weights are scaled like a freshly initialised model (matrices ~ N(0, 1/in), norms ~ 1 ± 0.1,
 * biases ~ N(0, 0.02²)) so a forward pass stays in a sane range.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configToJson, expectedWeights, parseModelConfig, type ModelConfig, type Weights } from '../../src/model/config.js';
import { writeSafetensors, type SafetensorsDType, type TensorToWrite } from '../../src/io/safetensors.js';
import { packageRoot } from '../../src/paths.js';
import { randomNormal, rng } from './random.js';

export type TinyFamily = 'llama' | 'qwen2' | 'qwen3' | 'mimo';

const ARCH: Record<TinyFamily, string> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
  mimo: 'MiMoForCausalLM',
};

/** The chatml-bpe tokenizer fixture (vocab 317: 312 BPE tokens + <|endoftext|> <|im_start|> <|im_end|> <think> </think>). */
export const TINY_TOKENIZER_DIR = join(packageRoot, 'test', 'fixtures', 'tokenizers', 'chatml-bpe');

/**
 * A small valid config of the family: vocab 320, hidden 32, 2 layers, 4 heads of dim 8, 2 KV heads,
 * intermediate 48. `overrides` (ModelConfig fields, i.e. HF names) are applied on top; the result is
 * validated by parseModelConfig so it is always a config a loader accepts.
 */
export function tinyConfig(family: TinyFamily, overrides: Partial<ModelConfig> = {}): ModelConfig {
  const raw: Record<string, unknown> = {
    architectures: [ARCH[family]],
    vocab_size: 320,
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 8,
    intermediate_size: 48,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-6,
    rope_theta: family === 'llama' ? 500000 : 1000000,
    tie_word_embeddings: family !== 'llama',
    bos_token_id: 313,
    eos_token_id: 314,
  };
  if (family === 'llama') raw.attention_bias = false;
  const { architecture, family: _f, qk_norm: _q, ...rest } = overrides;
  if (architecture) raw.architectures = [architecture];
  Object.assign(raw, rest);
  return parseModelConfig(raw, `tinyConfig(${family})`);
}

/** Every tensor the config needs, seeded: the same (config, seed) always gives the same weights. */
export function randomWeights(config: ModelConfig, seed: number): Weights {
  const rand = rng(seed);
  const w: Weights = new Map();
  for (const [name, shape] of expectedWeights(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.endsWith('norm.weight')) {
      data = randomNormal(n, rand, 0.1);
      for (let i = 0; i < n; i++) data[i] = data[i]! + 1;
    } else if (name.endsWith('.bias')) {
      data = randomNormal(n, rand, 0.02);
    } else {
      data = randomNormal(n, rand, 1 / Math.sqrt(shape[shape.length - 1]!));
    }
    w.set(name, { shape: [...shape], data });
  }
  return w;
}

export interface WriteHfOptions {
  /** dtype of every tensor in the safetensors files (default F32). */
  dtype?: SafetensorsDType;
  /** Split the tensors over this many shards + model.safetensors.index.json (default 1: model.safetensors). */
  shards?: number;
  /** Copy the chatml-bpe tokenizer fixture (tokenizer.json, tokenizer_config.json) (default true). */
  tokenizer?: boolean;
}

/**
 * Writes `weights` (all of them, in map order, extra tensors included) as an HF model directory;
 * creates `dir` if needed and returns it.
 */
export function writeHfModel(dir: string, config: ModelConfig, weights: Weights, opts: WriteHfOptions = {}): string {
  const dtype = opts.dtype ?? 'F32';
  const shards = Math.max(1, Math.floor(opts.shards ?? 1));
  mkdirSync(dir, { recursive: true });
  const json = configToJson(config);
  delete json.ponder;
  json.torch_dtype = dtype === 'F32' ? 'float32' : dtype === 'F16' ? 'float16' : 'bfloat16';
  json.transformers_version = '4.51.0';
  writeFileSync(join(dir, 'config.json'), JSON.stringify(json, null, 2) + '\n');

  const tensors: TensorToWrite[] = [...weights].map(([name, t]) => ({ name, dtype, shape: t.shape, data: t.data }));
  if (shards === 1) {
    writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  } else {
    // Roughly equal numbers of tensors per shard, every shard non-empty (when there are enough tensors).
    const per = Math.ceil(tensors.length / shards);
    const n = Math.ceil(tensors.length / per);
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (let s = 0; s < n; s++) {
      const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
      const part = tensors.slice(s * per, (s + 1) * per);
      writeSafetensors(join(dir, name), part, { format: 'pt' });
      for (const t of part) {
        weightMap[t.name] = name;
        total += t.data.length * (dtype === 'F32' ? 4 : 2);
      }
    }
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
  }

  if (opts.tokenizer ?? true) {
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      const src = join(TINY_TOKENIZER_DIR, f);
      if (existsSync(src)) copyFileSync(src, join(dir, f));
    }
  }
  return dir;
}
