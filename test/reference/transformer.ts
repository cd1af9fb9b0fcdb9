/**
 * A float64 CPU forward of LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM (test-only),
 * written from the HF modeling code, not from the GPU implementation:
 *
 *   h = embed_tokens[ids]
 *   for each layer:
 *     r = h; h = rmsnorm(h) * input_layernorm
 *     q = h·Wqᵀ (+bq), k = h·Wkᵀ (+bk), v = h·Wvᵀ (+bv), split into heads of head_dim
 *     Qwen3: q = rmsnorm(q_head) * q_norm, k = rmsnorm(k_head) * k_norm   (per head, before RoPE)
 *     q, k = q·cos + rotate_half(q)·sin, ...   rotate_half(x) = cat(-x[D/2:], x[:D/2])
 *     o = softmax(q·kᵀ / sqrt(D) + causal mask) · v, query head h reading kv head h / (Hq/Hkv)
 *     h = r + o·Woᵀ
 *     r = h; h = rmsnorm(h) * post_attention_layernorm
 *     h = r + (silu(h·Wgᵀ) * (h·Wuᵀ))·Wdᵀ
 *   logits = (rmsnorm(h) * norm) · (lm_head or embed_tokens)ᵀ
 *
 * The RoPE angle is rounded to float32 as HF computes it (inv_freq and position · inv_freq in
 * float32); everything else is float64.
 */
import type { ModelConfig, Weights } from '../../src/model/config.js';
import { expectedWeights } from '../../src/model/config.js';
import { randomNormal, rng } from '../helpers/random.js';

type Vec = Float64Array;

/** y[T, out] = x[T, in] · W[out, in]ᵀ (+ b) */
function linear(x: Vec, T: number, W: ArrayLike<number>, out: number, inp: number, b?: ArrayLike<number>): Vec {
  const y = new Float64Array(T * out);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inp; i++) s += x[t * inp + i] * W[o * inp + i];
      y[t * out + o] = s;
    }
  }
  return y;
}

/** RMSNorm with weight over consecutive rows of width `dim`. */
function rmsNorm(x: Vec, dim: number, w: ArrayLike<number>, eps: number): Vec {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += x[r * dim + d] ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let d = 0; d < dim; d++) y[r * dim + d] = x[r * dim + d] * inv * w[d];
  }
  return y;
}

/** HF rotary embedding in place on x [T, heads, D] at positions pos0.. */
function applyRope(x: Vec, T: number, heads: number, D: number, theta: number, pos0: number): void {
  const f = Math.fround;
  const half = D / 2;
  const inv = Array.from({ length: half }, (_, i) => f(1 / f(f(theta) ** f(f(2 * i) / D))));
  const tmp = new Float64Array(D);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * D;
      for (let d = 0; d < D; d++) {
        const ang = f(f(pos0 + t) * inv[d % half]);
        const rot = d < half ? -x[base + d + half] : x[base + d - half];
        tmp[d] = x[base + d] * Math.cos(ang) + rot * Math.sin(ang);
      }
      x.set(tmp, base);
    }
  }
}

/** Causal GQA softmax attention: q [T, Hq, D], k/v [T, Hkv, D] -> [T, Hq, D]. */
function causalAttention(q: Vec, k: Vec, v: Vec, T: number, Hq: number, Hkv: number, D: number): Vec {
  const out = new Float64Array(T * Hq * D);
  const group = Hq / Hkv;
  const scale = 1 / Math.sqrt(D);
  const scores = new Float64Array(T);
  for (let h = 0; h < Hq; h++) {
    const kh = Math.floor(h / group);
    for (let i = 0; i < T; i++) {
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += q[(i * Hq + h) * D + d] * k[(j * Hkv + kh) * D + d];
        scores[j] = s * scale;
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += (scores[j] = Math.exp(scores[j] - max));
      for (let j = 0; j <= i; j++) {
        const p = scores[j] / sum;
        for (let d = 0; d < D; d++) out[(i * Hq + h) * D + d] += p * v[(j * Hkv + kh) * D + d];
      }
    }
  }
  return out;
}

