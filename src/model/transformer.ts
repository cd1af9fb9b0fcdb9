import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { concatenatedView, shapeString, stackedView, Tensor } from '../gpu/tensor.js';
import { attention, prefillTiles } from '../ops/attention.js';
import { pickMatmulConfig } from '../ops/matmul-configs.js';
import { decodeLayer, decodeLayerFits, type DecodeLayerDims } from '../ops/decode-layer.js';
import { argmax } from '../ops/argmax.js';
import { embedding } from '../ops/embedding.js';
import { greedyHead, greedyHeadFits } from '../ops/greedy-head.js';
import { matmul } from '../ops/matmul.js';
import { mtpInput, mtpInputFits } from '../ops/mtp-input.js';
import { rmsnorm } from '../ops/rmsnorm.js';
import { ropeTables, type RopeTables } from '../ops/rope.js';
import { ropeAndCache, ropeKvWriteFits, ropeKvWritePacked } from '../ops/rope-kv-write.js';
import { swiglu } from '../ops/swiglu.js';
import type { ModelConfig, Weights } from './config.js';
import { checkGpuWeights, releaseWeights, tableChunks, uploadWeights, type GpuWeights, type LayerWeights, type MtpWeights, type UploadOptions } from './gpu-weights.js';
import { KvCache } from './kv-cache.js';
import { onePassLimits } from './limits.js';

/**
 * The decoder-only transformer of Llama / Qwen2 / Qwen3 (HF LlamaModel & co.), forward only:
 *
 *   x = embed(tokens)
 *   per layer:  x += o_proj(attention(rope(qk_norm?(q_proj(n))), rope(qk_norm?(k_proj(n))), v_proj(n)))
 *                    with n = rmsnorm(x, input_layernorm)
 *               x += down_proj(silu(gate_proj(n)) * up_proj(n)),  n = rmsnorm(x, post_attention_layernorm)
 *   logits = lm_head(rmsnorm(x, norm))             (lm_head = embed_tokens when tied)
 *
 * MTP module k (MiMo / DeepSeek-V3 multi-token prediction; ../docs/architecture.md "MTP") at row t:
 *   x = input_proj(cat(rmsnorm(h, hidden_layernorm), rmsnorm(embed(token), token_layernorm)))
 *   x = block(x)                                   (one decoder block, its own KV-cache layer)
 *   h' = rmsnorm(x, final_layernorm);  logits = lm_head(h')
 * where h is the lm_head input of the stage before (the trunk's rmsnorm(x, norm) for k = 0, module
 * k-1's h' otherwise) at the same row, `token` is the token k+1 places after that row's input token,
 * and the logits predict the token k+2 places after it. RoPE uses the row's own position.
 *
 * B sequences of T new tokens each run as one batch of B·T rows through every matmul; attention
 * reads/writes each sequence's own KV-cache slot from its own start position, so prefill (T > 1)
 * and batched decode (T = 1, B sequences of different lengths) are the same code.
 *
 * Fused projections: k and v, and gate and up, are one matmul each when their weights lie back to
 * back in one buffer (uploadWeights stores them so; a TrainableModel's arena usually does) and the
 * plan's k and v (gate and up) are one buffer too: matmul's shared-A batch against the stacked
 * weight view [2, N, H] writes [2, rows, N], whose halves are the two outputs. Otherwise (a bias on
 * k/v, unaligned sizes) they run as separate matmuls. When q's weights lie right before k's too
 * (uploadWeights, where k then starts binding-aligned) and the layer has no biases or q/k norms, q, k
 * and v are one matmul against the concatenated rows [Hq·D + 2·Hkv·D, H] into the plan's qkv, whose
 * rows hold each token's q, k and v heads side by side; ropeKvWritePacked takes q out of it, rotated,
 * into the plan's q for attention (one matmul where there were two).
 *
 * Activations are planned: one set of buffers per (B, T) shape, allocated on first use and reused by
 * later calls of that shape (decode reuses one plan for every token). Only the returned logits are
 * fresh per call; the caller owns and releases them. Nothing is read back here.
 */

export interface LoadOptions extends UploadOptions {
  /**
   * Tests only: the byte limit one lm_head output may have before it is computed in row blocks
   * (default and maximum: the device's maxStorageBufferBindingSize).
   */
  maxLogitsBindingBytes?: number;
  /** Tests only: the grid limit one-pass checks use (default: the device's maxComputeWorkgroupsPerDimension). */
  maxWorkgroupsPerDimension?: number;
}

