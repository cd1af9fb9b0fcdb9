import { PonderError } from '../errors.js';

/**
 * A model's shape, in HF `config.json` names so import/export is a mapping, not a translation.
 * `parseModelConfig` validates a raw config.json object (HF or ponder) and fills HF's defaults.
 *
 * Families: Llama (LlamaForCausalLM), Qwen2 (Qwen2ForCausalLM: q/k/v bias), Qwen3 (Qwen3ForCausalLM:
 * per-head q/k RMSNorm, explicit head_dim), MiMo (MiMoForCausalLM: a Qwen2-style trunk).
 *
 * Any family may carry multi-token-prediction (MTP) modules, counted by `num_nextn_predict_layers`
 * (MiMo's and DeepSeek-V3's name), stored as `model.mtp_layers.<k>.*` in MiMo's layout: module k has
 * token_layernorm, hidden_layernorm, input_proj [hidden, 2·hidden] (applied to cat(hidden, embedding)),
 * one decoder block (input_layernorm, self_attn, post_attention_layernorm, mlp) and final_layernorm.
 */
export const SUPPORTED_ARCHITECTURES = {
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  MiMoForCausalLM: 'mimo',
} as const;
export type ModelFamily = (typeof SUPPORTED_ARCHITECTURES)[keyof typeof SUPPORTED_ARCHITECTURES];

export interface ModelConfig {
  /** HF class name, e.g. "Qwen2ForCausalLM". */
  architecture: keyof typeof SUPPORTED_ARCHITECTURES;
  family: ModelFamily;
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  intermediate_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
  /** q/k/v projections have biases (Qwen2, MiMo; Llama's `attention_bias`). */
  attention_bias: boolean;
  /** per-head RMSNorm on q and k before RoPE (Qwen3). */
  qk_norm: boolean;
  /** MTP modules after the trunk (0: none); see src/model/mtp.ts. */
  num_nextn_predict_layers: number;
  bos_token_id?: number;
  eos_token_id?: number | number[];
  /** ponder fields (kept in config.json beside the HF ones) */
  ponder?: { tokenizer?: 'bytes' | 'hf' };
}

type Raw = Record<string, unknown>;

/** The most MTP modules a config may declare (drafting deeper than this never pays). */
export const MAX_MTP_LAYERS = 8;

function int(raw: Raw, key: string, where: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new PonderError('BAD_INPUT', `${where}: "${key}" must be a positive integer, got ${JSON.stringify(raw[key])}`);
  }
  return v;
}

function num(raw: Raw, key: string, where: string, fallback: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new PonderError('BAD_INPUT', `${where}: "${key}" must be a positive number, got ${JSON.stringify(raw[key])}`);
  }
  return v;
}

