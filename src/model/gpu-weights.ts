import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { maxTableRows, uploadTable, type EmbeddingTable } from '../ops/embedding.js';
import { checkWeights, type ModelConfig, type Weights } from './config.js';

/**
 * A model's weights on the GPU, one f32 tensor per HF tensor, in HF's [out, in] Linear layout (the
 * matmuls run with transB). The two [vocab, hidden] tables (embed_tokens and an untied lm_head) may
 * exceed the adapter's maxStorageBufferBindingSize (Qwen2.5-0.5B: 151936 x 896 f32 = 519 MiB against
 * 128 MiB on lavapipe), so they are uploaded as row chunks when they have to be; with tied embeddings
 * the lm_head is the embedding table itself (no second copy).
 */
export interface LayerWeights {
  inputNorm: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  qBias?: Tensor;
  kBias?: Tensor;
  vBias?: Tensor;
  /** Qwen3: per-head RMSNorm weights [head_dim] */
  qNorm?: Tensor;
  kNorm?: Tensor;
  o: Tensor;
  postNorm: Tensor;
  gate: Tensor;
  up: Tensor;
  down: Tensor;
}

export interface GpuWeights {
  /** [vocab, hidden], or its row chunks in order */
  embed: EmbeddingTable;
  layers: LayerWeights[];
  norm: Tensor;
  /** [vocab, hidden] rows = output classes; the same object as `embed` when tied */
  lmHead: EmbeddingTable;
}

export interface UploadOptions {
  /**
   * Most rows per chunk of the embedding / lm_head tables. Default: as many as one storage binding
   * holds (so real tables split only when they must); tests force small chunks to cover the split path.
   */
  maxChunkRows?: number;
}

/** Checks `weights` against `config` (PonderError naming the tensor) and uploads them. */
export function uploadWeights(gpu: Gpu, config: ModelConfig, weights: Weights, opts: UploadOptions = {}, where = 'weights'): GpuWeights {
  checkWeights(config, weights, where);
  const up = (name: string): Tensor => {
    const w = weights.get(name)!;
    return gpu.upload(w.data, w.shape, 'f32', name);
  };
  const H = config.hidden_size;
  const maxRows = Math.min(opts.maxChunkRows ?? Infinity, maxTableRows(gpu, H));
  const table = (name: string): EmbeddingTable => uploadTable(gpu, weights.get(name)!.data, config.vocab_size, H, { maxRows, label: name });

  const embed = table('model.embed_tokens.weight');
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    const a = `${p}.self_attn`;
    layers.push({
      inputNorm: up(`${p}.input_layernorm.weight`),
      q: up(`${a}.q_proj.weight`),
      k: up(`${a}.k_proj.weight`),
      v: up(`${a}.v_proj.weight`),
      qBias: config.attention_bias ? up(`${a}.q_proj.bias`) : undefined,
      kBias: config.attention_bias ? up(`${a}.k_proj.bias`) : undefined,
      vBias: config.attention_bias ? up(`${a}.v_proj.bias`) : undefined,
      qNorm: config.qk_norm ? up(`${a}.q_norm.weight`) : undefined,
      kNorm: config.qk_norm ? up(`${a}.k_norm.weight`) : undefined,
      o: up(`${a}.o_proj.weight`),
      postNorm: up(`${p}.post_attention_layernorm.weight`),
      gate: up(`${p}.mlp.gate_proj.weight`),
      up: up(`${p}.mlp.up_proj.weight`),
      down: up(`${p}.mlp.down_proj.weight`),
    });
  }
  const norm = up('model.norm.weight');
  const lmHead = config.tie_word_embeddings ? embed : table('lm_head.weight');
  return { embed, layers, norm, lmHead };
}

/** The chunks of a table as a list (an unsplit table is one chunk). */
export function tableChunks(t: EmbeddingTable): readonly Tensor[] {
  return Array.isArray(t) ? t : [t as Tensor];
}

/** Releases every tensor (a tied lm_head once). */
export function releaseWeights(w: GpuWeights): void {
  const seen = new Set<Tensor>();
  const rel = (t: Tensor | undefined) => {
    if (t && !seen.has(t)) {
      seen.add(t);
      t.release();
    }
  };
  tableChunks(w.embed).forEach(rel);
  tableChunks(w.lmHead).forEach(rel);
  for (const l of w.layers) Object.values(l).forEach((t) => rel(t as Tensor | undefined));
  rel(w.norm);
}
