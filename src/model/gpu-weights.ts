import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { BINDING_ALIGN_BYTES, shapeString, type Tensor } from '../gpu/tensor.js';
import { maxTableRows, uploadTable, type EmbeddingTable } from '../ops/embedding.js';
import { checkWeights, expectedWeights, mtpPrefix, type ModelConfig, type Weights } from './config.js';

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

/**
 * One MTP module. HF's input_proj [hidden, 2·hidden] acts on cat(normed hidden, normed embedding);
 * it is uploaded as its two [hidden, hidden] column halves so the projection is two matmuls into one
 * output (the second accumulating) and no concatenated activation is ever built.
 */
export interface MtpWeights {
  tokenNorm: Tensor;
  hiddenNorm: Tensor;
  /** input_proj[:, :hidden]: acts on the normed previous hidden state */
  projHidden: Tensor;
  /** input_proj[:, hidden:]: acts on the normed token embedding */
  projToken: Tensor;
  block: LayerWeights;
  finalNorm: Tensor;
}

export interface GpuWeights {
  /** [vocab, hidden], or its row chunks in order */
  embed: EmbeddingTable;
  layers: LayerWeights[];
  norm: Tensor;
  /** [vocab, hidden] rows = output classes; the same object as `embed` when tied */
  lmHead: EmbeddingTable;
  /** num_nextn_predict_layers modules, in order */
  mtp: MtpWeights[];
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
  // tensors of one shape read by the same input (gate and up; k and v) go into one buffer, back to
  // back, so the forward can run them as one matmul (stackedView); each keeps its own name and view
  const stacked = (names: string[]): Tensor[] => {
    const ws = names.map((n) => weights.get(n)!);
    const n = ws[0]!.data.length;
    const data = new Float32Array(n * ws.length);
    ws.forEach((w, i) => data.set(w.data, i * n));
    return gpu.upload(data, [ws.length, ...ws[0]!.shape], 'f32', names.join('+')).unstack();
  };
  const H = config.hidden_size;
  const maxRows = Math.min(opts.maxChunkRows ?? Infinity, maxTableRows(gpu, H));
  const table = (name: string): EmbeddingTable => uploadTable(gpu, weights.get(name)!.data, config.vocab_size, H, { maxRows, label: name });

  // q, k and v in one buffer too, q first, when k then starts at a binding-aligned offset (so k and
  // v stay a stacked pair): the forward can then run all three as one matmul (concatenatedView)
  const qkv = (a: string): Tensor[] => {
    const names = [`${a}.q_proj.weight`, `${a}.k_proj.weight`, `${a}.v_proj.weight`];
    const [q, k, v] = names.map((n) => weights.get(n)!);
    if ((q!.data.length * 4) % BINDING_ALIGN_BYTES !== 0) return [up(names[0]!), ...stacked(names.slice(1))];
    const data = new Float32Array(q!.data.length + k!.data.length + v!.data.length);
    data.set(q!.data);
    data.set(k!.data, q!.data.length);
    data.set(v!.data, q!.data.length + k!.data.length);
    const rows = [q!.shape[0]!, k!.shape[0]!, v!.shape[0]!];
    return gpu.upload(data, [rows[0]! + rows[1]! + rows[2]!, H], 'f32', names.join('+')).splitRows(rows);
  };

  const block = (p: string): LayerWeights => {
    const a = `${p}.self_attn`;
    const [q, k, v] = qkv(a);
    const [gate, upProj] = stacked([`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`]);
    return {
      inputNorm: up(`${p}.input_layernorm.weight`),
      q: q!,
      k: k!,
      v: v!,
      qBias: config.attention_bias ? up(`${a}.q_proj.bias`) : undefined,
      kBias: config.attention_bias ? up(`${a}.k_proj.bias`) : undefined,
      vBias: config.attention_bias ? up(`${a}.v_proj.bias`) : undefined,
      qNorm: config.qk_norm ? up(`${a}.q_norm.weight`) : undefined,
      kNorm: config.qk_norm ? up(`${a}.k_norm.weight`) : undefined,
      o: up(`${a}.o_proj.weight`),
      postNorm: up(`${p}.post_attention_layernorm.weight`),
      gate: gate!,
      up: upProj!,
      down: up(`${p}.mlp.down_proj.weight`),
    };
  };

  const embed = table('model.embed_tokens.weight');
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) layers.push(block(`model.layers.${i}`));
  const norm = up('model.norm.weight');
  const lmHead = config.tie_word_embeddings ? embed : table('lm_head.weight');
  const mtp: MtpWeights[] = [];
  for (let k = 0; k < config.num_nextn_predict_layers; k++) {
    const p = mtpPrefix(k);
    const [hidden, token] = splitColumns(weights.get(`${p}.input_proj.weight`)!.data, H);
    mtp.push({
      tokenNorm: up(`${p}.token_layernorm.weight`),
      hiddenNorm: up(`${p}.hidden_layernorm.weight`),
      projHidden: gpu.upload(hidden, [H, H], 'f32', `${p}.input_proj.hidden`),
      projToken: gpu.upload(token, [H, H], 'f32', `${p}.input_proj.token`),
      block: block(p),
      finalNorm: up(`${p}.final_layernorm.weight`),
    });
  }
  return { embed, layers, norm, lmHead, mtp };
}

