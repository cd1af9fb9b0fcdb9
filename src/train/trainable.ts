import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { stackedView, Tensor } from '../gpu/tensor.js';
import { addInPlace } from '../ops/add.js';
import { attention } from '../ops/attention.js';
import { attentionBackward } from '../ops/attention-backward.js';
import { keepsDenseAttention, type DenseAttentionKept } from '../ops/attention-dense.js';
import { crossEntropy, IGNORE_INDEX } from '../ops/cross-entropy.js';
import { embedding, embeddingBackward } from '../ops/embedding.js';
import { matmul } from '../ops/matmul.js';
import { rmsnorm, rmsnormBackward } from '../ops/rmsnorm.js';
import { ropeBackward, ropeTables, type RopeTables } from '../ops/rope.js';
import { ropeAndCache } from '../ops/rope-kv-write.js';
import { swiglu, swigluBackward } from '../ops/swiglu.js';
import { tokenLogprobs } from '../ops/token-logprobs.js';
import { weightedCrossEntropy } from '../ops/weighted-cross-entropy.js';
import { checkWeights, expectedWeights, mtpPrefix, type ModelConfig, type Weights } from '../model/config.js';
import { splitColumns, type GpuWeights, type LayerWeights } from '../model/gpu-weights.js';
import { decaysByName, type Param } from './optimizer.js';
import { ParamArenas, type ParamSpec } from './param-arena.js';

/**
 * The transformer of src/model/transformer.ts for training: f32 master weights with a gradient
 * buffer each, a forward that keeps what the backward needs, the fused cross-entropy (loss and
 * dlogits in one kernel), and the backward through the network, block by block in reverse order,
 * built from the ops' backward functions (llm.c style: no autograd, one hand-written function per
 * block that reads like the forward's).
 *
 *   forward   x₀ = embed[ids]
 *             per layer l:  xm_l = x_l + o_proj(attn(rope(qkn(q_proj(n1))), rope(qkn(k_proj(n1))), v_proj(n1)))
 *                                    n1 = rmsnorm(x_l)
 *                           x_{l+1} = xm_l + down(silu(gate(n2)) · up(n2)),  n2 = rmsnorm(xm_l)
 *             logits = lm_head(rmsnorm(x_L));  loss_r, dlogits_r = crossEntropy(logits_r, target_r)
 *   backward  dlogits → lm_head grad and d x_L → per layer in reverse: mlpBackward, attentionBackward
 *             (each adds its branch's input gradient into the residual gradient dres) → embedding grad.
 *
 * Saved per layer (B·T = R rows): x_l, n1, rstd1, q (after RoPE), the layer's K/V cache [B,Hkv,T,D],
 * the attention output and its logsumexp, xm_l, n2, rstd2, gate, up, act; with qk-norm also the
 * q/k projections before the norm and their per-head rstd. So activation memory is roughly
 * R·(4H + 3·Hq·D + 2·Hkv·D + 3I) floats a layer, plus R·V for the logits (the dlogits overwrite
 * them in place). Attention runs in the KV-cache layout of inference with slots = batch rows and
 * starts = 0, which is the layout attentionBackward supports.
 *
 * Gradients ACCUMULATE (+=) into the grad buffers, so several step() calls before an optimizer
 * step are gradient accumulation; zeroGrads() clears them. With tied embeddings the lm_head
 * gradient adds into the embedding's grad (one Param). Everything is deterministic: no op uses
 * float atomics, so the same inputs give bit-identical losses and gradients.
 *
 * Every Param's value and grad is a view of a param arena (param-arena.ts): AdamW then updates whole
 * runs of params per dispatch, and k/v and gate/up, back to back there, run as one matmul each
 * (forward, and their weight grads in the backward) when the step's activations can be stacked too
 * (../../docs/architecture.md "Fused projections").
 *
 * Big vocabularies. One storage binding is limited (128 MiB on lavapipe), and a 0.5B model's
 * 151936 x 896 table (519 MiB) or its logits (R x 151936 x 4 bytes: 1.2 GiB for R = 2048) are over it.
 * So, only when they have to be:
 *   - the embedding / lm_head tables are row chunks, one Param each (`<name>#<i>`; toWeights joins
 *     them back under the HF name), like inference's tables (ops/embedding.ts);
 *   - the loss head runs over row blocks of `headRows` rows whose logits [headRows, V] fit one
 *     binding: per block, the vocab chunks' logits are computed into a scratch [headRows, V_c] and
 *     copied row by row into the block's column slice; the fused cross-entropy writes the block's
 *     dlogits in place; then per vocab chunk the dlogits' column slice is copied back out and gives
 *     that chunk's weight gradient (dlogitsᵀ · h) and its share of dh (dlogits · W_c, accumulated).
 *     The trunk's backward then runs from dh as usual. `forward()` (full logits for other losses) is
 *     refused when the logits cannot be one buffer.
 *   The blocked head computes exactly the same sums in another order, so it matches the one-shot head
 *   to f32 rounding (tested with forced small chunks).
 *
 * MTP modules (config num_nextn_predict_layers; the forward of src/model/transformer.ts). With
 * `mtpWeight` λ > 0, step() also trains them: module k runs over the same B·T rows, row t combining
 * h_k[t] (nFinal for k = 0, module k-1's output otherwise) with embed(inputs[t+k+1]) and predicting
 * targets[t+k+1] (rows past the end: token 0 and no target). Its loss is the same fused
 * cross-entropy through the shared lm_head, with gradients scaled by gradScale · λ / K, so the
 * objective is L_main + λ/K · Σ_k L_k (DeepSeek-V3's MTP loss; the caller's gradScale normalises by
 * the main loss's target count). Backward runs module K-1 down to 0, each adding the gradient of its
 * hidden input into the module before it (or, for module 0, into d nFinal), before the trunk's.
 * With `freezeTrunk`, only the modules' own weights get gradients: the main loss is computed for the
 * report but not differentiated, and the shared embedding and lm_head stay untouched (MTP trained
 * alone on a frozen trunk). A module's input_proj [H, 2H] is two Params, `<name>#hidden` and
 * `<name>#token` (its column halves, as the inference model splits it); toWeights joins them.
 * step()'s loss tensor holds 1 + K sums: the main loss, then each module's.
 *
 * Packed rows (StepOptions.segments/positions, data/packing.ts): several examples share a row. Each
 * token carries its example's segment id and its position within the example; RoPE takes the
 * positions (restarting at 0 per example) and attention the segments (a token attends only to earlier
 * tokens of its own example), so every example computes exactly what it would alone in a padded row.
 * MTP module k's row t reads token and target t+k+1 only within t's segment; a row whose t+k+1 is in
 * the next example gets token 0 and no target, as a padded row's tail does.
 *
 * Objectives other than cross-entropy (GRPO, DPO: train/objectives/) are per-token weights:
 * forwardLogprobs() runs the forward and the token log-prob/entropy kernel over its logits (left
 * intact), the caller computes w = −∂L/∂logp on the CPU, and backwardWeighted(w) writes
 * dlogits = w/T · (softmax(logits/T) − onehot) in place and runs backward(). One-piece head only.
 */

export interface TrainableOptions {
  /** most rows per chunk of the embedding / lm_head tables; default: what one storage binding holds */
  maxTableRows?: number;
  /** most bytes of logits computed at once; default: one storage binding */
  maxLogitsBytes?: number;
}

export interface LogprobOptions {
  /** T > 0: log-probs, entropies and their gradients are of softmax(logits / T). Default 1. */
  temperature?: number;
}

export interface StepOptions {
  /** Multiplies every gradient (dlogits), e.g. 1 / (valid targets of the whole accumulated batch). */
  gradScale: number;
  /** λ: weight of the MTP modules' mean loss (0 or absent: the modules are not run) */
  mtpWeight?: number;
  /** only the MTP modules learn (needs mtpWeight > 0) */
  freezeTrunk?: boolean;
  /**
   * Packed rows ([B·T] each, with `positions`): the segment (example) id of every token, contiguous
   * runs within a row. Absent: one sequence per row (segment 0, positions 0..T-1).
   */
  segments?: number[];
  /** [B·T] each token's position within its segment: 0 at its first token, then counting up */
  positions?: number[];
}