export interface ForwardOptions {
  /** Only the last position's logits ([B, 1, V]): what sampling the next token needs. */
  lastOnly?: boolean;
  /**
   * Receives the lm_head input of every row (f32 [B·T, hidden]): what an MTP module takes as its
   * `hidden`. Written even with lastOnly.
   */
  hiddenOut?: Tensor;
  /**
   * With lastOnly: how many of its T tokens each sequence really has (1..T), its logits taken at
   * row lengths[b] - 1 instead of T - 1. Sequences of different lengths then run as one pass, each
   * padded on the right to T (batched prefill): a padding row is computed like any other and writes
   * its keys and values past the sequence's end, where nothing reads them (attention at a position
   * reads only the positions before it) until decoding overwrites them.
   */
  lengths?: number[];
}

export interface GpuWeightsOptions {
  /**
   * Whether the model owns the weights: false for views of tensors someone else keeps (a
   * TrainableModel's Params): dispose() then leaves them alone, and their owner must outlive the model.
   */
  owned: boolean;
  /** as LoadOptions.maxLogitsBindingBytes */
  maxLogitsBindingBytes?: number;
  /** as LoadOptions.maxWorkgroupsPerDimension */
  maxWorkgroupsPerDimension?: number;
}

/** Activation buffers for one (B, T). Row-major; `rows` = B·T. */
interface Plan {
  B: number;
  T: number;
  tokens: Tensor; // u32 [rows]
  /**
   * The pass's slots and starts, not yet written to `positions`, `slots` and `starts`: only the
   * separate attention ops read those (the fused decode layer takes them as params), so they are
   * written when an attention block first needs them (writePositions); one write less a decode pass.
   */
  unwritten?: { slots: number[]; starts: number[] };
  positions: Tensor; // u32 [rows]: starts[b] + t
  slots: Tensor; // u32 [B]
  starts: Tensor; // u32 [B]
  lastRows: Tensor; // u32 [B]: b·T + lengths[b] - 1 (default T - 1), rows gathered for lastOnly
  /** the lengths lastRows holds now (undefined: T each) */
  lastLengths?: number[];
  x: Tensor; // [rows, hidden] the residual stream
  n: Tensor; // [rows, hidden] normed input of a block
  q: Tensor; // [rows, Hq·D]
  k: Tensor; // [rows, Hkv·D]
  v: Tensor; // [rows, Hkv·D]
  /** [2, rows, Hkv·D] whose halves k and v are, when the offset of v is binding-aligned */
  kv?: Tensor;
  /** [2, rows, intermediate] whose halves gate and up are, likewise */
  gu?: Tensor;
  /** [rows, (Hq + 2·Hkv)·D]: a token's q, k and v heads, one packed projection (models without biases or q/k norms) */
  qkv?: Tensor;
  attn: Tensor; // [rows, Hq·D]
  gate: Tensor; // [rows, intermediate]
  up: Tensor; // [rows, intermediate]
  act: Tensor; // [rows, intermediate]
  aux: Tensor; // [rows, hidden] an MTP module's normed token embeddings
  lastNorm: Tensor; // [B, hidden] the normed last rows, gathered for lastOnly
}

/**
 * Whether an MTP module's fused layer splits a draft round's rows over workgroups, a core each
 * (ops/decode-layer.ts splitsRows), as the trunk's verify pass does. It does not: while a greedy
 * round's module runs, JavaScript records the next round (engine/speculative.ts), and on a 2-core
 * CPU the module as one workgroup leaves that recording the second core; split, the recording waits
 * for the round's GPU work and adds to every round. The module's layer costs more GPU time unsplit
 * (two rows on one core), but in eight alternating `bench model` runs of each build drafting gained
 * a median 1.10x over plain decoding against 1.05x split (bench/RESULTS.md "What bounds MTP
 * drafting on this VM").
 */
const MTP_SPLITS_ROWS = false;

/**
 * Plans kept at once (prefill shapes, decode, and with MTP drafting the draft and verify shapes);
 * older ones are released.
 */
const MAX_PLANS = 8;

export class Transformer {
  /**
   * Small decode passes run each layer as one dispatch where ops/decode-layer.ts takes them (default);
   * false keeps the separate ops everywhere (tests and benchmarks compare the two).
   */
  fusedDecode = true;
  private decodeDims?: DecodeLayerDims;
  /** fusesLayers' answers by shape */
  private fusedFits = new Map<string, boolean>();
  private plans = new Map<string, Plan>();
  private rope: RopeTables;
  /** the longest pass the kernels take (checkOnePass), computed on first use */
  private passLimits?: { positions: number; rows: number };
  private disposed = false;