/**
 * Checks weights already on the GPU (e.g. views of a TrainableModel's Params) against `config`: every
 * tensor f32 with the shape expectedWeights gives its HF name (input_proj as two [hidden, hidden]
 * halves, a chunked table's chunks `hidden` wide with `vocab` rows in all), optional ones (biases,
 * qk-norms) present exactly when the config has them. PonderError('BAD_INPUT') names the tensor.
 */
export function checkGpuWeights(config: ModelConfig, w: GpuWeights, where = 'GPU weights'): void {
  const want = expectedWeights(config);
  const bad = (m: string): never => {
    throw new PonderError('BAD_INPUT', `${where}: ${m}`);
  };
  const tensor = (name: string, t: Tensor | undefined, shape = want.get(name)): void => {
    if (!shape) {
      if (t) bad(`tensor "${name}" is given but the config has none`);
      return;
    }
    if (!t) return bad(`missing tensor "${name}" (expected shape ${shapeString(shape)})`);
    if (t.dtype !== 'f32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      bad(`tensor "${name}" is ${t.dtype}${shapeString(t.shape)}, but the config needs f32${shapeString(shape)}`);
    }
  };
  const table = (name: string, t: EmbeddingTable): void => {
    const chunks = tableChunks(t);
    const rows = chunks.reduce((a, c) => a + (c.shape[0] ?? 0), 0);
    for (const [i, c] of chunks.entries()) {
      if (c.dtype !== 'f32' || c.shape.length !== 2 || c.shape[1] !== config.hidden_size) bad(`"${name}" chunk ${i} is ${c.dtype}${shapeString(c.shape)}, expected f32 [rows x ${config.hidden_size}]`);
    }
    if (rows !== config.vocab_size) bad(`"${name}" has ${rows} rows in its chunks, the config's vocabulary is ${config.vocab_size}`);
  };
  const block = (p: string, l: LayerWeights | undefined): void => {
    if (!l) return bad(`missing block "${p}"`);
    const a = `${p}.self_attn`;
    tensor(`${p}.input_layernorm.weight`, l.inputNorm);
    tensor(`${a}.q_proj.weight`, l.q);
    tensor(`${a}.k_proj.weight`, l.k);
    tensor(`${a}.v_proj.weight`, l.v);
    tensor(`${a}.q_proj.bias`, l.qBias);
    tensor(`${a}.k_proj.bias`, l.kBias);
    tensor(`${a}.v_proj.bias`, l.vBias);
    tensor(`${a}.q_norm.weight`, l.qNorm);
    tensor(`${a}.k_norm.weight`, l.kNorm);
    tensor(`${a}.o_proj.weight`, l.o);
    tensor(`${p}.post_attention_layernorm.weight`, l.postNorm);
    tensor(`${p}.mlp.gate_proj.weight`, l.gate);
    tensor(`${p}.mlp.up_proj.weight`, l.up);
    tensor(`${p}.mlp.down_proj.weight`, l.down);
  };
  table('model.embed_tokens.weight', w.embed);
  table(config.tie_word_embeddings ? 'model.embed_tokens.weight (tied lm_head)' : 'lm_head.weight', w.lmHead);
  if (w.layers.length !== config.num_hidden_layers) bad(`${w.layers.length} layers, the config has ${config.num_hidden_layers}`);
  w.layers.forEach((l, i) => block(`model.layers.${i}`, l));
  tensor('model.norm.weight', w.norm);
  if (w.mtp.length !== config.num_nextn_predict_layers) bad(`${w.mtp.length} MTP modules, the config has ${config.num_nextn_predict_layers}`);
  const H = config.hidden_size;
  w.mtp.forEach((m, k) => {
    const p = mtpPrefix(k);
    tensor(`${p}.token_layernorm.weight`, m.tokenNorm);
    tensor(`${p}.hidden_layernorm.weight`, m.hiddenNorm);
    tensor(`${p}.input_proj.weight (hidden half)`, m.projHidden, [H, H]);
    tensor(`${p}.input_proj.weight (token half)`, m.projToken, [H, H]);
    block(p, m.block);
    tensor(`${p}.final_layernorm.weight`, m.finalNorm);
  });
}

/** W [rows, 2·cols] → (W[:, :cols], W[:, cols:]), each [rows, cols]. */
export function splitColumns(w: Float32Array, cols: number): [Float32Array, Float32Array] {
  const rows = w.length / (2 * cols);
  const left = new Float32Array(rows * cols);
  const right = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    left.set(w.subarray(r * 2 * cols, r * 2 * cols + cols), r * cols);
    right.set(w.subarray(r * 2 * cols + cols, (r + 1) * 2 * cols), r * cols);
  }
  return [left, right];
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
  for (const l of [...w.layers, ...w.mtp.map((m) => m.block)]) Object.values(l).forEach((t) => rel(t as Tensor | undefined));
  for (const m of w.mtp) [m.tokenNorm, m.hiddenNorm, m.projHidden, m.projToken, m.finalNorm].forEach(rel);
  rel(w.norm);
}