/** Per-token layout of a step's rows: packed (segments and positions) or one sequence per row. */
interface RowLayout {
  segments: number[];
  positions: number[];
}

interface LayerParams {
  inputNorm: Param;
  q: Param;
  k: Param;
  v: Param;
  qBias?: Param;
  kBias?: Param;
  vBias?: Param;
  qNorm?: Param;
  kNorm?: Param;
  o: Param;
  postNorm: Param;
  gate: Param;
  up: Param;
  down: Param;
}

interface MtpParams {
  tokenNorm: Param;
  hiddenNorm: Param;
  projHidden: Param;
  projToken: Param;
  block: LayerParams;
  finalNorm: Param;
}

/** Saved activations and buffers of one MTP module over the plan's rows. */
interface MtpActs {
  tokens: Tensor; // u32 [R]: inputs shifted by k+1
  targets: Tensor; // u32 [R]: targets shifted by k+1
  e: Tensor; // [R, H] token embeddings
  en: Tensor; // [R, H]
  rstdE: Tensor; // [R]
  hn: Tensor; // [R, H] normed hidden input
  rstdH: Tensor; // [R]
  block: LayerActs; // block.x = input_proj output
  xOut: Tensor; // [R, H] after the block
  hOut: Tensor; // [R, H] final_layernorm output: the lm_head input and the next module's hidden
  rstdOut: Tensor; // [R]
  lossRows: Tensor; // [R]
  dh: Tensor; // [R, H] gradient at hOut
  dhNext: Tensor; // [R, H] gradient at hOut from the next module's input
}

/** Saved activations of one layer (see the header comment). */
interface LayerActs {
  x: Tensor; // [R, H] the layer's input (residual stream)
  n1: Tensor; // [R, H]
  rstd1: Tensor; // [R]
  qRaw?: Tensor; // [R, Hq·D] q projection before the qk-norm
  kRaw?: Tensor; // [R, Hkv·D]
  rstdQ?: Tensor; // [R·Hq]
  rstdK?: Tensor; // [R·Hkv]
  q: Tensor; // [R, Hq·D] after (norm and) RoPE: attention's input
  kCache: Tensor; // [B, Hkv, T, D]
  vCache: Tensor; // [B, Hkv, T, D]
  attn: Tensor; // [R, Hq·D]
  lse: Tensor; // [B, T, Hq]
  /** the dense forward's q head-major [B·Hkv, G·T, D] and P [B·Hkv, G·T, T], kept for the backward (keepsDenseAttention) */
  keptQH?: Tensor;
  keptP?: Tensor;
  xm: Tensor; // [R, H] after the attention block
  n2: Tensor; // [R, H]
  rstd2: Tensor; // [R]
  gate: Tensor; // [R, I]
  up: Tensor; // [R, I]
  /** [2, R, I] whose halves gate and up are, when they can be one buffer (Gpu.emptyStacked) */
  gu?: Tensor;
  act: Tensor; // [R, I]
}

/** Buffers of one (B, T): inputs, saved activations and backward scratch. */
interface Plan {
  B: number;
  T: number;
  tokens: Tensor; // u32 [R]
  targets: Tensor; // u32 [R]
  positions: Tensor; // u32 [R]: t, or the position within its segment when packed
  segments: Tensor; // u32 [B, T]: segment id per token (packed rows only)
  /** whether positions/segments hold a packed layout (else positions are t and segments unused) */
  packed: boolean;
  slots: Tensor; // u32 [B]: b
  starts: Tensor; // u32 [B]: 0
  ones: Tensor; // [1, R] row of ones: column sums (bias grads, loss sum) as a matmul
  layers: LayerActs[];
  xFinal: Tensor; // [R, H]
  nFinal: Tensor; // [R, H]
  rstdFinal: Tensor; // [R]
  logits: Tensor; // [R, V] (or [headRows, V] with a blocked head), then dlogits in place
  lossRows: Tensor; // [R]
  /** MTP modules (empty without them) */
  mtp: MtpActs[];
  /** with MTP modules, [1 + K, R]: the loss rows of the main head and of each module, summed by one matmul */
  lossMat?: Tensor;
  /** [R, H] gradient of nFinal from module 0's hidden input */
  dFromMtp?: Tensor;
  /** the loss head's row block (R when the head runs in one piece) */
  headRows: number;
  /** blocked head only: block-sized copies of nFinal / targets / loss / dn, and IGNORE_INDEX fill */
  head?: { h: Tensor; targets: Tensor; loss: Tensor; dn: Tensor; ignore: Tensor };
  /** chunked head only: one vocab chunk's logits for a row block [headRows, max V_c] */
  headScratch?: Tensor;
  k: Tensor; // [R, Hkv·D] scratch: k after RoPE (copied into the cache)
  v: Tensor; // [R, Hkv·D] scratch
  kv?: Tensor; // [2, R, Hkv·D] whose halves k and v are, when they can be one buffer
  // backward scratch
  dres: Tensor; // [R, H] gradient of the residual stream
  dtmp: Tensor; // [R, H]
  dn: Tensor; // [R, H]
  dact: Tensor; // [R, I]
  dgate: Tensor; // [R, I]
  dup: Tensor; // [R, I]
  dgu?: Tensor; // [2, R, I] whose halves dgate and dup are, when they can be one buffer
  dattn: Tensor; // [R, Hq·D]
  dq: Tensor; // [R, Hq·D]
  dk: Tensor; // [R, Hkv·D]
  dv: Tensor; // [R, Hkv·D]
  dkv?: Tensor; // [2, R, Hkv·D] whose halves dk and dv are, when they can be one buffer
  dqRaw?: Tensor; // [R, Hq·D]
  dkRaw?: Tensor; // [R, Hkv·D]
}

/** What a loss head's backward produces: lm_head grads and dh, dh only (frozen head), or nothing. */
type HeadGrads = 'full' | 'dh' | 'none';

/** Plans kept at once (e.g. a training shape and an eval shape); older ones are released. */
const MAX_PLANS = 2;

export class TrainableModel {
  private readonly byName = new Map<string, Param>();
  /** the shared buffers every Param value and grad is a view of (param-arena.ts) */
  private readonly arenas: ParamArenas;
  private readonly layers: LayerParams[] = [];
  private readonly mtp: MtpParams[] = [];
  /** tables whose Params are column halves (MTP input_proj), joined by columns in toWeights */
  private readonly columnSplit = new Set<string>();
  /** the embedding table: one Param, or its row chunks in order */
  private readonly embed: Param[];
  private readonly norm: Param;
  /** the lm_head table (the embed Params themselves when tied) */
  private readonly lmHead: Param[];
  private readonly maxLogitsBytes: number;
  /** Params per HF name: one, or a chunked table's chunks in row order */
  private readonly tables = new Map<string, Param[]>();
  private plans = new Map<string, Plan>();
  /** The last step's MTP token ids per module (inputs shifted by k+1), for the embedding backward. */
  private mtpTokens: number[][] = [];
  /** The last forward's plan and token ids (what backward differentiates). */
  private last?: { plan: Plan; inputs: number[] };
  private rope: RopeTables;
  private disposed = false;
  /**
   * The forward forwardLogprobs ran (the `last` object it produced, so any later forward/step makes
   * it stale) and its temperature; cleared once backwardWeighted has turned its logits into dlogits.
   */
  private logprobsOf?: { last: { plan: Plan; inputs: number[] }; temperature: number };