/** Validates a parsed config.json; `where` (usually the file path) prefixes every error. */
export function parseModelConfig(raw: unknown, where = 'config.json'): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new PonderError('BAD_INPUT', `${where}: expected a JSON object`);
  const r = raw as Raw;
  const archs = r.architectures;
  const arch = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  const supported = Object.keys(SUPPORTED_ARCHITECTURES).join(', ');
  if (!arch) throw new PonderError('BAD_INPUT', `${where}: no "architectures" entry (supported: ${supported})`);
  if (!(arch in SUPPORTED_ARCHITECTURES)) {
    throw new PonderError('BAD_INPUT', `${where}: unsupported architecture "${arch}" (supported: ${supported})`);
  }
  const architecture = arch as keyof typeof SUPPORTED_ARCHITECTURES;
  const family = SUPPORTED_ARCHITECTURES[architecture];
  const hidden_size = int(r, 'hidden_size', where);
  const num_attention_heads = int(r, 'num_attention_heads', where);
  const num_key_value_heads = int(r, 'num_key_value_heads', where, num_attention_heads);
  if (num_attention_heads % num_key_value_heads !== 0) {
    throw new PonderError('BAD_INPUT', `${where}: num_attention_heads (${num_attention_heads}) is not a multiple of num_key_value_heads (${num_key_value_heads})`);
  }
  const explicitHeadDim = r.head_dim !== undefined && r.head_dim !== null;
  if (!explicitHeadDim && hidden_size % num_attention_heads !== 0) {
    throw new PonderError('BAD_INPUT', `${where}: hidden_size (${hidden_size}) is not divisible by num_attention_heads (${num_attention_heads}) and no head_dim is given`);
  }
  const head_dim = explicitHeadDim ? int(r, 'head_dim', where) : hidden_size / num_attention_heads;
  if (head_dim % 2 !== 0) throw new PonderError('BAD_INPUT', `${where}: head_dim ${head_dim} must be even for RoPE`);
  if (r.rope_scaling !== undefined && r.rope_scaling !== null) {
    throw new PonderError('BAD_INPUT', `${where}: rope_scaling is not supported yet (got ${JSON.stringify(r.rope_scaling)})`);
  }
  const mtp = r.num_nextn_predict_layers ?? 0;
  if (typeof mtp !== 'number' || !Number.isInteger(mtp) || mtp < 0 || mtp > MAX_MTP_LAYERS) {
    throw new PonderError('BAD_INPUT', `${where}: "num_nextn_predict_layers" must be an integer 0..${MAX_MTP_LAYERS}, got ${JSON.stringify(r.num_nextn_predict_layers)}`);
  }
  const attention_bias = typeof r.attention_bias === 'boolean' ? r.attention_bias : family === 'qwen2' || family === 'mimo';
  const eos = r.eos_token_id;
  return {
    architecture,
    family,
    vocab_size: int(r, 'vocab_size', where),
    hidden_size,
    num_hidden_layers: int(r, 'num_hidden_layers', where),
    num_attention_heads,
    num_key_value_heads,
    head_dim,
    intermediate_size: int(r, 'intermediate_size', where),
    max_position_embeddings: int(r, 'max_position_embeddings', where, 2048),
    rms_norm_eps: num(r, 'rms_norm_eps', where, 1e-6),
    rope_theta: num(r, 'rope_theta', where, 10000),
    tie_word_embeddings: typeof r.tie_word_embeddings === 'boolean' ? r.tie_word_embeddings : false,
    attention_bias,
    qk_norm: family === 'qwen3',
    num_nextn_predict_layers: mtp,
    bos_token_id: typeof r.bos_token_id === 'number' ? r.bos_token_id : undefined,
    eos_token_id: typeof eos === 'number' || (Array.isArray(eos) && eos.every((e) => typeof e === 'number')) ? (eos as number | number[]) : undefined,
    ponder: typeof r.ponder === 'object' && r.ponder !== null ? (r.ponder as ModelConfig['ponder']) : undefined,
  };
}

/** The config.json object written for a model (HF fields + ponder's own). */
export function configToJson(c: ModelConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: [c.architecture],
    model_type: c.family === 'mimo' ? 'mimo' : c.family,
    vocab_size: c.vocab_size,
    hidden_size: c.hidden_size,
    num_hidden_layers: c.num_hidden_layers,
    num_attention_heads: c.num_attention_heads,
    num_key_value_heads: c.num_key_value_heads,
    head_dim: c.head_dim,
    intermediate_size: c.intermediate_size,
    max_position_embeddings: c.max_position_embeddings,
    rms_norm_eps: c.rms_norm_eps,
    rope_theta: c.rope_theta,
    tie_word_embeddings: c.tie_word_embeddings,
    hidden_act: 'silu',
    torch_dtype: 'float32',
  };
  if (c.family === 'llama') out.attention_bias = c.attention_bias;
  if (c.num_nextn_predict_layers > 0) out.num_nextn_predict_layers = c.num_nextn_predict_layers;
  if (c.bos_token_id !== undefined) out.bos_token_id = c.bos_token_id;
  if (c.eos_token_id !== undefined) out.eos_token_id = c.eos_token_id;
  if (c.ponder) out.ponder = c.ponder;
  return out;
}

/** One weight on the CPU: row-major f32 data and its shape (HF layout: Linear weights are [out, in]). */
export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

/** All of a model's weights keyed by their HF names (model.layers.0.self_attn.q_proj.weight, ...). */
export type Weights = Map<string, WeightTensor>;