/** In place: h [T, H] += one decoder block under `p` (a trunk layer or an MTP module's block). */
function decoderBlock(c: ModelConfig, get: (n: string) => Float32Array, h: Vec, T: number, p: string): void {
  const H = c.hidden_size;
  const D = c.head_dim;
  const Hq = c.num_attention_heads;
  const Hkv = c.num_key_value_heads;
  const I = c.intermediate_size;
  const eps = c.rms_norm_eps;
  const a = `${p}.self_attn`;
  const bias = (n: string) => (c.attention_bias ? get(`${a}.${n}.bias`) : undefined);
  let x = rmsNorm(h, H, get(`${p}.input_layernorm.weight`), eps);
  let q = linear(x, T, get(`${a}.q_proj.weight`), Hq * D, H, bias('q_proj'));
  let k = linear(x, T, get(`${a}.k_proj.weight`), Hkv * D, H, bias('k_proj'));
  const v = linear(x, T, get(`${a}.v_proj.weight`), Hkv * D, H, bias('v_proj'));
  if (c.qk_norm) {
    q = rmsNorm(q, D, get(`${a}.q_norm.weight`), eps);
    k = rmsNorm(k, D, get(`${a}.k_norm.weight`), eps);
  }
  applyRope(q, T, Hq, D, c.rope_theta, 0);
  applyRope(k, T, Hkv, D, c.rope_theta, 0);
  const o = linear(causalAttention(q, k, v, T, Hq, Hkv, D), T, get(`${a}.o_proj.weight`), H, Hq * D);
  for (let i = 0; i < h.length; i++) h[i] += o[i];

  x = rmsNorm(h, H, get(`${p}.post_attention_layernorm.weight`), eps);
  const g = linear(x, T, get(`${p}.mlp.gate_proj.weight`), I, H);
  const u = linear(x, T, get(`${p}.mlp.up_proj.weight`), I, H);
  for (let i = 0; i < g.length; i++) g[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
  const down = linear(g, T, get(`${p}.mlp.down_proj.weight`), H, I);
  for (let i = 0; i < h.length; i++) h[i] += down[i];
}

function getter(w: Weights): (n: string) => Float32Array {
  return (n) => {
    const t = w.get(n);
    if (!t) throw new Error(`reference: missing ${n}`);
    return t.data;
  };
}

/** The trunk's lm_head input rmsnorm(x, norm) [T, H] of one sequence, positions 0..T-1. */
export function trunkHiddenRef(c: ModelConfig, w: Weights, ids: readonly number[]): Float64Array {
  const get = getter(w);
  const T = ids.length;
  const H = c.hidden_size;
  const embed = get('model.embed_tokens.weight');
  const h: Vec = new Float64Array(T * H);
  ids.forEach((id, t) => {
    for (let d = 0; d < H; d++) h[t * H + d] = embed[id * H + d];
  });
  for (let l = 0; l < c.num_hidden_layers; l++) decoderBlock(c, get, h, T, `model.layers.${l}`);
  return rmsNorm(h, H, get('model.norm.weight'), c.rms_norm_eps);
}

/** Logits [T, V] of one sequence, positions 0..T-1. */
export function transformerRef(c: ModelConfig, w: Weights, ids: readonly number[]): Float64Array {
  const head = c.tie_word_embeddings ? getter(w)('model.embed_tokens.weight') : getter(w)('lm_head.weight');
  return linear(trunkHiddenRef(c, w, ids), ids.length, head, c.vocab_size, c.hidden_size);
}

/**
 * The MTP modules over one sequence (MiMo's MTP layer, chained as in DeepSeek-V3): module k runs on
 * rows t = 0 .. T-k-2 (positions t), combining h_k[t] (the trunk's lm_head input for k = 0, module
 * k-1's final_layernorm output otherwise) with embed(ids[t+k+1]):
 *   x = input_proj · cat(rmsnorm(h_k[t]) * hidden_layernorm, rmsnorm(embed) * token_layernorm)
 *   x = decoder block (causal over the module's own rows);  h_{k+1}[t] = rmsnorm(x) * final_layernorm
 *   logits_k[t] = h_{k+1}[t] · lm_headᵀ   (predicts ids[t+k+2])
 * Returns, per module, its logits [rows_k, V] and its output hidden [rows_k, H].
 */
export function mtpRef(c: ModelConfig, w: Weights, ids: readonly number[]): { logits: Float64Array; hidden: Float64Array; rows: number }[] {
  const get = getter(w);
  const H = c.hidden_size;
  const eps = c.rms_norm_eps;
  const embed = get('model.embed_tokens.weight');
  const head = c.tie_word_embeddings ? embed : get('lm_head.weight');
  let prev = trunkHiddenRef(c, w, ids);
  const out = [];
  for (let k = 0; k < c.num_nextn_predict_layers; k++) {
    const p = `model.mtp_layers.${k}`;
    const T = ids.length - k - 1;
    const e: Vec = new Float64Array(T * H);
    for (let t = 0; t < T; t++) for (let d = 0; d < H; d++) e[t * H + d] = embed[ids[t + k + 1] * H + d];
    const hn = rmsNorm(prev.subarray(0, T * H), H, get(`${p}.hidden_layernorm.weight`), eps);
    const en = rmsNorm(e, H, get(`${p}.token_layernorm.weight`), eps);
    const cat: Vec = new Float64Array(T * 2 * H);
    for (let t = 0; t < T; t++) {
      cat.set(hn.subarray(t * H, (t + 1) * H), t * 2 * H);
      cat.set(en.subarray(t * H, (t + 1) * H), t * 2 * H + H);
    }
    const x = linear(cat, T, get(`${p}.input_proj.weight`), H, 2 * H);
    decoderBlock(c, get, x, T, p);
    const hidden = rmsNorm(x, H, get(`${p}.final_layernorm.weight`), eps);
    out.push({ logits: linear(hidden, T, head, c.vocab_size, H), hidden, rows: T });
    prev = hidden;
  }
  return out;
}

/** Same as transformerRef: logits [T, V] (flat, row-major) of one sequence from position 0. */
export const referenceLogits = transformerRef;

// ------------------------------------------------------------------ tiny models for tests

const ARCH = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' } as const;

/** A small config of a family (hidden 32, 2 layers, 4 heads / 2 KV heads, vocab 67). */
export function tinyModelConfig(family: 'llama' | 'qwen2' | 'qwen3', overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    architecture: ARCH[family],
    family,
    vocab_size: 67,
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: family === 'qwen3' ? 12 : 8,
    intermediate_size: 48,
    max_position_embeddings: 64,
    rms_norm_eps: 1e-6,
    rope_theta: family === 'llama' ? 10000 : 1e6,
    tie_word_embeddings: family !== 'llama',
    attention_bias: family === 'qwen2',
    qk_norm: family === 'qwen3',
    num_nextn_predict_layers: 0,
    ...overrides,
  };
}

/**
 * Random weights with O(1) activations: Linear weights ~ N(0, 1/fan_in), biases and embeddings
 * ~ N(0, 0.5 / 1), norm weights 1 + N(0, 0.1).
 */
export function tinyModelWeights(c: ModelConfig, seed: number): Weights {
  const rand = rng(seed);
  const w: Weights = new Map();
  for (const [name, shape] of expectedWeights(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.endsWith('norm.weight')) data = randomNormal(n, rand, 0.1).map((x) => 1 + x);
    else if (name.endsWith('.bias')) data = randomNormal(n, rand, 0.5);
    else if (name === 'model.embed_tokens.weight') data = randomNormal(n, rand, 1);
    else data = randomNormal(n, rand, 1 / Math.sqrt(shape[1]));
    w.set(name, { shape, data });
  }
  return w;
}