  private constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    weights: Weights,
    opts: TrainableOptions,
  ) {
    const binding = gpu.limits.maxStorageBufferBindingSize;
    this.maxLogitsBytes = Math.min(opts.maxLogitsBytes ?? binding, binding);
    const tableNames = new Set(['model.embed_tokens.weight', 'lm_head.weight']);
    // every param's name, shape and initial values first; then one ParamArenas places them all
    const specs: ParamSpec[] = [];
    const tableParts = new Map<string, string[]>();
    for (const [name, shape] of expectedWeights(config)) {
      const w = weights.get(name)!;
      const [rows, cols] = shape;
      if (name.endsWith('.input_proj.weight')) {
        const parts = splitColumns(w.data, cols! / 2).map((data, i) => {
          const pname = `${name}#${i === 0 ? 'hidden' : 'token'}`;
          specs.push({ name: pname, shape: [rows!, cols! / 2], data, decay: decaysByName(name) });
          return pname;
        });
        tableParts.set(name, parts);
        this.columnSplit.add(name);
        continue;
      }
      const maxRows = tableNames.has(name) ? Math.min(opts.maxTableRows ?? Infinity, Math.max(1, Math.floor(binding / (cols! * 4)))) : Infinity;
      if (rows! <= maxRows) {
        if (w.data.byteLength > binding) {
          throw new PonderError('DEVICE_LIMIT', `TrainableModel: tensor "${name}" [${shape.join('x')}] is over this device's maxStorageBufferBindingSize of ${binding} bytes`);
        }
        specs.push({ name, shape: [...shape], data: w.data, decay: decaysByName(name) });
        tableParts.set(name, [name]);
        continue;
      }
      const parts: string[] = [];
      for (let r = 0; r < rows!; r += maxRows) {
        const n = Math.min(maxRows, rows! - r);
        const cname = `${name}#${parts.length}`;
        specs.push({ name: cname, shape: [n, cols!], data: w.data.subarray(r * cols!, (r + n) * cols!), decay: decaysByName(name) });
        parts.push(cname);
      }
      tableParts.set(name, parts);
    }
    this.arenas = ParamArenas.create(gpu, specs);
    for (const prm of this.arenas.params) this.byName.set(prm.name, prm);
    for (const [name, parts] of tableParts) this.tables.set(name, parts.map((n) => this.byName.get(n)!));
    const P = (n: string) => this.byName.get(n)!;
    const opt = (n: string, on: boolean) => (on ? P(n) : undefined);
    this.embed = this.tables.get('model.embed_tokens.weight')!;
    const block = (p: string): LayerParams => {
      const a = `${p}.self_attn`;
      return {
        inputNorm: P(`${p}.input_layernorm.weight`),
        q: P(`${a}.q_proj.weight`),
        k: P(`${a}.k_proj.weight`),
        v: P(`${a}.v_proj.weight`),
        qBias: opt(`${a}.q_proj.bias`, config.attention_bias),
        kBias: opt(`${a}.k_proj.bias`, config.attention_bias),
        vBias: opt(`${a}.v_proj.bias`, config.attention_bias),
        qNorm: opt(`${a}.q_norm.weight`, config.qk_norm),
        kNorm: opt(`${a}.k_norm.weight`, config.qk_norm),
        o: P(`${a}.o_proj.weight`),
        postNorm: P(`${p}.post_attention_layernorm.weight`),
        gate: P(`${p}.mlp.gate_proj.weight`),
        up: P(`${p}.mlp.up_proj.weight`),
        down: P(`${p}.mlp.down_proj.weight`),
      };
    };
    for (let i = 0; i < config.num_hidden_layers; i++) this.layers.push(block(`model.layers.${i}`));
    for (let k = 0; k < config.num_nextn_predict_layers; k++) {
      const p = mtpPrefix(k);
      const [projHidden, projToken] = this.tables.get(`${p}.input_proj.weight`)!;
      this.mtp.push({
        tokenNorm: P(`${p}.token_layernorm.weight`),
        hiddenNorm: P(`${p}.hidden_layernorm.weight`),
        projHidden: projHidden!,
        projToken: projToken!,
        block: block(p),
        finalNorm: P(`${p}.final_layernorm.weight`),
      });
    }
    this.norm = P('model.norm.weight');
    this.lmHead = config.tie_word_embeddings ? this.embed : this.tables.get('lm_head.weight')!;
    this.rope = this.buildRope(config.max_position_embeddings);
  }

  /** Checks the weights against the config, uploads them as f32 master weights, zeroed grads. */
  static create(gpu: Gpu, config: ModelConfig, weights: Weights, opts: TrainableOptions = {}): TrainableModel {
    checkWeights(config, weights, 'TrainableModel');
    return new TrainableModel(gpu, config, weights, opts);
  }

  /**
   * Every parameter once, in expectedWeights order (HF names; a chunked table as `<name>#<i>` in row
   * order); a tied lm_head is the embedding.
   */
  params(): Param[] {
    return [...this.byName.values()];
  }

  /** Sets every grad to 0 (recorded on the queue, no sync). */
  zeroGrads(): void {
    this.live();
    this.arenas.zeroGrads();
  }

  /**
   * Forward + loss + backward over B rows of T tokens (inputs/targets row-major [B·T]; a target
   * IGNORE_INDEX contributes neither loss nor gradient). Gradients of gradScale · Σ loss are ADDED to
   * the grad buffers. Returns a fresh f32 [1] tensor holding the unscaled sum of the per-token
   * losses (the caller knows the number of valid targets, divides, and releases the tensor).
   * Records work only; nothing is read back.
   */
  step(inputs: number[], targets: number[], B: number, T: number, opts: StepOptions): Tensor {
    this.live();
    this.checkInputs(inputs, B, T);
    this.checkTargets(targets, B, T, opts);
    const lambda = opts.mtpWeight ?? 0;
    const K = lambda > 0 ? this.mtp.length : 0;
    if (opts.freezeTrunk && K === 0) throw new PonderError('BAD_INPUT', 'TrainableModel.step: freezeTrunk trains the MTP modules only; it needs MTP layers and mtpWeight > 0');
    const frozen = opts.freezeTrunk === true;
    const layout = this.checkLayout(opts, B, T);
    const p = this.forwardTrunk(inputs, B, T, layout);
    const gpu = this.gpu;
    gpu.write(p.targets, Uint32Array.from(targets));
    const R = B * T;
    if (K > 0) {
      // modules forward, then their losses and backward from the last module down
      for (let k = 0; k < K; k++) this.writeShifted(p.mtp[k]!, inputs, targets, B, T, k + 1, layout?.segments);
      for (let k = 0; k < K; k++) this.mtpForward(p, k);
      for (let k = K - 1; k >= 0; k--) this.mtpBackward(p, k, K, (opts.gradScale * lambda) / K, frozen);
    }
    this.lossHead(p, p.nFinal, p.targets, p.lossRows, p.dn, opts.gradScale, frozen ? 'none' : 'full');
    // the loss sums: [main] from lossRows itself, or [main, modules...] gathered into lossMat
    let rowsMat = p.lossRows.reshape([1, R]);
    if (K > 0) {
      gpu.copy(p.lossRows, p.lossMat!, 0, 0, R * 4);
      for (let k = 0; k < K; k++) gpu.copy(p.mtp[k]!.lossRows, p.lossMat!, 0, (k + 1) * R * 4, R * 4);
      rowsMat = viewOf(p.lossMat!, [1 + K, R]);
    }
    const loss = gpu.empty([1 + this.mtp.length], 'f32', 'loss');
    if (K < this.mtp.length) gpu.fill(loss, 0);
    matmul(gpu, rowsMat, p.ones.reshape([R, 1]), {}, viewOf(loss, [1 + K, 1]));
    if (!frozen) {
      if (K > 0) addInPlace(gpu, p.dn, p.dFromMtp!);
      this.trunkBackward(p);
    }
    return loss;
  }

  /**
   * The training forward alone: saves the activations and returns the logits f32 [B·T, V], a buffer
   * the model owns (valid until the next forward). Other losses write their dlogits over it and call
   * backward(); step() is forward + fused cross-entropy + backward.
   */
  forward(inputs: number[], B: number, T: number): Tensor {
    const p = this.forwardTrunk(inputs, B, T);
    if (p.headRows < B * T) {
      this.last = undefined;
      throw new PonderError(
        'DEVICE_LIMIT',
        `TrainableModel.forward: the logits [${B * T}x${this.config.vocab_size}] are over one storage binding (${this.maxLogitsBytes} bytes); step() computes the loss in row blocks, or use fewer rows per call`,
      );
    }
    if (this.headInOnePiece(p)) matmul(this.gpu, p.nFinal, this.lmHead[0]!.value, { transB: true }, p.logits);
    else this.headLogits(p.nFinal, p.logits, p.headScratch!);
    return p.logits;
  }

  /** The forward up to nFinal = rmsnorm(x_L): everything but the lm_head. Returns the plan used. */
  private forwardTrunk(inputs: number[], B: number, T: number, layout?: RowLayout): Plan {
    this.live();
    this.checkInputs(inputs, B, T);
    if (T > this.rope.cos.shape[0]) this.rope = this.buildRope(T, this.rope);
    const p = this.plan(B, T);
    const gpu = this.gpu;
    gpu.write(p.tokens, Uint32Array.from(inputs));
    if (layout) {
      gpu.write(p.positions, Uint32Array.from(layout.positions));
      gpu.write(p.segments, Uint32Array.from(layout.segments));
    } else if (p.packed) {
      gpu.write(p.positions, plainPositions(B, T));
    }
    p.packed = layout !== undefined;
    embedding(gpu, p.tokens, tableValues(this.embed), p.layers[0]?.x ?? p.xFinal);
    this.layers.forEach((l, i) => {
      const a = p.layers[i];
      const next = i + 1 < p.layers.length ? p.layers[i + 1].x : p.xFinal;
      this.attentionForward(p, l, a);
      this.mlpForward(l, a, next);
    });
    rmsnorm(gpu, p.xFinal, this.norm.value, { eps: this.config.rms_norm_eps, rstd: p.rstdFinal }, p.nFinal);
    this.last = { plan: p, inputs: [...inputs] };
    return p;
  }

  /**
   * Backward from the dlogits the caller wrote over the last forward's logits buffer: ADDS every
   * parameter's gradient into its grad buffer. Once per forward (the activations stay valid, but
   * the dlogits must be rewritten before a second call).
   */
  backward(): void {
    this.live();
    if (!this.last) throw new PonderError('BAD_INPUT', 'TrainableModel.backward: no forward to differentiate (call forward first)');
    const p = this.last.plan;
    const gpu = this.gpu;
    // lm_head backward from the dlogits in p.logits [R, V]: its weight grads, and p.dn = d nFinal
    if (this.headInOnePiece(p)) {
      matmul(gpu, p.logits, p.nFinal, { transA: true, accumulate: true }, this.lmHead[0]!.grad);
      matmul(gpu, p.logits, this.lmHead[0]!.value, {}, p.dn);
    } else {
      this.headChunksBackward(p.logits, p.nFinal, p.dn, p.headScratch!);
    }
    this.trunkBackward(p);
  }

  /**
   * The training forward (activations kept), its logits, and per token the log-prob of its target
   * and the entropy of softmax(logits / T) (ops/token-logprobs.ts): what RL and preference objectives
   * are functions of. Returns fresh f32 [B·T] tensors the caller reads and releases; IGNORE_INDEX
   * targets give 0 and 0. The logits stay in place for backwardWeighted. The head must be one piece
   * (the B·T logits one storage binding), else DEVICE_LIMIT. MTP modules are not run (RL freezes them).
   */
  forwardLogprobs(inputs: number[], targets: number[], B: number, T: number, opts: LogprobOptions = {}): { logp: Tensor; entropy: Tensor } {
    this.live();
    const temperature = opts.temperature ?? 1;
    this.checkLogprobInputs(inputs, targets, B, T, temperature);
    const logits = this.forward(inputs, B, T);
    const last = this.last!;
    this.gpu.write(last.plan.targets, Uint32Array.from(targets));
    const out = tokenLogprobs(this.gpu, logits, last.plan.targets, { temperature });
    this.logprobsOf = { last, temperature };
    return out;
  }

  /**
   * Backward of Σ_t weights[t] · (−logp_t) through the forwardLogprobs just run: the weighted
   * cross-entropy writes dlogits = w/T · (softmax(logits/T) − onehot) over its logits
   * (ops/weighted-cross-entropy.ts), then the lm_head and trunk backward of backward(). An objective
   * L(logp) passes weights = −∂L/∂logp (what train/objectives/ compute), so the gradients are ∂L/∂θ;
   * they ACCUMULATE (+=) like step()'s. Once per forwardLogprobs. Weights on IGNORE_INDEX rows are
   * not used; every weight must be finite (a NaN would poison every gradient).
   */
  backwardWeighted(weights: Float32Array, opts: LogprobOptions = {}): void {
    this.live();
    const bad = (m: string): never => {
      throw new PonderError('BAD_INPUT', `TrainableModel.backwardWeighted: ${m}`);
    };
    const f = this.logprobsOf;
    if (!f || f.last !== this.last) bad('no forwardLogprobs to differentiate (call it first; a forward or step since then replaced its activations, and each forwardLogprobs is differentiated once)');
    const p = f!.last.plan;
    const R = p.B * p.T;
    if (weights.length !== R) bad(`${weights.length} weights for B*T = ${p.B}*${p.T}`);
    const i = weights.findIndex((x) => !Number.isFinite(x));
    if (i >= 0) bad(`weight ${i} is ${weights[i]}; weights must be finite`);
    if (opts.temperature !== undefined && opts.temperature !== f!.temperature) bad(`temperature ${opts.temperature} differs from forwardLogprobs' ${f!.temperature}`);
    const w = this.gpu.upload(weights, [R], 'f32', 'backwardWeighted.weights');
    weightedCrossEntropy(this.gpu, p.logits, p.targets, w, { temperature: f!.temperature, loss: p.lossRows });
    w.release();
    this.logprobsOf = undefined;
    this.backward();
  }

  private checkLogprobInputs(inputs: number[], targets: number[], B: number, T: number, temperature: number): void {
    this.checkInputs(inputs, B, T);
    const bad = (m: string): never => {
      throw new PonderError('BAD_INPUT', `TrainableModel.forwardLogprobs: ${m}`);
    };
    if (!Number.isFinite(temperature) || temperature <= 0) bad(`temperature must be a finite number > 0, got ${temperature}`);
    if (targets.length !== B * T) bad(`${targets.length} targets for B*T = ${B}*${T}`);
    const V = this.config.vocab_size;
    targets.forEach((id, k) => {
      if (id !== IGNORE_INDEX && (!Number.isInteger(id) || id < 0 || id >= V)) bad(`target ${k} is ${id}, outside the vocabulary 0..${V - 1} (IGNORE_INDEX = no log-prob)`);
    });
  }

  /** From p.dn = d loss / d nFinal down through the blocks to the embedding's grads. */
  private trunkBackward(p: Plan): void {
    const gpu = this.gpu;
    const inputs = this.last!.inputs;
    rmsnormBackward(gpu, p.dn, p.xFinal, this.norm.value, p.rstdFinal, { dx: p.dres, dweight: this.norm.grad, accumulate: true });
    for (let i = this.layers.length - 1; i >= 0; i--) {
      this.mlpBackward(p, this.layers[i], p.layers[i]);
      this.attentionBackward(p, this.layers[i], p.layers[i]);
    }
    embeddingBackward(gpu, inputs, p.dres, tableGrads(this.embed), { accumulate: true });
  }

  // ------------------------------------------------------------------ the loss head in pieces

  /** True when the lm_head is one tensor and all R rows' logits are one buffer (the plain path). */
  private headInOnePiece(p: Plan): boolean {
    return this.lmHead.length === 1 && p.headRows === p.B * p.T;
  }

  /**
   * logits [rows, V] = h [rows, H] · lm_headᵀ, one vocab chunk at a time: each chunk's [rows, V_c]
   * goes to `scratch` and its rows are copied into the chunk's column slice.
   */
  private headLogits(h: Tensor, logits: Tensor, scratch: Tensor): void {
    const gpu = this.gpu;
    const rows = h.shape[0]!;
    const V = this.config.vocab_size;
    let col = 0;
    for (const c of this.lmHead) {
      const Vc = c.value.shape[0]!;
      const s = viewOf(scratch, [rows, Vc]);
      matmul(gpu, h, c.value, { transB: true }, s);
      for (let r = 0; r < rows; r++) gpu.copy(s, logits, r * Vc * 4, (r * V + col) * 4, Vc * 4);
      col += Vc;
    }
  }

  /**
   * Backward of headLogits from the dlogits [rows, V] over `dlogits`: per vocab chunk, its column
   * slice is copied out to `scratch`, grad_c += sliceᵀ · h and dh (+)= slice · W_c.
   */
  private headChunksBackward(dlogits: Tensor, h: Tensor, dh: Tensor, scratch: Tensor, weightGrads = true): void {
    const gpu = this.gpu;
    const rows = h.shape[0]!;
    const V = this.config.vocab_size;
    let col = 0;
    this.lmHead.forEach((c, i) => {
      const Vc = c.value.shape[0]!;
      const s = viewOf(scratch, [rows, Vc]);
      for (let r = 0; r < rows; r++) gpu.copy(dlogits, s, (r * V + col) * 4, r * Vc * 4, Vc * 4);
      if (weightGrads) matmul(gpu, s, h, { transA: true, accumulate: true }, c.grad);
      matmul(gpu, s, c.value, { accumulate: i > 0 }, dh);
      col += Vc;
    });
  }

  /**
   * Loss rows and backward of one loss head over h [R, H] (the trunk's nFinal or a module's output):
   * dlogits in place, then with 'full' the lm_head's grads and dh, with 'dh' dh only (a frozen head),
   * with 'none' nothing (the loss for the report). In one piece when it fits, else in row blocks.
   */
  private lossHead(p: Plan, h: Tensor, targets: Tensor, lossRows: Tensor, dh: Tensor, gradScale: number, grads: HeadGrads): void {
    const gpu = this.gpu;
    if (!this.headInOnePiece(p)) {
      this.blockedHead(p, h, targets, lossRows, dh, gradScale, grads);
      return;
    }
    matmul(gpu, h, this.lmHead[0]!.value, { transB: true }, p.logits);
    crossEntropy(gpu, p.logits, targets, { gradScale, inPlace: true, loss: lossRows });
    if (grads === 'full') matmul(gpu, p.logits, h, { transA: true, accumulate: true }, this.lmHead[0]!.grad);
    if (grads !== 'none') matmul(gpu, p.logits, this.lmHead[0]!.value, {}, dh);
  }

  /**
   * lossHead over row blocks of p.headRows rows (see the header): the block's rows of h and targets
   * are copied in (a short last block is padded with IGNORE_INDEX targets, whose dlogits rows are
   * zero), its loss rows and dh rows copied out.
   */
  private blockedHead(p: Plan, hAll: Tensor, targetsAll: Tensor, lossAll: Tensor, dhAll: Tensor, gradScale: number, grads: HeadGrads): void {
    const gpu = this.gpu;
    const R = p.B * p.T;
    const H = this.config.hidden_size;
    const rows = p.headRows;
    const chunked = this.lmHead.length > 1;
    for (let r0 = 0; r0 < R; r0 += rows) {
      const n = Math.min(rows, R - r0);
      const b = p.head;
      const h = b ? b.h : hAll;
      const targets = b ? b.targets : targetsAll;
      if (b) {
        gpu.copy(hAll, b.h, r0 * H * 4, 0, n * H * 4);
        if (n < rows) gpu.copy(b.ignore, b.targets);
        gpu.copy(targetsAll, b.targets, r0 * 4, 0, n * 4);
      }
      if (chunked) this.headLogits(h, p.logits, p.headScratch!);
      else matmul(gpu, h, this.lmHead[0]!.value, { transB: true }, p.logits);
      crossEntropy(gpu, p.logits, targets, { gradScale, inPlace: true, loss: b ? b.loss : lossAll });
      const dh = b ? b.dn : dhAll;
      if (grads !== 'none') {
        if (chunked) this.headChunksBackward(p.logits, h, dh, p.headScratch!, grads === 'full');
        else {
          if (grads === 'full') matmul(gpu, p.logits, h, { transA: true, accumulate: true }, this.lmHead[0]!.grad);
          matmul(gpu, p.logits, this.lmHead[0]!.value, {}, dh);
        }
      }
      if (b) {
        gpu.copy(b.loss, lossAll, 0, r0 * 4, n * 4);
        if (grads !== 'none') gpu.copy(b.dn, dhAll, 0, r0 * H * 4, n * H * 4);
      }
    }
  }

  // ------------------------------------------------------------------ MTP modules

  /**
   * A module's inputs and targets: row (b, t) takes token inputs[b, t+shift] and target
   * targets[b, t+shift], when t+shift is in the row and (packed rows) in t's segment; else token 0 and
   * no target.
   */
  private writeShifted(a: MtpActs, inputs: number[], targets: number[], B: number, T: number, shift: number, segments?: number[]): void {
    const toks = new Uint32Array(B * T);
    const tgts = new Uint32Array(B * T).fill(IGNORE_INDEX);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t + shift < T; t++) {
        if (segments && segments[b * T + t + shift] !== segments[b * T + t]) continue;
        toks[b * T + t] = inputs[b * T + t + shift]!;
        tgts[b * T + t] = targets[b * T + t + shift]!;
      }
    }
    this.gpu.write(a.tokens, toks);
    this.gpu.write(a.targets, tgts);
    this.mtpTokens[shift - 1] = [...toks];
  }

  /** Module k: hOut = final_norm(block(input_proj(cat(hidden_norm(h_k), token_norm(embed(tokens)))))). */
  private mtpForward(p: Plan, k: number): void {
    const gpu = this.gpu;
    const eps = this.config.rms_norm_eps;
    const m = this.mtp[k]!;
    const a = p.mtp[k]!;
    const hPrev = k === 0 ? p.nFinal : p.mtp[k - 1]!.hOut;
    embedding(gpu, a.tokens, tableValues(this.embed), a.e);
    rmsnorm(gpu, a.e, m.tokenNorm.value, { eps, rstd: a.rstdE }, a.en);
    rmsnorm(gpu, hPrev, m.hiddenNorm.value, { eps, rstd: a.rstdH }, a.hn);
    matmul(gpu, a.hn, m.projHidden.value, { transB: true }, a.block.x);
    matmul(gpu, a.en, m.projToken.value, { transB: true, accumulate: true }, a.block.x);
    this.attentionForward(p, m.block, a.block);
    this.mlpForward(m.block, a.block, a.xOut);
    rmsnorm(gpu, a.xOut, m.finalNorm.value, { eps, rstd: a.rstdOut }, a.hOut);
  }

  /**
   * Module k's loss (gradients scaled by `scale`) and backward: dh = the head's dh (+ module k+1's
   * gradient of its hidden input), through final_norm, the block, input_proj and the two input norms;
   * the hidden input's gradient goes to module k-1's dhNext (or p.dFromMtp for k = 0), the token
   * embedding's to the embedding table unless the trunk is frozen.
   */
  private mtpBackward(p: Plan, k: number, K: number, scale: number, frozen: boolean): void {
    const gpu = this.gpu;
    const m = this.mtp[k]!;
    const a = p.mtp[k]!;
    const hPrev = k === 0 ? p.nFinal : p.mtp[k - 1]!.hOut;
    this.lossHead(p, a.hOut, a.targets, a.lossRows, a.dh, scale, frozen ? 'dh' : 'full');
    if (k + 1 < K) addInPlace(gpu, a.dh, a.dhNext);
    rmsnormBackward(gpu, a.dh, a.xOut, m.finalNorm.value, a.rstdOut, { dx: p.dres, dweight: m.finalNorm.grad, accumulate: true });
    this.mlpBackward(p, m.block, a.block);
    this.attentionBackward(p, m.block, a.block);
    // p.dres = d block input (the projection's output)
    matmul(gpu, p.dres, a.hn, { transA: true, accumulate: true }, m.projHidden.grad);
    matmul(gpu, p.dres, a.en, { transA: true, accumulate: true }, m.projToken.grad);
    matmul(gpu, p.dres, m.projHidden.value, {}, p.dn);
    const dPrev = k === 0 ? p.dFromMtp! : p.mtp[k - 1]!.dhNext;
    rmsnormBackward(gpu, p.dn, hPrev, m.hiddenNorm.value, a.rstdH, { dx: dPrev, dweight: m.hiddenNorm.grad, accumulate: true });
    matmul(gpu, p.dres, m.projToken.value, {}, p.dn);
    rmsnormBackward(gpu, p.dn, a.e, m.tokenNorm.value, a.rstdE, { dx: p.dtmp, dweight: m.tokenNorm.grad, accumulate: true });
    if (!frozen) {
      embeddingBackward(gpu, this.mtpTokens[k]!, p.dtmp, tableGrads(this.embed), { accumulate: true });
    }
  }

  /**
   * The master weights in the inference model's GpuWeights shape (src/model/gpu-weights.ts), as views
   * of the Params' value tensors, nothing copied: chunked tables as arrays of their chunks, a tied
   * lm_head the embedding itself, each MTP input_proj as its halves projHidden / projToken. For
   * `Transformer.fromGpuWeights(gpu, config, w, { owned: false })`: the optimizer updates these
   * tensors in place, so that model always computes with the current weights. Valid until dispose().
   */
  inferenceWeights(): GpuWeights {
    this.live();
    const block = (l: LayerParams): LayerWeights => ({
      inputNorm: l.inputNorm.value,
      q: l.q.value,
      k: l.k.value,
      v: l.v.value,
      qBias: l.qBias?.value,
      kBias: l.kBias?.value,
      vBias: l.vBias?.value,
      qNorm: l.qNorm?.value,
      kNorm: l.kNorm?.value,
      o: l.o.value,
      postNorm: l.postNorm.value,
      gate: l.gate.value,
      up: l.up.value,
      down: l.down.value,
    });
    const embed = tableValues(this.embed);
    return {
      embed,
      layers: this.layers.map(block),
      norm: this.norm.value,
      lmHead: this.lmHead === this.embed ? embed : tableValues(this.lmHead),
      mtp: this.mtp.map((m) => ({
        tokenNorm: m.tokenNorm.value,
        hiddenNorm: m.hiddenNorm.value,
        projHidden: m.projHidden.value,
        projToken: m.projToken.value,
        block: block(m.block),
        finalNorm: m.finalNorm.value,
      })),
    };
  }

  /** Reads the master weights back (HF names; a tied lm_head is not a separate tensor). */
  async toWeights(): Promise<Weights> {
    this.live();
    const out: Weights = new Map();
    for (const [name, chunks] of this.tables) {
      if (this.columnSplit.has(name)) {
        const [rows, cols] = chunks[0]!.value.shape as [number, number];
        const left = await this.gpu.readF32(chunks[0]!.value);
        const right = await this.gpu.readF32(chunks[1]!.value);
        out.set(name, { shape: [rows, 2 * cols], data: joinColumns(left, right, cols) });
        continue;
      }
      if (chunks.length === 1) {
        out.set(name, { shape: [...chunks[0]!.value.shape], data: new Float32Array(await this.gpu.readF32(chunks[0]!.value)) });
        continue;
      }
      const cols = chunks[0]!.value.shape[1]!;
      const rows = chunks.reduce((a, c) => a + c.value.shape[0]!, 0);
      const data = new Float32Array(rows * cols);
      let at = 0;
      for (const c of chunks) {
        data.set(await this.gpu.readF32(c.value), at);
        at += c.value.size;
      }
      out.set(name, { shape: [rows, cols], data });
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.plans.values()) releasePlan(p);
    this.plans.clear();
    this.last = undefined;
    this.rope.cos.release();
    this.rope.sin.release();
    this.arenas.release();
  }

  // ------------------------------------------------------------------ blocks

  /** xm = x + o_proj(attention(rope(qkn(q)), rope(qkn(k)), v)) over n1 = rmsnorm(x). */
  private attentionForward(p: Plan, l: LayerParams, a: LayerActs): void {
    const { gpu, config: c } = this;
    const eps = c.rms_norm_eps;
    const D = c.head_dim;
    const Hq = c.num_attention_heads;
    const Hkv = c.num_key_value_heads;
    const { B, T } = p;
    rmsnorm(gpu, a.x, l.inputNorm.value, { eps, rstd: a.rstd1 }, a.n1);
    if (l.qNorm && l.kNorm) {
      matmul(gpu, a.n1, l.q.value, { transB: true, bias: l.qBias?.value }, a.qRaw!);
      matmul(gpu, a.n1, l.k.value, { transB: true, bias: l.kBias?.value }, a.kRaw!);
      rmsnorm(gpu, a.qRaw!.reshape([B * T * Hq, D]), l.qNorm.value, { eps, rstd: a.rstdQ }, a.q.reshape([B * T * Hq, D]));
      rmsnorm(gpu, a.kRaw!.reshape([B * T * Hkv, D]), l.kNorm.value, { eps, rstd: a.rstdK }, p.k.reshape([B * T * Hkv, D]));
    } else {
      matmul(gpu, a.n1, l.q.value, { transB: true, bias: l.qBias?.value }, a.q);
    }
    // k and v as one matmul when k is not normed on its own and both weights are one view
    const kvWeights = !l.kNorm && !l.kBias && p.kv ? stackedView([l.k.value, l.v.value]) : undefined;
    if (kvWeights) matmul(gpu, a.n1, kvWeights, { transB: true }, p.kv);
    else {
      if (!l.kNorm) matmul(gpu, a.n1, l.k.value, { transB: true, bias: l.kBias?.value }, p.k);
      matmul(gpu, a.n1, l.v.value, { transB: true, bias: l.vBias?.value }, p.v);
    }
    const q = a.q.reshape([B, T, Hq, D]);
    const k = p.k.reshape([B, T, Hkv, D]);
    ropeAndCache(gpu, q, k, p.v.reshape([B, T, Hkv, D]), { positions: p.positions, tables: this.rope, kCache: a.kCache, vCache: a.vCache, slots: p.slots, starts: p.starts });
    const segments = p.packed ? p.segments : undefined;
    attention(gpu, q, a.kCache, a.vCache, p.slots, p.starts, { lse: a.lse, segments, trainingRows: true, keep: keptAttention(a) }, a.attn.reshape([B, T, Hq, D]));
    gpu.copy(a.x, a.xm);
    matmul(gpu, a.attn, l.o.value, { transB: true, accumulate: true }, a.xm);
  }

  /** next = xm + down(silu(gate(n2)) · up(n2)) over n2 = rmsnorm(xm). */
  private mlpForward(l: LayerParams, a: LayerActs, next: Tensor): void {
    const gpu = this.gpu;
    rmsnorm(gpu, a.xm, l.postNorm.value, { eps: this.config.rms_norm_eps, rstd: a.rstd2 }, a.n2);
    const guWeights = a.gu ? stackedView([l.gate.value, l.up.value]) : undefined;
    if (guWeights) matmul(gpu, a.n2, guWeights, { transB: true }, a.gu);
    else {
      matmul(gpu, a.n2, l.gate.value, { transB: true }, a.gate);
      matmul(gpu, a.n2, l.up.value, { transB: true }, a.up);
    }
    swiglu(gpu, a.gate, a.up, a.act);
    gpu.copy(a.xm, next);
    matmul(gpu, a.act, l.down.value, { transB: true, accumulate: true }, next);
  }

  /** p.dres = d loss / d x_{l+1} on entry, d loss / d xm_l on exit; weight grads accumulate. */
  private mlpBackward(p: Plan, l: LayerParams, a: LayerActs): void {
    const gpu = this.gpu;
    matmul(gpu, p.dres, a.act, { transA: true, accumulate: true }, l.down.grad);
    matmul(gpu, p.dres, l.down.value, {}, p.dact);
    swigluBackward(gpu, p.dact, a.gate, a.up, { dgate: p.dgate, dup: p.dup });
    const guGrads = p.dgu ? stackedView([l.gate.grad, l.up.grad]) : undefined;
    if (guGrads) matmul(gpu, p.dgu!, a.n2, { transA: true, accumulate: true }, guGrads);
    else {
      matmul(gpu, p.dgate, a.n2, { transA: true, accumulate: true }, l.gate.grad);
      matmul(gpu, p.dup, a.n2, { transA: true, accumulate: true }, l.up.grad);
    }
    matmul(gpu, p.dgate, l.gate.value, {}, p.dn);
    matmul(gpu, p.dup, l.up.value, { accumulate: true }, p.dn);
    // the norm's input gradient adds straight into the residual gradient (no separate add)
    rmsnormBackward(gpu, p.dn, a.xm, l.postNorm.value, a.rstd2, { dx: p.dres, accumulateDx: true, dweight: l.postNorm.grad, accumulate: true });
  }

  /** p.dres = d loss / d xm_l on entry, d loss / d x_l on exit; weight grads accumulate. */
  private attentionBackward(p: Plan, l: LayerParams, a: LayerActs): void {
    const { gpu, config: c } = this;
    const D = c.head_dim;
    const Hq = c.num_attention_heads;
    const Hkv = c.num_key_value_heads;
    const { B, T } = p;
    const R = B * T;
    matmul(gpu, p.dres, a.attn, { transA: true, accumulate: true }, l.o.grad);
    matmul(gpu, p.dres, l.o.value, {}, p.dattn);
    const q4 = a.q.reshape([B, T, Hq, D]);
    const kv4 = [B, T, Hkv, D];
    attentionBackward(gpu, p.dattn.reshape([B, T, Hq, D]), q4, a.kCache, a.vCache, a.attn.reshape([B, T, Hq, D]), a.lse, { T, segments: p.packed ? p.segments : undefined, kept: keptAttention(a) }, {
      dq: p.dq.reshape([B, T, Hq, D]),
      dk: p.dk.reshape(kv4),
      dv: p.dv.reshape(kv4),
    });
    ropeBackward(gpu, p.dq.reshape([B, T, Hq, D]), p.positions, this.rope);
    ropeBackward(gpu, p.dk.reshape(kv4), p.positions, this.rope);
    let dq = p.dq;
    let dk = p.dk;
    if (l.qNorm && l.kNorm) {
      rmsnormBackward(gpu, p.dq.reshape([R * Hq, D]), a.qRaw!.reshape([R * Hq, D]), l.qNorm.value, a.rstdQ!, { dx: p.dqRaw!.reshape([R * Hq, D]), dweight: l.qNorm.grad, accumulate: true });
      rmsnormBackward(gpu, p.dk.reshape([R * Hkv, D]), a.kRaw!.reshape([R * Hkv, D]), l.kNorm.value, a.rstdK!, { dx: p.dkRaw!.reshape([R * Hkv, D]), dweight: l.kNorm.grad, accumulate: true });
      dq = p.dqRaw!;
      dk = p.dkRaw!;
    }
    const projections: [Tensor, Param, Param | undefined][] = [
      [dq, l.q, l.qBias],
      [dk, l.k, l.kBias],
      [p.dv, l.v, l.vBias],
    ];
    // the k and v weight grads as one matmul when dk, dv and both grads are stacked views
    const kvGrads = dk === p.dk && !l.kBias && !l.vBias && p.dkv ? stackedView([l.k.grad, l.v.grad]) : undefined;
    if (kvGrads) matmul(gpu, p.dkv!, a.n1, { transA: true, accumulate: true }, kvGrads);
    projections.forEach(([dy, w, bias], j) => {
      if (!(kvGrads && j > 0)) matmul(gpu, dy, a.n1, { transA: true, accumulate: true }, w.grad);
      if (bias) matmul(gpu, p.ones, dy, { accumulate: true }, bias.grad.reshape([1, bias.grad.size]));
      matmul(gpu, dy, w.value, { accumulate: j > 0 }, p.dn);
    });
    rmsnormBackward(gpu, p.dn, a.x, l.inputNorm.value, a.rstd1, { dx: p.dres, accumulateDx: true, dweight: l.inputNorm.grad, accumulate: true });
  }

  // ------------------------------------------------------------------ inputs and plans

  private checkInputs(inputs: number[], B: number, T: number): void {
    const bad = (m: string) => {
      throw new PonderError('BAD_INPUT', `TrainableModel: ${m}`);
    };
    if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 1) bad(`B=${B} and T=${T} must be integers >= 1`);
    if (inputs.length !== B * T) bad(`${inputs.length} inputs for B*T = ${B}*${T}`);
    const V = this.config.vocab_size;
    inputs.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) bad(`input ${i} is ${id}, outside the vocabulary 0..${V - 1}`);
    });
  }

  private checkTargets(targets: number[], B: number, T: number, opts: StepOptions): void {
    const bad = (m: string) => {
      throw new PonderError('BAD_INPUT', `TrainableModel.step: ${m}`);
    };
    if (targets.length !== B * T) bad(`${targets.length} targets for B*T = ${B}*${T}`);
    if (!Number.isFinite(opts.gradScale)) bad(`gradScale must be finite, got ${opts.gradScale}`);
    const V = this.config.vocab_size;
    targets.forEach((id, i) => {
      if (id !== IGNORE_INDEX && (!Number.isInteger(id) || id < 0 || id >= V)) bad(`target ${i} is ${id}, outside the vocabulary 0..${V - 1} (IGNORE_INDEX = no loss)`);
    });
  }

  /**
   * The packed layout of a step, checked: both arrays or neither, [B·T] integers, segments in
   * contiguous non-decreasing runs within a row, positions restarting at 0 with each run and counting
   * up by one (what RoPE and the segment mask together assume).
   */
  private checkLayout(opts: StepOptions, B: number, T: number): RowLayout | undefined {
    const { segments, positions } = opts;
    if (segments === undefined && positions === undefined) return undefined;
    const bad = (m: string): never => {
      throw new PonderError('BAD_INPUT', `TrainableModel.step: ${m}`);
    };
    if (segments === undefined || positions === undefined) return bad('packed rows need both segments and positions');
    if (segments.length !== B * T) bad(`${segments.length} segment ids for B*T = ${B}*${T}`);
    if (positions.length !== B * T) bad(`${positions.length} positions for B*T = ${B}*${T}`);
    for (let i = 0; i < B * T; i++) {
      const s = segments[i]!;
      if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) bad(`segment id ${i} is ${s}, not a u32`);
      const first = i % T === 0;
      if (!first && s < segments[i - 1]!) bad(`segment ids must not decrease within a row (token ${i}: ${s} after ${segments[i - 1]})`);
      const expected = first || s !== segments[i - 1] ? 0 : positions[i - 1]! + 1;
      if (positions[i] !== expected) bad(`position ${i} is ${positions[i]}, expected ${expected} (positions restart at 0 with each segment and count up by one)`);
    }
    return { segments, positions };
  }

  private plan(B: number, T: number): Plan {
    const key = `${B}x${T}`;
    let p = this.plans.get(key);
    if (p) {
      this.plans.delete(key);
      this.plans.set(key, p);
      return p;
    }
    const c = this.config;
    const R = B * T;
    const H = c.hidden_size;
    const I = c.intermediate_size;
    const D = c.head_dim;
    const Hq = c.num_attention_heads;
    const Hkv = c.num_key_value_heads;
    const e = (shape: number[], label: string, dtype: 'f32' | 'u32' = 'f32') => this.gpu.empty(shape, dtype, label);
    const qk = c.qk_norm;
    // the dense forward keeps q head-major and P for the backward where all layers' fit (attention-dense.ts)
    const keep = keepsDenseAttention(B, T, Hq, D, c.num_hidden_layers + c.num_nextn_predict_layers, this.gpu.limits.maxStorageBufferBindingSize);
    const G = Hq / Hkv;
    // rows of logits per loss-head block: all R when they fit one buffer
    const headRows = Math.max(1, Math.min(R, Math.floor(this.maxLogitsBytes / (c.vocab_size * 4))));
    const layerActs = (i: number | string): LayerActs => ({
      x: e([R, H], `x.${i}`),
      n1: e([R, H], `n1.${i}`),
      rstd1: e([R], `rstd1.${i}`),
      qRaw: qk ? e([R, Hq * D], `qRaw.${i}`) : undefined,
      kRaw: qk ? e([R, Hkv * D], `kRaw.${i}`) : undefined,
      rstdQ: qk ? e([R * Hq], `rstdQ.${i}`) : undefined,
      rstdK: qk ? e([R * Hkv], `rstdK.${i}`) : undefined,
      q: e([R, Hq * D], `q.${i}`),
      kCache: e([B, Hkv, T, D], `kCache.${i}`),
      vCache: e([B, Hkv, T, D], `vCache.${i}`),
      attn: e([R, Hq * D], `attn.${i}`),
      lse: e([B, T, Hq], `lse.${i}`),
      keptQH: keep ? e([B * Hkv, G * T, D], `keptQH.${i}`) : undefined,
      keptP: keep ? e([B * Hkv, G * T, T], `keptP.${i}`) : undefined,
      xm: e([R, H], `xm.${i}`),
      n2: e([R, H], `n2.${i}`),
      rstd2: e([R], `rstd2.${i}`),
      ...stackedPair(this.gpu, [R, I], `gate+up.${i}`, (gate, up, gu) => ({ gate, up, gu })),
      act: e([R, I], `act.${i}`),
    });
    const layers: LayerActs[] = [];
    for (let i = 0; i < c.num_hidden_layers; i++) layers.push(layerActs(i));
    p = {
      B,
      T,
      tokens: e([R], 'tokens', 'u32'),
      targets: e([R], 'targets', 'u32'),
      positions: e([R], 'positions', 'u32'),
      segments: e([B, T], 'segments', 'u32'),
      packed: false,
      slots: e([B], 'slots', 'u32'),
      starts: e([B], 'starts', 'u32'),
      ones: e([1, R], 'ones'),
      layers,
      xFinal: e([R, H], 'xFinal'),
      nFinal: e([R, H], 'nFinal'),
      rstdFinal: e([R], 'rstdFinal'),
      logits: e([headRows, c.vocab_size], 'logits'),
      lossRows: e([R], 'lossRows'),
      mtp: Array.from({ length: c.num_nextn_predict_layers }, (_, k) => ({
        tokens: e([R], `mtp${k}.tokens`, 'u32'),
        targets: e([R], `mtp${k}.targets`, 'u32'),
        e: e([R, H], `mtp${k}.e`),
        en: e([R, H], `mtp${k}.en`),
        rstdE: e([R], `mtp${k}.rstdE`),
        hn: e([R, H], `mtp${k}.hn`),
        rstdH: e([R], `mtp${k}.rstdH`),
        block: layerActs(`mtp${k}`),
        xOut: e([R, H], `mtp${k}.xOut`),
        hOut: e([R, H], `mtp${k}.hOut`),
        rstdOut: e([R], `mtp${k}.rstdOut`),
        lossRows: e([R], `mtp${k}.lossRows`),
        dh: e([R, H], `mtp${k}.dh`),
        dhNext: e([R, H], `mtp${k}.dhNext`),
      })),
      lossMat: c.num_nextn_predict_layers > 0 ? e([1 + c.num_nextn_predict_layers, R], 'lossMat') : undefined,
      dFromMtp: c.num_nextn_predict_layers > 0 ? e([R, H], 'dFromMtp') : undefined,
      headRows,
      head: headRows < R ? { h: e([headRows, H], 'head.h'), targets: e([headRows], 'head.targets', 'u32'), loss: e([headRows], 'head.loss'), dn: e([headRows, H], 'head.dn'), ignore: e([headRows], 'head.ignore', 'u32') } : undefined,
      headScratch: this.lmHead.length > 1 ? e([headRows, Math.max(...this.lmHead.map((t) => t.value.shape[0]!))], 'head.scratch') : undefined,
      ...stackedPair(this.gpu, [R, Hkv * D], 'k+v', (k, v, kv) => ({ k, v, kv })),
      dres: e([R, H], 'dres'),
      dtmp: e([R, H], 'dtmp'),
      dn: e([R, H], 'dn'),
      dact: e([R, I], 'dact'),
      ...stackedPair(this.gpu, [R, I], 'dgate+dup', (dgate, dup, dgu) => ({ dgate, dup, dgu })),
      dattn: e([R, Hq * D], 'dattn'),
      dq: e([R, Hq * D], 'dq'),
      ...stackedPair(this.gpu, [R, Hkv * D], 'dk+dv', (dk, dv, dkv) => ({ dk, dv, dkv })),
      dqRaw: qk ? e([R, Hq * D], 'dqRaw') : undefined,
      dkRaw: qk ? e([R, Hkv * D], 'dkRaw') : undefined,
    };
    this.gpu.write(p.positions, plainPositions(B, T));
    this.gpu.write(p.slots, Uint32Array.from({ length: B }, (_, b) => b));
    this.gpu.write(p.starts, new Uint32Array(B));
    this.gpu.fill(p.ones, 1);
    if (p.head) {
      // stale rows of a short last block must be finite: their zero dlogits multiply them
      this.gpu.fill(p.head.h, 0);
      this.gpu.write(p.head.ignore, new Uint32Array(headRows).fill(IGNORE_INDEX));
    }
    this.plans.set(key, p);
    while (this.plans.size > MAX_PLANS) {
      const [oldKey, old] = this.plans.entries().next().value as [string, Plan];
      this.plans.delete(oldKey);
      if (this.last?.plan === old) this.last = undefined;
      releasePlan(old);
    }
    return p;
  }

  private buildRope(maxPositions: number, old?: RopeTables): RopeTables {
    old?.cos.release();
    old?.sin.release();
    return ropeTables(this.gpu, { maxPositions, rotaryDim: this.config.head_dim, theta: this.config.rope_theta });
  }

  private live(): void {
    if (this.disposed) throw new PonderError('BAD_INPUT', 'TrainableModel: used after dispose()');
  }
}

