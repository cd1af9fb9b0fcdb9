import type { ModelConfig } from '../model/config.js';
import { expectedWeights } from '../model/config.js';
import { denseAttentionFits, keepsDenseAttention } from '../ops/attention-dense.js';
import { decaysByName } from './optimizer.js';
import { arenaRuns, planArenas } from './param-arena.js';

/**
 * The theoretical GPU-memory floor of one training step: every buffer TrainableModel (trainable.ts)
 * and AdamW (optimizer.ts) keep alive while they train B rows of T tokens, counted at its exact byte
 * size (f32 and u32 are 4 bytes; a tensor is never smaller than 4 bytes, as in Gpu.empty). The pool's
 * measured peak can only be above it: the pool rounds each buffer up to its size class (pool.ts) and
 * ops add short-lived scratch (the attention backward's delta [B,T,Hq], RMSNorm's dweight partials,
 * the embedding backward's CSR index, the loss [1] and AdamW's [2] result).
 *
 * Counted, with R = B·T rows, H hidden, I intermediate, V vocab, D head_dim, Hq/Hkv heads, L layers:
 *
 *   weights      every tensor of expectedWeights(config) (a tied lm_head is the embedding, once),
 *                laid out in param arenas (param-arena.ts: one buffer per arena, each tensor padded
 *                to 64 floats)
 *   grads        the same arenas again for the grads
 *   adam         AdamW's m and v per run (arenaRuns: per arena, the decaying tensors and the others);
 *                its partials for the grad norm (Σ ⌈run/2048⌉ floats, at least 1), the applied-step
 *                counter u32[1] and the scalars f32[4]
 *   activations  TrainableModel's plan for (B, T):
 *                  per layer: x, n1, xm, n2 [R,H]; rstd1, rstd2 [R]; q, attn [R,Hq·D]; lse [B,T,Hq];
 *                             kCache, vCache [B,Hkv,T,D]; gate, up, act [R,I];
 *                             with qk-norm also qRaw [R,Hq·D], kRaw [R,Hkv·D], rstdQ [R·Hq], rstdK [R·Hkv]
 *                  once: tokens, targets, positions, segments (u32 [R]), slots, starts (u32 [B]), ones [1,R],
 *                        xFinal, nFinal [R,H], rstdFinal [R], logits [R,V] (the dlogits overwrite them),
 *                        lossRows [R], k, v [R,Hkv·D]; backward scratch dres, dtmp, dn [R,H],
 *                        dact, dgate, dup [R,I], dattn, dq [R,Hq·D], dk, dv [R,Hkv·D],
 *                        with qk-norm dqRaw [R,Hq·D], dkRaw [R,Hkv·D]; where the attention backward
 *                        takes its dense path (short rows), its scores and dP [B·Hq,T,T] and head-major
 *                        copies qH, doutH [R,Hq·D] and dkH, dvH [R,Hkv·D]
 *                  per MTP module (K = num_nextn_predict_layers): its block's per-layer buffers,
 *                        tokens, targets (u32 [R]), e, en, hn, xOut, hOut, dh, dhNext [R,H],
 *                        rstdE, rstdH, rstdOut, lossRows [R]; and once dFromMtp [R,H], lossMat [1+K, R]
 *   rope         the cos and sin tables [max(max_position_embeddings, T), D/2]
 *
 * Big vocabularies (`opts.maxBindingBytes`, the device's maxStorageBufferBindingSize, as
 * TrainableModel uses it): when the logits [R,V] are over one binding, the loss head runs over row
 * blocks of headRows = ⌊binding / 4V⌋ rows, so logits is [headRows,V] and the block copies h, dn
 * [headRows,H] and targets, loss, ignore [headRows] join; when a table is over one binding it is split
 * into row chunks (same bytes, more buffers) and the head needs a scratch [headRows, largest chunk].
 *
 * `buffers` lists every counted buffer (with a count for repeated ones), so a test can round each to
 * the pool's size class and hold the measured peak against the same list.
 */