  private constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    private readonly w: GpuWeights,
    private readonly maxLogitsBinding: number,
    /** dispose() releases the weights only when the model owns them */
    private readonly ownsWeights: boolean,
    /** tests only: LoadOptions.maxWorkgroupsPerDimension */
    private readonly maxWorkgroups?: number,
  ) {
    this.rope = this.buildRope(config.max_position_embeddings);
  }

  /** Checks the weights against the config (PonderError naming a missing / mis-shaped tensor), then uploads them. */
  static load(gpu: Gpu, config: ModelConfig, weights: Weights, opts: LoadOptions = {}): Transformer {
    const maxBinding = Math.min(opts.maxLogitsBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize);
    return new Transformer(gpu, config, uploadWeights(gpu, config, weights, opts), maxBinding, true, opts.maxWorkgroupsPerDimension);
  }

  /**
   * A model over weights already on the GPU, checked against the config (PonderError naming a missing
   * or mis-shaped tensor). Nothing is copied: every forward records reads of these very tensors, so
   * when their owner updates them in place (an optimizer step on a TrainableModel's Params, see
   * TrainableModel.inferenceWeights) the next forward computes with the new values. With
   * `owned: false`, dispose() releases only the model's own buffers (plans, RoPE tables).
   */
  static fromGpuWeights(gpu: Gpu, config: ModelConfig, weights: GpuWeights, opts: GpuWeightsOptions): Transformer {
    checkGpuWeights(config, weights, 'Transformer.fromGpuWeights');
    const maxBinding = Math.min(opts.maxLogitsBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize);
    return new Transformer(gpu, config, weights, maxBinding, opts.owned, opts.maxWorkgroupsPerDimension);
  }

  createCache(slots: number, maxPositions = this.config.max_position_embeddings): KvCache {
    return new KvCache(this.gpu, this.config, slots, maxPositions);
  }

  /** The MTP modules' KV cache: one layer per module (mtpForward's `cache`). */
  createMtpCache(slots: number, maxPositions = this.config.max_position_embeddings): KvCache {
    if (this.mtpDepth === 0) throw new PonderError('BAD_INPUT', 'this model has no MTP layers (num_nextn_predict_layers is 0)');
    return new KvCache(this.gpu, this.config, slots, maxPositions, this.mtpDepth);
  }

  /** How many MTP modules the model has (config num_nextn_predict_layers). */
  get mtpDepth(): number {
    return this.w.mtp.length;
  }

  /**
   * B sequences each with T new tokens (u32 tensor [B·T], or number[][] of equal lengths), written
   * into `cache` at slots[b] from position starts[b]. Returns logits f32 [B, T, V] (or [B, 1, V] with
   * lastOnly), a new tensor the caller releases.
   */
  forward(tokens: Tensor | number[][], cache: KvCache, slots: number[], starts: number[], opts: ForwardOptions = {}): Tensor {
    const p = this.begin('forward', tokens, cache, this.config.num_hidden_layers, slots, starts, opts);
    const ids = Array.isArray(tokens) ? p.tokens : tokens.reshape([p.B * p.T]);
    embedding(this.gpu, ids, this.w.embed, p.x);
    if (this.fusesLayers(p, cache, this.w.layers)) this.fusedLayers(p, this.w.layers, cache, 0, slots, starts);
    else {
      for (const [i, layer] of this.w.layers.entries()) {
        this.attentionBlock(p, layer, cache.k[i], cache.v[i]);
        this.mlpBlock(p, layer);
      }
    }
    return this.head(p, this.w.norm, opts);
  }

  /**
   * MTP module k over B sequences of T rows (see the class comment): `hidden` f32 [B·T, hidden] is
   * the previous stage's lm_head input at those rows, tokens[b][t] (or a u32 tensor [B·T] already on
   * the GPU, e.g. drafts that were never read back) the token k+1 places after row
   * (b, t)'s input token. Keys and values go to layer k of `cache` (createMtpCache) at slots[b] from
   * starts[b], the same positions as the rows. Returns logits like forward; `hiddenOut` receives this
   * module's lm_head input (module k+1's `hidden`).
   */
  mtpForward(k: number, hidden: Tensor, tokens: Tensor | number[][], cache: KvCache, slots: number[], starts: number[], opts: ForwardOptions = {}): Tensor {
    const m = this.w.mtp[k];
    if (!m) throw new PonderError('BAD_INPUT', `mtpForward: module ${k} does not exist (the model has ${this.mtpDepth})`);
    const p = this.begin(`mtpForward(${k})`, tokens, cache, this.mtpDepth, slots, starts, opts);
    this.checkRows('mtpForward: hidden', hidden, p.B * p.T);
    this.mtpInput(p, m, hidden, Array.isArray(tokens) ? p.tokens : tokens.reshape([p.B * p.T]));
    this.mtpLayer(p, m, cache, k, slots, starts);
    return this.head(p, m.finalNorm, opts);
  }

  /**
   * Module k's greedy token at every row: mtpForward's logits through an argmax, u32 [B·T], with
   * `hiddenOut` receiving the module's lm_head input. A draft round's rows are few, so where
   * fusedDecode holds and the fused kernels take the shapes (a software adapter) the module's input
   * and its norm, head and argmax run as one dispatch each (ops/mtp-input, ops/greedy-head), its
   * layer as decode_layer's one: three dispatches instead of ten. The fused head sums in another
   * order than the matmul, so a near-tie may draft another token; drafts only propose, and the trunk,
   * whose path is unchanged, decides what is emitted.
   */
  mtpGreedy(k: number, hidden: Tensor, tokens: Tensor, cache: KvCache, slots: number[], starts: number[], hiddenOut: Tensor): Tensor {
    const m = this.w.mtp[k];
    if (!m) throw new PonderError('BAD_INPUT', `mtpGreedy: module ${k} does not exist (the model has ${this.mtpDepth})`);
    const rows = tokens.size;
    const embed = tableChunks(this.w.embed);
    const head = tableChunks(this.w.lmHead);
    const input = { embed: embed[0]!, hiddenNorm: m.hiddenNorm, tokenNorm: m.tokenNorm, projHidden: m.projHidden, projToken: m.projToken };
    const fused = this.fusedDecode && embed.length === 1 && head.length === 1 && mtpInputFits(this.gpu, input, rows) && greedyHeadFits(this.gpu, m.finalNorm, head[0]!, rows);
    if (!fused) {
      const logits = this.mtpForward(k, hidden, tokens, cache, slots, starts, { hiddenOut });
      const ids = argmax(this.gpu, logits.reshape([rows, this.config.vocab_size]));
      logits.release();
      return ids;
    }
    const p = this.begin(`mtpGreedy(${k})`, tokens, cache, this.mtpDepth, slots, starts, { hiddenOut });
    this.checkRows('mtpGreedy: hidden', hidden, rows);
    const eps = this.config.rms_norm_eps;
    mtpInput(this.gpu, hidden, tokens.reshape([rows]), input, eps, p.x);
    this.mtpLayer(p, m, cache, k, slots, starts);
    return greedyHead(this.gpu, p.x, m.finalNorm, head[0]!, eps, hiddenOut);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.plans.values()) releasePlan(p);
    this.plans.clear();
    this.rope.cos.release();
    this.rope.sin.release();
    if (this.ownsWeights) releaseWeights(this.w);
  }

  // ------------------------------------------------------------------ blocks

  /** The shapes ops/decode-layer.ts takes, from the config. */
  private get layerDims(): DecodeLayerDims {
    const c = this.config;
    return (this.decodeDims ??= { hidden: c.hidden_size, intermediate: c.intermediate_size, heads: c.num_attention_heads, kvHeads: c.num_key_value_heads, headDim: c.head_dim, eps: c.rms_norm_eps });
  }

  /**
   * Whether this pass runs each layer as one fused dispatch (ops/decode-layer.ts): a few new rows of
   * a small model on a software adapter, where a dispatch's fixed cost outweighs a small layer's
   * arithmetic (bench/RESULTS.md "Fused decode layer"). Everything else runs the separate ops.
   */
  private fusesLayers(p: Plan, cache: KvCache, layers: readonly LayerWeights[]): boolean {
    if (!this.fusedDecode) return false;
    // decided once per (rows, cache length, weights): a decode step asks every token
    const key = `${p.B}x${p.T}x${cache.maxPositions}x${layers === this.w.layers ? 'trunk' : 'mtp'}`;
    let fits = this.fusedFits.get(key);
    if (fits === undefined) {
      const c = this.config;
      const f32 = layers.every((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down, l.inputNorm, l.postNorm].every((t) => t.dtype === 'f32'));
      const dims = { ...this.layerDims, bias: c.attention_bias, qkNorm: c.qk_norm, rotaryDim: c.head_dim };
      fits = f32 && decodeLayerFits(this.gpu, dims, p.B, p.T, cache.maxPositions, { splitRows: this.splitsRowsOf(layers) });
      this.fusedFits.set(key, fits);
    }
    return fits;
  }

  /**
   * `layers` as one fused dispatch each (ops/decode-layer.ts) over p.x, using cache layers
   * firstCache..: the kernel reads one buffer and writes another, so the layers alternate between
   * p.x and p.aux (free once an MTP module's input is built), and an odd count ends with one copy back.
   */
  private fusedLayers(p: Plan, layers: readonly LayerWeights[], cache: KvCache, firstCache: number, slots: number[], starts: number[]): void {
    const splitRows = this.splitsRowsOf(layers);
    let [from, to] = [p.x, p.aux];
    layers.forEach((layer, i) => {
      decodeLayer(this.gpu, from, layer, this.layerDims, cache.k[firstCache + i], cache.v[firstCache + i], this.rope, slots, starts, p.T, { out: to, splitRows });
      [from, to] = [to, from];
    });
    if (from !== p.x) this.gpu.copy(from, p.x);
  }

  /**
   * decodeLayer's splitRows for `layers`: the trunk's leaves the choice to decodeLayer (splitsRows), an
   * MTP module's is MTP_SPLITS_ROWS. The fit check and the dispatch ask the same question here.
   */
  private splitsRowsOf(layers: readonly LayerWeights[]): boolean | undefined {
    return layers === this.w.layers ? undefined : MTP_SPLITS_ROWS;
  }

  /** MTP module k's transformer layer over x: one fused dispatch where it fits (its rows in one workgroup: MTP_SPLITS_ROWS), else the separate ops. */
  private mtpLayer(p: Plan, m: MtpWeights, cache: KvCache, k: number, slots: number[], starts: number[]): void {
    if (this.fusesLayers(p, cache, [m.block])) this.fusedLayers(p, [m.block], cache, k, slots, starts);
    else {
      this.attentionBlock(p, m.block, cache.k[k], cache.v[k]);
      this.mlpBlock(p, m.block);
    }
  }

  /** x = input_proj(cat(rmsnorm(hidden), rmsnorm(embed(tokens)))) as two matmuls into x. */
  private mtpInput(p: Plan, m: MtpWeights, hidden: Tensor, ids: Tensor): void {
    const { gpu } = this;
    const eps = this.config.rms_norm_eps;
    embedding(gpu, ids, this.w.embed, p.aux);
    rmsnorm(gpu, p.aux, m.tokenNorm, { eps }, p.aux);
    rmsnorm(gpu, hidden, m.hiddenNorm, { eps }, p.n);
    matmul(gpu, p.n, m.projHidden, { transB: true }, p.x);
    matmul(gpu, p.aux, m.projToken, { transB: true, accumulate: true }, p.x);
  }

  /** x += o_proj(attention(q, k, v)) over n = rmsnorm(x); k and v are appended to the cache first. */
  private attentionBlock(p: Plan, l: LayerWeights, kCache: Tensor, vCache: Tensor): void {
    const { gpu, config: c } = this;
    this.writePositions(p);
    const eps = c.rms_norm_eps;
    const D = c.head_dim;
    const Hq = c.num_attention_heads;
    const Hkv = c.num_key_value_heads;
    rmsnorm(gpu, p.x, l.inputNorm, { eps }, p.n);
    const cacheWrite = { positions: p.positions, tables: this.rope, kCache, vCache, slots: p.slots, starts: p.starts };
    const q = p.q.reshape([p.B, p.T, Hq, D]);
    const qkvWeights = p.qkv && !l.qBias && !l.kBias && !l.vBias && !l.qNorm ? concatenatedView([l.q, l.k, l.v]) : undefined;
    if (qkvWeights && p.qkv) {
      matmul(gpu, p.n, qkvWeights, { transB: true }, p.qkv);
      ropeKvWritePacked(gpu, p.qkv.reshape([p.B, p.T, Hq + 2 * Hkv, D]), Hq, q, cacheWrite);
    } else {
      this.projectQkv(p, l);
      ropeAndCache(gpu, q, p.k.reshape([p.B, p.T, Hkv, D]), p.v.reshape([p.B, p.T, Hkv, D]), cacheWrite);
    }
    attention(gpu, q, kCache, vCache, p.slots, p.starts, {}, p.attn.reshape([p.B, p.T, Hq, D]));
    matmul(gpu, p.attn, l.o, { transB: true, accumulate: true }, p.x);
  }

  /** q, k and v as separate projections (k and v as one when their weights stack), q and k normed where the model has q/k norms. */
  private projectQkv(p: Plan, l: LayerWeights): void {
    const { gpu } = this;
    matmul(gpu, p.n, l.q, { transB: true, bias: l.qBias }, p.q);
    const kvWeights = p.kv && !l.kBias && !l.vBias ? stackedView([l.k, l.v]) : undefined;
    if (kvWeights) matmul(gpu, p.n, kvWeights, { transB: true }, p.kv);
    else {
      matmul(gpu, p.n, l.k, { transB: true, bias: l.kBias }, p.k);
      matmul(gpu, p.n, l.v, { transB: true, bias: l.vBias }, p.v);
    }
    if (l.qNorm && l.kNorm) this.qkNorm(p, l.qNorm, l.kNorm);
  }

  /** Qwen3: RMSNorm over each head's D dims of q and k (before RoPE), in place. */
  private qkNorm(p: Plan, qNorm: Tensor, kNorm: Tensor): void {
    const D = this.config.head_dim;
    const eps = this.config.rms_norm_eps;
    const q = p.q.reshape([p.q.size / D, D]);
    const k = p.k.reshape([p.k.size / D, D]);
    rmsnorm(this.gpu, q, qNorm, { eps }, q);
    rmsnorm(this.gpu, k, kNorm, { eps }, k);
  }

  /** x += down_proj(silu(gate_proj(n)) * up_proj(n)) over n = rmsnorm(x). */
  private mlpBlock(p: Plan, l: LayerWeights): void {
    const gpu = this.gpu;
    rmsnorm(gpu, p.x, l.postNorm, { eps: this.config.rms_norm_eps }, p.n);
    const guWeights = p.gu ? stackedView([l.gate, l.up]) : undefined;
    if (guWeights) matmul(gpu, p.n, guWeights, { transB: true }, p.gu);
    else {
      matmul(gpu, p.n, l.gate, { transB: true }, p.gate);
      matmul(gpu, p.n, l.up, { transB: true }, p.up);
    }
    swiglu(gpu, p.gate, p.up, p.act);
    matmul(gpu, p.act, l.down, { transB: true, accumulate: true }, p.x);
  }

  /**
   * n = rmsnorm(x, norm) for every row (copied to hiddenOut when asked), then the logits: [B, T, V]
   * of every row, or [B, 1, V] of each sequence's last row (gathered from n by an embedding lookup).
   */
  private head(p: Plan, norm: Tensor, opts: ForwardOptions): Tensor {
    const { gpu } = this;
    rmsnorm(gpu, p.x, norm, { eps: this.config.rms_norm_eps }, p.n);
    if (opts.hiddenOut) gpu.copy(p.n, opts.hiddenOut, 0, 0, p.n.byteSize);
    const V = this.config.vocab_size;
    if (opts.lastOnly) {
      // with one row a sequence (a decode step) the last rows are all of n: no gather to dispatch
      if (p.T > 1) {
        this.writeLastRows(p, opts.lengths);
        embedding(gpu, p.lastRows, p.n, p.lastNorm);
      }
      const logits = gpu.empty([p.B, 1, V], 'f32', 'logits');
      this.lmHead(p.T > 1 ? p.lastNorm : p.n, logits);
      return logits;
    }
    const logits = gpu.empty([p.B, p.T, V], 'f32', 'logits');
    this.lmHead(p.n, logits);
    return logits;
  }

  /**
   * logits = h · lm_headᵀ, h [R, hidden]. One matmul when the head is one tensor and the logits fit
   * one storage binding; otherwise per vocab chunk (and per row block, so each partial output fits a
   * binding) into a scratch tensor whose rows are copied into the chunk's column slice of the logits.
   */
  private lmHead(h: Tensor, logits: Tensor): void {
    const gpu = this.gpu;
    const [R, H] = h.shape;
    const V = this.config.vocab_size;
    const out2d = logits.reshape([R, V]);
    const chunks = tableChunks(this.w.lmHead);
    const maxBinding = this.maxLogitsBinding;
    if (chunks.length === 1 && logits.byteSize <= maxBinding) {
      matmul(gpu, h, chunks[0], { transB: true }, out2d);
      return;
    }
    let col = 0;
    for (const c of chunks) {
      const Vc = c.shape[0];
      const blockRows = Math.max(1, Math.min(R, Math.floor(maxBinding / (Vc * 4))));
      const scratch = gpu.empty([blockRows, Vc], 'f32', 'lm_head.scratch');
      const hBlock = blockRows < R ? gpu.empty([blockRows, H], 'f32', 'lm_head.rows') : h;
      for (let r0 = 0; r0 < R; r0 += blockRows) {
        // a short last block runs the full block (its tail rows are stale) and copies only n rows
        const n = Math.min(blockRows, R - r0);
        if (hBlock !== h) gpu.copy(h, hBlock, r0 * H * 4, 0, n * H * 4);
        matmul(gpu, hBlock, c, { transB: true }, scratch);
        if (Vc === V) gpu.copy(scratch, logits, 0, r0 * V * 4, n * V * 4);
        else for (let r = 0; r < n; r++) gpu.copy(scratch, logits, r * Vc * 4, ((r0 + r) * V + col) * 4, Vc * 4);
      }
      if (hBlock !== h) hBlock.release();
      scratch.release();
      col += Vc;
    }
  }

  // ------------------------------------------------------------------ inputs and plans

  /** Validates a call, picks its plan and writes its inputs. */
  private begin(where: string, tokens: Tensor | number[][], cache: KvCache, layers: number, slots: number[], starts: number[], opts: ForwardOptions): Plan {
    if (this.disposed) throw new PonderError('BAD_INPUT', `${where} on a disposed model`);
    const T = this.checkInputs(where, tokens, cache, layers, slots, starts);
    const p = this.plan(slots.length, T);
    if (opts.hiddenOut) this.checkRows(`${where}: hiddenOut`, opts.hiddenOut, p.B * T);
    if (opts.lengths) checkLengths(where, opts.lengths, p.B, T, opts.lastOnly === true);
    if (cache.maxPositions > this.rope.cos.shape[0]) this.rope = this.buildRope(cache.maxPositions, this.rope);
    this.writeInputs(p, tokens, slots, starts);
    return p;
  }

  /** Points lastRows at each sequence's last real row (ForwardOptions.lengths), when that changed. */
  private writeLastRows(p: Plan, lengths: number[] | undefined): void {
    const same = lengths === undefined ? p.lastLengths === undefined : p.lastLengths !== undefined && lengths.every((n, b) => n === p.lastLengths![b]);
    if (same) return;
    const n = lengths ?? new Array<number>(p.B).fill(p.T);
    this.gpu.write(p.lastRows, Uint32Array.from(n, (len, b) => b * p.T + len - 1));
    p.lastLengths = lengths && [...lengths];
  }

  /** `t` must be f32 [rows, hidden]. */
  private checkRows(what: string, t: Tensor, rows: number): void {
    const H = this.config.hidden_size;
    if (t.dtype !== 'f32' || t.size !== rows * H) throw new PonderError('SHAPE', `${what}: ${t.dtype}${shapeString(t.shape)} must be f32 [${rows}, ${H}]`);
  }

  /** Validates the call; returns T. */
  /**
   * A pass of B sequences of T tokens must fit the kernels' grids (model/limits.ts onePassLimits):
   * otherwise one line in prompt terms, where a dispatch would fail in a kernel's words.
   */
  private checkOnePass(where: string, B: number, T: number): void {
    const gpu = this.gpu;
    if (!this.passLimits) {
      const tile = prefillTiles(this.config.head_dim, gpu.limits.maxComputeWorkgroupStorageSize);
      const maxComputeWorkgroupsPerDimension = this.maxWorkgroups ?? gpu.limits.maxComputeWorkgroupsPerDimension;
      this.passLimits = onePassLimits(this.config, { maxComputeWorkgroupsPerDimension }, pickMatmulConfig(gpu), tile.RG * tile.RM);
    }
    const { positions, rows } = this.passLimits;
    if (T > positions) {
      throw new PonderError('DEVICE_LIMIT', `${where}: ${T} tokens in one pass is more than this adapter's attention takes (at most ${positions} with ${this.config.num_attention_heads / this.config.num_key_value_heads} query heads per key-value head)`, 'use a shorter prompt');
    }
    if (B * T > rows) {
      throw new PonderError('DEVICE_LIMIT', `${where}: ${B} sequences x ${T} tokens in one pass is more than this adapter's matmuls take (at most ${rows} rows)`, 'use shorter prompts or fewer at once');
    }
  }

  private checkInputs(where: string, tokens: Tensor | number[][], cache: KvCache, layers: number, slots: number[], starts: number[]): number {
    const B = slots.length;
    if (B === 0) throw new PonderError('BAD_INPUT', `${where}: no sequences (slots is empty)`);
    if (starts.length !== B) throw new PonderError('BAD_INPUT', `${where}: ${B} slots but ${starts.length} starts`);
    let T: number;
    if (Array.isArray(tokens)) {
      if (tokens.length !== B) throw new PonderError('BAD_INPUT', `${where}: ${tokens.length} token rows for ${B} slots`);
      T = tokens[0].length;
      const V = this.config.vocab_size;
      for (const [b, row] of tokens.entries()) {
        if (row.length !== T) throw new PonderError('BAD_INPUT', `${where}: token rows differ in length (${T} and ${row.length} at row ${b})`);
        for (const id of row) {
          if (!Number.isInteger(id) || id < 0 || id >= V) throw new PonderError('BAD_INPUT', `${where}: token id ${id} in row ${b} is outside the vocabulary 0..${V - 1}`);
        }
      }
    } else {
      if (tokens.dtype !== 'u32' || tokens.size % B !== 0) {
        throw new PonderError('SHAPE', `${where}: tokens ${tokens.dtype}${shapeString(tokens.shape)} must be u32 with B*T elements for B=${B}`);
      }
      T = tokens.size / B;
    }
    if (T === 0) throw new PonderError('BAD_INPUT', `${where}: no tokens`);
    this.checkOnePass(where, B, T);
    if (cache.isDisposed) throw new PonderError('BAD_INPUT', `${where}: the KV cache was disposed`);
    if (cache.layers !== layers) throw new PonderError('BAD_INPUT', `${where}: the KV cache has ${cache.layers} layers, this needs ${layers}`);
    for (let b = 0; b < B; b++) {
      const s = slots[b];
      if (!Number.isInteger(s) || s < 0 || s >= cache.slots) throw new PonderError('BAD_INPUT', `${where}: slot ${s} (row ${b}) is outside the cache's 0..${cache.slots - 1}`);
      const st = starts[b];
      if (!Number.isInteger(st) || st < 0 || st + T > cache.maxPositions) {
        throw new PonderError('BAD_INPUT', `${where}: row ${b} writes positions ${st}..${st + T - 1}, past the cache's ${cache.maxPositions} positions`);
      }
    }
    return T;
  }

  private writeInputs(p: Plan, tokens: Tensor | number[][], slots: number[], starts: number[]): void {
    if (Array.isArray(tokens)) this.gpu.write(p.tokens, Uint32Array.from(tokens.flat()));
    p.unwritten = { slots: [...slots], starts: [...starts] };
  }

  /** Writes the pass's positions, slots and starts for the separate attention ops (Plan.unwritten). */
  private writePositions(p: Plan): void {
    if (!p.unwritten) return;
    const { B, T } = p;
    const { slots, starts } = p.unwritten;
    const positions = new Uint32Array(B * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) positions[b * T + t] = starts[b]! + t;
    this.gpu.write(p.positions, positions);
    this.gpu.write(p.slots, Uint32Array.from(slots));
    this.gpu.write(p.starts, Uint32Array.from(starts));
    p.unwritten = undefined;
  }

  private plan(B: number, T: number): Plan {
    const key = `${B}x${T}`;
    let p = this.plans.get(key);
    if (p) {
      this.plans.delete(key); // re-insert: most recently used last
      this.plans.set(key, p);
      return p;
    }
    const c = this.config;
    const rows = B * T;
    const e = (shape: number[], dtype: 'f32' | 'u32' = 'f32', label = 'act') => this.gpu.empty(shape, dtype, label);
    p = {
      B,
      T,
      tokens: e([rows], 'u32', 'tokens'),
      positions: e([rows], 'u32', 'positions'),
      slots: e([B], 'u32', 'slots'),
      starts: e([B], 'u32', 'starts'),
      lastRows: e([B], 'u32', 'lastRows'),
      x: e([rows, c.hidden_size], 'f32', 'x'),
      n: e([rows, c.hidden_size], 'f32', 'normed'),
      q: e([rows, c.num_attention_heads * c.head_dim], 'f32', 'q'),
      ...pairOf(this.gpu, rows, c.num_key_value_heads * c.head_dim, 'k', 'v', 'kv'),
      attn: e([rows, c.num_attention_heads * c.head_dim], 'f32', 'attn'),
      ...pairOf(this.gpu, rows, c.intermediate_size, 'gate', 'up', 'gu'),
      ...(packsQkv(c) ? { qkv: e([rows, (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim], 'f32', 'qkv') } : {}),
      act: e([rows, c.intermediate_size], 'f32', 'act'),
      aux: e([rows, c.hidden_size], 'f32', 'aux'),
      lastNorm: e([B, c.hidden_size], 'f32', 'lastNorm'),
    };
    this.gpu.write(p.lastRows, Uint32Array.from({ length: B }, (_, b) => b * T + T - 1));
    this.plans.set(key, p);
    while (this.plans.size > MAX_PLANS) {
      const [oldKey, old] = this.plans.entries().next().value as [string, Plan];
      this.plans.delete(oldKey);
      releasePlan(old);
    }
    return p;
  }

  private buildRope(maxPositions: number, old?: RopeTables): RopeTables {
    old?.cos.release();
    old?.sin.release();
    return ropeTables(this.gpu, { maxPositions, rotaryDim: this.config.head_dim, theta: this.config.rope_theta });
  }
}