/** Positions of one sequence per row: t for row (b, t). */
function plainPositions(B: number, T: number): Uint32Array {
  return Uint32Array.from({ length: B * T }, (_, r) => r % T);
}

/** Gpu.emptyStacked(2, shape) handed to `name` as (first, second, whole?). */
function stackedPair<T>(gpu: Gpu, shape: number[], label: string, name: (a: Tensor, b: Tensor, whole: Tensor | undefined) => T): T {
  const { whole, parts } = gpu.emptyStacked(2, shape, label);
  return name(parts[0]!, parts[1]!, whole);
}

/** A layer's kept dense-attention buffers as the attention ops take them (undefined: not kept). */
function keptAttention(a: LayerActs): DenseAttentionKept | undefined {
  return a.keptQH && a.keptP ? { qH: a.keptQH, probs: a.keptP } : undefined;
}

function releasePlan(p: Plan): void {
  for (const l of [...p.layers, ...p.mtp.map((m) => m.block)]) for (const t of Object.values(l)) (t as Tensor | undefined)?.release();
  for (const m of p.mtp) for (const t of Object.values(m)) if (t instanceof Tensor) t.release();
  if (p.head) for (const t of Object.values(p.head)) t.release();
  for (const [k, v] of Object.entries(p)) {
    if (k !== 'layers' && k !== 'head' && k !== 'mtp' && v instanceof Tensor) v.release();
  }
}

/** Inverse of splitColumns: rows of [left | right]. */
function joinColumns(left: Float32Array, right: Float32Array, cols: number): Float32Array {
  const rows = left.length / cols;
  const out = new Float32Array(rows * 2 * cols);
  for (let r = 0; r < rows; r++) {
    out.set(left.subarray(r * cols, (r + 1) * cols), r * 2 * cols);
    out.set(right.subarray(r * cols, (r + 1) * cols), r * 2 * cols + cols);
  }
  return out;
}

const tableValues = (t: Param[]): Tensor | Tensor[] => (t.length === 1 ? t[0]!.value : t.map((c) => c.value));
const tableGrads = (t: Param[]): Tensor | Tensor[] => (t.length === 1 ? t[0]!.grad : t.map((c) => c.grad));

/** A view of the first numel(shape) elements of `t` (a scratch buffer reused at smaller shapes). */
function viewOf(t: Tensor, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n === t.size) return t.reshape(shape);
  if (n > t.size) throw new PonderError('SHAPE', `viewOf: ${shape.join('x')} does not fit ${t}`);
  return t.view(0, shape);
}