export type FloorKind = 'weights' | 'grads' | 'adam' | 'activations' | 'rope';

export interface FloorBuffer {
  name: string;
  kind: FloorKind;
  /** bytes of one buffer */
  bytes: number;
  /** how many buffers of this size (layers, weights of one shape) */
  count: number;
}

export interface TrainingMemoryFloor {
  /** parameter count (elements of every weight) */
  params: number;
  /** bytes per kind */
  weights: number;
  grads: number;
  adam: number;
  activations: number;
  rope: number;
  /** the floor: the sum of the above */
  total: number;
  buffers: FloorBuffer[];
}

const F32 = 4;
/** AdamW's grad-norm partial sums: one per chunk of WG·ITEMS = 256·8 elements (optimizer.ts). */
const ADAM_NORM_CHUNK = 256 * 8;

export interface FloorOptions {
  /** the device's maxStorageBufferBindingSize (default: no limit) */
  maxBindingBytes?: number;
  /** as TrainableOptions.maxTableRows / maxLogitsBytes (tests force small chunks) */
  maxTableRows?: number;
  maxLogitsBytes?: number;
}

export function trainingMemoryFloor(config: ModelConfig, B: number, T: number, opts: FloorOptions = {}): TrainingMemoryFloor {
  const binding = opts.maxBindingBytes ?? Infinity;
  const tableRows = Math.min(opts.maxTableRows ?? Infinity, Math.max(1, Math.floor(binding / (config.hidden_size * F32))));
  const logitsBytes = Math.min(opts.maxLogitsBytes ?? binding, binding);
  const buffers: FloorBuffer[] = [];
  const add = (kind: FloorKind, name: string, elements: number, count = 1) => {
    if (count > 0) buffers.push({ name, kind, bytes: Math.max(4, elements * F32), count });
  };

  let params = 0;
  const specs: { label: string; size: number; decay: boolean }[] = [];
  for (const [name, shape] of expectedWeights(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    params += n;
    // a table over one binding is row chunks, each its own Param (trainable.ts)
    const isTable = name === 'model.embed_tokens.weight' || name === 'lm_head.weight';
    const rows = shape[0]!;
    // an MTP input_proj is two Params, its column halves
    const halves = name.endsWith('.input_proj.weight');
    const chunks = halves ? 2 : isTable && rows > tableRows ? Math.ceil(rows / tableRows) : 1;
    for (let c = 0; c < chunks; c++) {
      const m = halves ? n / 2 : chunks === 1 ? n : Math.min(tableRows, rows - c * tableRows) * shape[1]!;
      const label = halves ? `${name}#${c === 0 ? 'hidden' : 'token'}` : chunks === 1 ? name : `${name}#${c}`;
      specs.push({ label, size: m, decay: decaysByName(name) });
    }
  }
  const plan = planArenas(specs, binding);
  plan.sizes.forEach((n, a) => {
    add('weights', `params.${a}`, n);
    add('grads', `grads.${a}`, n);
  });
  let partials = 0;
  arenaRuns(specs, plan).forEach((n, r) => {
    partials += Math.ceil(n / ADAM_NORM_CHUNK);
    add('adam', `adamw.m, adamw.v (run ${r})`, n, 2);
  });
  add('adam', 'adamw.partials', Math.max(partials, 1));
  add('adam', 'adamw.step', 1);
  add('adam', 'adamw.scalars', 4);

  const R = B * T;
  const H = config.hidden_size;
  const I = config.intermediate_size;
  const V = config.vocab_size;
  const D = config.head_dim;
  const q = config.num_attention_heads * D;
  const kv = config.num_key_value_heads * D;
  const L = config.num_hidden_layers;
  const qk = config.qk_norm;
  const act = (name: string, elements: number, count = 1) => add('activations', name, elements, count);
  const K = config.num_nextn_predict_layers;
  // saved per layer (and per MTP module's block)
  const blocks = L + K;
  act('x, n1, xm, n2 (per layer)', R * H, 4 * blocks);
  act('rstd1, rstd2 (per layer)', R, 2 * blocks);
  act('q, attn (per layer)', R * q, 2 * blocks);
  act('lse (per layer)', R * config.num_attention_heads, blocks);
  act('kCache, vCache (per layer)', R * kv, 2 * blocks);
  act('gate, up, act (per layer)', R * I, 3 * blocks);
  if (qk) {
    act('qRaw (per layer)', R * q, blocks);
    act('kRaw (per layer)', R * kv, blocks);
    act('rstdQ (per layer)', R * config.num_attention_heads, blocks);
    act('rstdK (per layer)', R * config.num_key_value_heads, blocks);
  }
  if (K > 0) {
    act('mtp: tokens, targets (per module)', R, 2 * K);
    act('mtp: e, en, hn, xOut, hOut, dh, dhNext (per module)', R * H, 7 * K);
    act('mtp: rstdE, rstdH, rstdOut, lossRows (per module)', R, 4 * K);
    act('dFromMtp', R * H);
    act('lossMat', (1 + K) * R);
  }
  // once per plan
  act('tokens, targets, positions, segments', R, 4);
  act('slots, starts', B, 2);
  act('ones', R);
  act('xFinal, nFinal', R * H, 2);
  act('rstdFinal, lossRows', R, 2);
  const headRows = Math.max(1, Math.min(R, Math.floor(logitsBytes / (V * F32))));
  act('logits', headRows * V);
  if (headRows < R) {
    act('head.h, head.dn', headRows * H, 2);
    act('head.targets, head.loss, head.ignore', headRows, 3);
  }
  if (V > tableRows) act('head.scratch', headRows * Math.min(V, tableRows));
  act('k, v scratch', R * kv, 2);
  act('dres, dtmp, dn', R * H, 3);
  act('dact, dgate, dup', R * I, 3);
  act('dattn, dq', R * q, 2);
  act('dk, dv', R * kv, 2);
  if (qk) {
    act('dqRaw', R * q);
    act('dkRaw', R * kv);
  }
  // what the dense forward keeps for the backward (q head-major and P), per layer
  const kept = keepsDenseAttention(B, T, config.num_attention_heads, D, blocks, binding);
  if (kept) {
    act('attention (dense): kept qH (per layer)', R * q, blocks);
    act('attention (dense): kept P (per layer)', B * config.num_attention_heads * T * T, blocks);
  }
  // the dense attention backward's scratch (ops/attention-backward.ts), live during one layer's
  // backward: without kept buffers it forms the scores and qH itself (the forward's own scratch,
  // one scores buffer and qH, is smaller and released before)
  if (denseAttentionFits(B, T, config.num_attention_heads, binding)) {
    act(kept ? 'attention backward (dense): dP' : 'attention backward (dense): scores, dP', B * config.num_attention_heads * T * T, kept ? 1 : 2);
    act(kept ? 'attention backward (dense): doutH (dqH reuses it)' : 'attention backward (dense): qH, doutH (dqH reuses it)', R * q, kept ? 1 : 2);
    act('attention backward (dense): dkH, dvH', R * kv, 2);
  }
  add('rope', 'rope.cos, rope.sin', Math.max(config.max_position_embeddings, T) * (D / 2), 2);

  const sum = (kind: FloorKind) => buffers.filter((b) => b.kind === kind).reduce((s, b) => s + b.bytes * b.count, 0);
  const floor = { params, weights: sum('weights'), grads: sum('grads'), adam: sum('adam'), activations: sum('activations'), rope: sum('rope') };
  return { ...floor, total: floor.weights + floor.grads + floor.adam + floor.activations + floor.rope, buffers };
}

/** The floor as the buffer pool holds it: each buffer rounded up by `sizeClass` (pool.ts). */
export function pooledFloorBytes(floor: TrainingMemoryFloor, sizeClass: (bytes: number) => number): number {
  return floor.buffers.reduce((s, b) => s + sizeClass(b.bytes) * b.count, 0);
}