/**
 * The tensors a config requires, with their shapes, in HF names. Loaders check a weight set against
 * this before allocating anything on the GPU; a missing or mis-shaped tensor is one clear line.
 */
export function expectedWeights(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [c.vocab_size, c.hidden_size]);
  for (let i = 0; i < c.num_hidden_layers; i++) addBlockWeights(m, c, `model.layers.${i}`);
  m.set('model.norm.weight', [c.hidden_size]);
  if (!c.tie_word_embeddings) m.set('lm_head.weight', [c.vocab_size, c.hidden_size]);
  for (let k = 0; k < c.num_nextn_predict_layers; k++) {
    const p = mtpPrefix(k);
    m.set(`${p}.token_layernorm.weight`, [c.hidden_size]);
    m.set(`${p}.hidden_layernorm.weight`, [c.hidden_size]);
    m.set(`${p}.input_proj.weight`, [c.hidden_size, 2 * c.hidden_size]);
    addBlockWeights(m, c, p);
    m.set(`${p}.final_layernorm.weight`, [c.hidden_size]);
  }
  return m;
}

/** The name prefix of MTP module k. */
export function mtpPrefix(k: number): string {
  return `model.mtp_layers.${k}`;
}

/** True for the tensors of the MTP modules. */
export function isMtpWeight(name: string): boolean {
  return name.startsWith('model.mtp_layers.');
}

/** The config and weights without the MTP modules (what training and trunk-only tools use). */
export function withoutMtp(c: ModelConfig, w?: Weights): { config: ModelConfig; weights: Weights } {
  const weights: Weights = new Map();
  for (const [name, t] of w ?? []) if (!isMtpWeight(name)) weights.set(name, t);
  return { config: { ...c, num_nextn_predict_layers: 0 }, weights };
}

/** One decoder block's tensors under `p` (a trunk layer or an MTP module's block). */
function addBlockWeights(m: Map<string, number[]>, c: ModelConfig, p: string): void {
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  m.set(`${p}.input_layernorm.weight`, [c.hidden_size]);
  m.set(`${p}.self_attn.q_proj.weight`, [q, c.hidden_size]);
  m.set(`${p}.self_attn.k_proj.weight`, [kv, c.hidden_size]);
  m.set(`${p}.self_attn.v_proj.weight`, [kv, c.hidden_size]);
  if (c.attention_bias) {
    m.set(`${p}.self_attn.q_proj.bias`, [q]);
    m.set(`${p}.self_attn.k_proj.bias`, [kv]);
    m.set(`${p}.self_attn.v_proj.bias`, [kv]);
  }
  if (c.qk_norm) {
    m.set(`${p}.self_attn.q_norm.weight`, [c.head_dim]);
    m.set(`${p}.self_attn.k_norm.weight`, [c.head_dim]);
  }
  m.set(`${p}.self_attn.o_proj.weight`, [c.hidden_size, q]);
  m.set(`${p}.post_attention_layernorm.weight`, [c.hidden_size]);
  m.set(`${p}.mlp.gate_proj.weight`, [c.intermediate_size, c.hidden_size]);
  m.set(`${p}.mlp.up_proj.weight`, [c.intermediate_size, c.hidden_size]);
  m.set(`${p}.mlp.down_proj.weight`, [c.hidden_size, c.intermediate_size]);
}

/** Checks a weight set against the config: every expected tensor present with its shape, nothing else. */
export function checkWeights(c: ModelConfig, w: Weights, where: string): void {
  for (const [name, shape] of expectedWeights(c)) {
    const t = w.get(name);
    if (!t) throw new PonderError('BAD_INPUT', `${where}: missing tensor "${name}" (expected shape [${shape.join('x')}])`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new PonderError('BAD_INPUT', `${where}: tensor "${name}" has shape [${t.shape.join('x')}], but the config needs [${shape.join('x')}]`);
    }
    if (t.data.length !== shape.reduce((a, b) => a * b, 1)) throw new PonderError('BAD_INPUT', `${where}: tensor "${name}" has ${t.data.length} values for shape [${shape.join('x')}]`);
  }
}