/** Two activations [rows, n] named a and b, the halves of one buffer named `both` when they can be. */
function pairOf<A extends string, B extends string, C extends string>(gpu: Gpu, rows: number, n: number, a: A, b: B, both: C): Record<A | B, Tensor> & Partial<Record<C, Tensor>> {
  const { whole, parts } = gpu.emptyStacked(2, [rows, n], both);
  return { [a]: parts[0]!, [b]: parts[1]!, ...(whole ? { [both]: whole } : {}) } as Record<A | B, Tensor> & Partial<Record<C, Tensor>>;
}

/** Whether a model's attention blocks can take q, k and v from one packed projection (Plan.qkv). */
function packsQkv(c: ModelConfig): boolean {
  return !c.attention_bias && !c.qk_norm && ropeKvWriteFits(c.head_dim);
}

/** ForwardOptions.lengths: one per sequence, each 1..T, and only with lastOnly. */
function checkLengths(where: string, lengths: number[], B: number, T: number, lastOnly: boolean): void {
  if (!lastOnly) throw new PonderError('BAD_INPUT', `${where}: lengths needs lastOnly (it picks the rows whose logits are returned)`);
  if (lengths.length !== B) throw new PonderError('BAD_INPUT', `${where}: ${lengths.length} lengths for ${B} sequences`);
  for (const [b, n] of lengths.entries()) {
    if (!Number.isInteger(n) || n < 1 || n > T) throw new PonderError('BAD_INPUT', `${where}: length ${n} of sequence ${b} is outside 1..${T}`);
  }
}

function releasePlan(p: Plan): void {
  for (const v of Object.values(p)) if (v instanceof Tensor) v.release();
}
