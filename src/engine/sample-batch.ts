import type { Tokenizer } from '../data/tokenizer.js';
import { PonderError } from '../errors.js';
import type { Gpu, StagedRead } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ModelConfig } from '../model/config.js';
import type { KvCache } from '../model/kv-cache.js';
import type { Transformer } from '../model/transformer.js';
import type { SlotCopy } from '../ops/kv-copy.js';
import { tokenLogprobs } from '../ops/token-logprobs.js';
import { resolveSampling, sample, type SamplingOptions } from '../sample/sampler.js';

/**
 * Batched sampling: P prompts × k completions each, all decoded together on the batched-decode path
 * (one forward of B rows per step, each row its own KV-cache slot and start). The one function that
 * evals, the tuner's evals and the RL / preference stages use to answer many prompts at once.
 *
 * Algorithm. The P·k rows (prompt p, sample j) are taken in (p, j) order into a KV cache of S =
 * maxRows slots. A row that enters the batch needs its prompt's keys and values in its slot:
 *   - the first row of a prompt prefills it into its own slot, with the other prompts entering at
 *     the same step: those of similar lengths in one forward, each padded on the right to the
 *     longest (prefillGroups, prefillAll); its last-position logits are kept until all k rows of
 *     the prompt have drawn their first token from them;
 *   - its other rows get a GPU-to-GPU copy of positions 0..n_p-1 from a slot that holds that prefix
 *     (KvCache.copySlots, wgsl/kv_copy.wgsl: one dispatch per layer for all copies of a step), or
 *     none at all when the freed slot they take over already holds it (the previous sample of the
 *     same prompt ran there: decoding never writes below n_p).
 * Each step then runs one forward over the live rows (T = 1, each feeding its newest token at its
 * own position), samples every row on the GPU, and reads back only the B sampled ids (plus the
 * first tokens of the rows that entered this step: one read-back per step). A row leaves the batch
 * at a stop id (EOS / end-of-turn or `stopIds`; not included in its ids), at maxTokens, or at the end
 * of the context; its slot is refilled with the next pending row at the next step (continuous
 * batching: the batch stays full while rows are pending, in as many waves as it takes).
 *
 * One step ahead: while no row of a step can end by its budget and no pending row waits for a slot,
 * the next step is recorded and submitted before this step's ids are read back: the same rows in
 * the same order, each fed its token from this step's output where it lies on the GPU (Gpu.stage
 * keeps the read-back of this step apart from the later work). A row whose token turns out to be a
 * stop id has then decoded one more token in the step ahead, at a position past its end that
 * nothing reads and whoever takes its slot overwrites; that token is dropped and the step after is
 * recorded after its read-back, compacting the batch and admitting pending rows as before.
 *
 * Batch shape: the forward runs exactly the live rows (compacted, no padding), so B shrinks in the
 * tail of a run. Each new B is a new activation plan (Transformer keeps the 8 most recent): 16
 * buffers from the pool (no Dawn allocation once warm) and one small upload, which measured as noise
 * next to a decode step, while padding to bucket sizes computes the padding rows; so no padding
 * (docs/architecture.md "Batched sampling" has the numbers).
 *
 * Randomness: sample j of a prompt with RNG stream s draws with Philox stream
 *     stream(s, j) = s + j · 2^22          (s < 2^22, j < 2^10: fits a u32)
 * and step = the index of the token in its completion (0 for the first token). The draw of a token
 * is a pure function of (seed, s, j, token index), so it does not depend on the batch it was in, on
 * the wave, on maxRows or on k (sample j of stream s is the same for k = 4 and k = 8), and sample 0
 * of stream 0 draws exactly what `generate` draws (it samples with stream 0, step = token index).
 * Rows of one step sit at different token indices once waves mix; the sampler takes one step per
 * call, so the live rows are ordered by token index and each run of equal indices is one sample
 * call (usually one call: one wave is one run). Temperature 0 is argmax: all k samples are equal.
 * One caveat, of floating point only: a forward of B rows uses the matmul kernel for B rows (the
 * small-M kernel up to its smallM rows, 4 on lavapipe, the main one above), so a row's logits may differ in the last bits
 * between batches of different sizes (and a short prompt's prefill between passes of other sizes);
 * a near-tie between two tokens can then resolve differently.
 *
 * Memory: S KV slots of maxPositions = max over prompts of (n_p + its token budget), plus the step's
 * logits [B, V]. The default maxRows is min(P·k, 64, what 1 GiB of KV cache holds); any maxRows is
 * capped so one layer's K cache and the step's logits each fit a storage binding.
 */
export interface BatchSampleOptions extends SamplingOptions {
  /** k completions per prompt */
  samples: number;
  /** per-row budget (each row also stops at the context end) */
  maxTokens: number;
  /** besides tokenizer.eosIds */
  stopIds?: number[];
  /**
   * RNG stream per prompt (default: its index in `prompts`): sample j of a prompt with stream s
   * always draws the same tokens for the same seed, whatever else is in the batch and however the
   * rows are chunked. Each below 2^22.
   */
  streams?: number[];
  /** most sequences decoded at once (KV slots); default min(P·k, 64, 1 GiB of KV cache); see the header */
  maxRows?: number;
  signal?: AbortSignal;
  /** called after each decode step with rows finished so far (for progress bars) */
  onProgress?: (done: number, total: number) => void;
  /**
   * also return each sampled token's log-probability under softmax(logits / T) (T = 1 when greedy;
   * top-k/top-p truncation not applied): the quantity a trainer's forward computes, so RL can log
   * how far the sampler and the trainer disagree. One extra read-back of B floats per step.
   */
  logprobs?: boolean;
}

export interface BatchCompletion {
  /** index into prompts */
  prompt: number;
  /** 0..k-1 */
  sample: number;
  /** generated ids, without the stop token */
  ids: number[];
  /** decoded (special tokens skipped, like generate's text) */
  text: string;
  finish: 'stop' | 'length' | 'context' | 'aborted';
  /** with finish 'stop': the stop id it ended on (a trainer appends it, so the model learns to stop) */
  stopId?: number;
  /** with opts.logprobs: one per sampled token, the stop token last when there is one */
  logprobs?: number[];
}

/** Bits of a row's Philox stream that hold the prompt's stream; the sample index sits above them. */
export const PROMPT_STREAM_BITS = 22;
/** Most samples per prompt (the sample index has the 32 - PROMPT_STREAM_BITS bits left). */
export const MAX_SAMPLES = 2 ** (32 - PROMPT_STREAM_BITS);
const DEFAULT_MAX_ROWS = 64;
const DEFAULT_KV_BUDGET_BYTES = 2 ** 30;

/** The Philox stream of sample j of a prompt whose stream is s: s + j · 2^22 (see the header). */
export function rowStream(promptStream: number, sample: number): number {
  return promptStream + sample * 2 ** PROMPT_STREAM_BITS;
}

/**
 * The most rows that can decode at once with `positions` cache positions per slot: one layer's K
 * cache [S, Hkv, positions, D] and a step's logits [S, V] must each fit one storage binding. With
 * `budgetBytes`, also at most what that many bytes of K and V over all layers hold.
 */
export function maxBatchRows(gpu: Gpu, config: ModelConfig, positions: number, budgetBytes = Infinity): number {
  const binding = gpu.limits.maxStorageBufferBindingSize;
  const slotBytes = config.num_key_value_heads * positions * config.head_dim * 4;
  const byCache = Math.floor(binding / slotBytes);
  const byLogits = Math.floor(binding / (config.vocab_size * 4));
  const byBudget = Math.floor(budgetBytes / (2 * config.num_hidden_layers * slotBytes));
  return Math.max(1, Math.min(byCache, byLogits, byBudget));
}

/** A prompt to prefill into a slot. */
interface Prefill {
  prompt: number;
  slot: number;
}

/** Most rows (sequences × padded length) of one batched prefill pass, unless one prompt alone is longer. */
export const PREFILL_PASS_ROWS = 1024;
/** Most padding a batched prefill pass may add: its rows at most this × the prompts' own tokens. */
export const PREFILL_PAD_FACTOR = 1.25;

/**
 * Groups prompts of these lengths into prefill passes (indices into `lengths`): in order of length,
 * a pass takes the next prompt while its rows (count × the longest length) stay within
 * PREFILL_PASS_ROWS and PREFILL_PAD_FACTOR × its tokens; a prompt longer than PREFILL_PASS_ROWS
 * runs alone.
 */
export function prefillGroups(lengths: number[]): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const groups: number[][] = [];
  let group: number[] = [];
  let tokens = 0;
  for (const i of order) {
    const n = lengths[i]!;
    const rows = (group.length + 1) * n; // in order of length: n is the group's longest
    if (group.length > 0 && (rows > PREFILL_PASS_ROWS || rows > PREFILL_PAD_FACTOR * (tokens + n))) {
      groups.push(group);
      group = [];
      tokens = 0;
    }
    group.push(i);
    tokens += n;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** ids padded on the right to T with copies of its last id (any id would do: see ForwardOptions.lengths). */
function padRight(ids: number[], T: number): number[] {
  return ids.length === T ? ids : [...ids, ...new Array<number>(T - ids.length).fill(ids[ids.length - 1]!)];
}

/** A decode step recorded and submitted, not yet read back: out[i] (and outLogp[i]) belong to rows[i]. */
interface Step {
  rows: Row[];
  out: Tensor;
  outLogp?: Tensor;
  read: StagedRead;
  readLogp?: StagedRead;
}

/** One completion being made: which prompt and sample, its slot while it decodes, its tokens. */
interface Row {
  prompt: number;
  sample: number;
  stream: number;
  slot: number;
  ids: number[];
  /** most tokens: min(maxTokens, context - prompt length) */
  budget: number;
  /** the finish reason when the budget runs out */
  atBudget: 'length' | 'context';
  finish?: BatchCompletion['finish'];
  stopId?: number;
  logprobs?: number[];
}

export async function sampleBatch(gpu: Gpu, model: Transformer, tok: Tokenizer, prompts: number[][], opts: BatchSampleOptions): Promise<BatchCompletion[]> {
  const rows = checkRequest(model, prompts, opts);
  if (rows.length === 0) return [];
  const config = model.config;
  // an odd number of positions a slot: the decode attention's lanes read one row each from slots
  // L·D·4 bytes apart, which for a power-of-two L (the context, 512 for the bundled model) all fall
  // in the same L1 sets of a CPU (attention_decode_lanes.wgsl: 1.51 against 1.00 ms a layer)
  const positions = Math.max(...prompts.map((p, i) => p.length + rows[i * opts.samples]!.budget)) | 1;
  const limit = maxBatchRows(gpu, config, positions, opts.maxRows === undefined ? DEFAULT_KV_BUDGET_BYTES : Infinity);
  const slots = Math.min(rows.length, opts.maxRows ?? DEFAULT_MAX_ROWS, limit);
  const cache = model.createCache(slots, positions);
  const stop = new Set([...tok.eosIds, ...(opts.stopIds ?? [])]);
  const run = new BatchRun(gpu, model, cache, prompts, rows, stop, opts);
  try {
    await run.run();
  } finally {
    run.dispose();
    cache.dispose();
  }
  return rows.map((r) => ({
    prompt: r.prompt,
    sample: r.sample,
    ids: r.ids,
    text: tok.decode(r.ids, { skipSpecialTokens: true }),
    finish: r.finish ?? 'aborted',
    ...(r.stopId !== undefined ? { stopId: r.stopId } : {}),
    ...(r.logprobs ? { logprobs: r.logprobs } : {}),
  }));
}

/** The decode loop over one cache (see the header). */
class BatchRun {
  private readonly V: number;
  /** which prompt's prefix (positions 0..n-1) each slot holds, -1 for none */
  private readonly slotPrompt: number[];
  private readonly free: number[];
  private live: Row[] = [];
  private next = 0;
  private done = 0;
  /** the last-position logits [1, 1, V] of prompts whose rows have not all drawn their first token */
  private readonly promptLogits = new Map<number, Tensor>();
  /** temperature 0: argmax, where streams and steps play no part */
  private readonly greedy: boolean;

  constructor(
    private readonly gpu: Gpu,
    private readonly model: Transformer,
    private readonly cache: KvCache,
    private readonly prompts: number[][],
    private readonly rows: Row[],
    /** ids that end a row */
    private readonly stop: ReadonlySet<number>,
    private readonly opts: BatchSampleOptions,
  ) {
    this.V = model.config.vocab_size;
    this.slotPrompt = new Array<number>(cache.slots).fill(-1);
    this.free = Array.from({ length: cache.slots }, (_, s) => cache.slots - 1 - s);
    this.greedy = resolveSampling(opts, this.V).temperature === 0;
  }

  async run(): Promise<void> {
    const total = this.rows.length;
    let cur: Step | undefined;
    try {
      while (cur || this.live.length > 0 || this.next < total) {
        if (this.opts.signal?.aborted) return;
        cur ??= this.recordStep();
        // the next step ahead, recorded and submitted before this one's tokens are read back
        const ahead = this.canGoAhead(cur) ? this.recordAhead(cur) : undefined;
        const ids = await cur.read.result();
        const lps = cur.readLogp ? await cur.readLogp.result() : undefined;
        // a row that stopped in the step before (a zombie of a step recorded ahead) takes nothing
        cur.rows.forEach((r, i) => r.finish === undefined && this.take(r, ids[i]!, lps?.[i]));
        this.releaseStep(cur);
        this.live = cur.rows.filter((r) => r.finish === undefined);
        cur = ahead;
        this.opts.onProgress?.(this.done, total);
      }
    } finally {
      if (cur) {
        cur.read.cancel();
        cur.readLogp?.cancel();
        this.releaseStep(cur);
      }
    }
  }

  /**
   * One decode step of the live rows, ordered by token index (the sampler's step), with the pending
   * rows that fit entering into free slots (their first tokens from their prompts' logits): recorded,
   * its read-back staged, submitted.
   */
  private recordStep(): Step {
    const decoded = [...this.live].sort((a, b) => a.ids.length - b.ids.length);
    const entering = this.admit();
    const step = this.emptyStep([...decoded, ...entering]);
    if (decoded.length > 0) {
      const logits = this.model.forward(
        decoded.map((r) => [r.ids[r.ids.length - 1]!]),
        this.cache,
        decoded.map((r) => r.slot),
        decoded.map((r) => this.prompts[r.prompt]!.length + r.ids.length - 1),
        { lastOnly: true },
      );
      this.sampleRows(logits.reshape([decoded.length, this.V]), decoded, step.out, 0, step.outLogp);
      logits.release();
    }
    if (entering.length > 0) this.sampleFirst(entering, step.out, decoded.length, step.outLogp);
    return this.submit(step);
  }

  /**
   * Whether the step after `cur` can be recorded before cur's tokens are known: it is then cur's rows
   * in cur's order, each fed its token from cur's output where it lies on the GPU. So: no row of cur
   * may leave the batch with a token already known to end it (its budget), no row of cur may already
   * have left it (a zombie: see run), and no pending row may be waiting for a free slot. A row whose
   * token in cur turns out to be a stop id decodes one wasted token in the step ahead, at a position
   * past its end that nothing reads and whoever takes its slot overwrites.
   */
  private canGoAhead(cur: Step): boolean {
    if (this.opts.signal?.aborted) return false;
    if (this.free.length > 0 && this.next < this.rows.length) return false;
    return cur.rows.every((r) => r.finish === undefined && r.ids.length + 1 < r.budget);
  }

  /** The step after `cur` (see canGoAhead), recorded and submitted now. */
  private recordAhead(cur: Step): Step {
    const rows = cur.rows;
    const step = this.emptyStep(rows);
    // each row's token in cur is its newest then: at position prompt + ids.length, token index ids.length + 1
    const logits = this.model.forward(cur.out, this.cache, rows.map((r) => r.slot), rows.map((r) => this.prompts[r.prompt]!.length + r.ids.length), { lastOnly: true });
    this.sampleRows(logits.reshape([rows.length, this.V]), rows, step.out, 0, step.outLogp, 1);
    logits.release();
    return this.submit(step);
  }

  private emptyStep(rows: Row[]): Omit<Step, 'read'> {
    const out = this.gpu.empty([rows.length], 'u32', 'sampleBatch.ids');
    const outLogp = this.opts.logprobs ? this.gpu.empty([rows.length], 'f32', 'sampleBatch.logp') : undefined;
    return { rows, out, outLogp };
  }

  private submit(step: Omit<Step, 'read'>): Step {
    const read = this.gpu.stage(step.out);
    const readLogp = step.outLogp ? this.gpu.stage(step.outLogp) : undefined;
    this.gpu.flush();
    return { ...step, read, readLogp };
  }

  private releaseStep(step: Step): void {
    step.out.release();
    step.outLogp?.release();
  }

  /**
   * Moves pending rows into free slots (prefill or prefix copy, see the header) and returns them.
   * The prefills are recorded first (prefillAll), the copies together after them.
   */
  private admit(): Row[] {
    const entering: Row[] = [];
    const prefills: Prefill[] = [];
    const copies: SlotCopy[] = [];
    const sources = new Set<number>();
    const targets = new Set<number>();
    while (this.free.length > 0 && this.next < this.rows.length) {
      const row = this.rows[this.next++]!;
      const p = row.prompt;
      // a freed slot that already holds this prompt needs nothing; else take one no copy reads
      let at = this.free.findIndex((s) => this.slotPrompt[s] === p);
      const ready = at >= 0;
      if (!ready) at = findLastIndex(this.free, (s) => !sources.has(s));
      if (at < 0) {
        this.next--; // every free slot is a copy source this step: the row waits for the next one
        break;
      }
      const slot = this.free.splice(at, 1)[0]!;
      row.slot = slot;
      if (!ready) {
        const source = this.slotPrompt.findIndex((q, s) => q === p && !targets.has(s));
        if (source >= 0) {
          copies.push({ from: source, to: slot, positions: this.prompts[p]!.length });
          sources.add(source);
          targets.add(slot);
        } else {
          prefills.push({ prompt: p, slot });
        }
        this.slotPrompt[slot] = p;
      }
      entering.push(row);
    }
    this.prefillAll(prefills);
    if (copies.length > 0) this.cache.copySlots(copies);
    return entering;
  }

  /**
   * Prefills prompts into their slots, keeping each one's last-position logits in promptLogits:
   * prompts of similar length together in one forward, each padded on the right to the longest of
   * its group (ForwardOptions.lengths). A pass of a small model costs mostly a fixed amount a
   * dispatch, so eight 32-token prompts in one pass cost little more than one alone.
   */
  private prefillAll(prefills: Prefill[]): void {
    const { gpu, V } = this;
    for (const group of prefillGroups(prefills.map((f) => this.prompts[f.prompt]!.length))) {
      const members = group.map((i) => prefills[i]!);
      const lengths = members.map((f) => this.prompts[f.prompt]!.length);
      const T = Math.max(...lengths);
      const tokens = members.map((f) => padRight(this.prompts[f.prompt]!, T));
      const logits = this.model.forward(tokens, this.cache, members.map((f) => f.slot), members.map(() => 0), { lastOnly: true, lengths });
      if (members.length === 1) this.promptLogits.set(members[0]!.prompt, logits);
      else {
        members.forEach((f, i) => {
          const own = gpu.empty([1, 1, V], 'f32', 'sampleBatch.promptLogits');
          gpu.copy(logits, own, i * V * 4, 0, V * 4);
          this.promptLogits.set(f.prompt, own);
        });
        logits.release();
      }
    }
  }

  /** First tokens (step 0) of the entering rows, from their prompts' last logits, into out[offset..]. */
  private sampleFirst(entering: Row[], out: Tensor, offset: number, outLogp?: Tensor): void {
    const { gpu, V } = this;
    const logits = gpu.empty([entering.length, V], 'f32', 'sampleBatch.first');
    entering.forEach((r, i) => gpu.copy(this.promptLogits.get(r.prompt)!, logits, 0, i * V * 4, V * 4));
    this.sampleRows(logits, entering, out, offset, outLogp);
    logits.release();
    // a prompt's logits are done with once its last sample has entered
    for (const r of entering) {
      if (r.sample === this.opts.samples - 1) {
        this.promptLogits.get(r.prompt)?.release();
        this.promptLogits.delete(r.prompt);
      }
    }
  }

  /**
   * Samples logits [R, V] (row i belongs to rows[i]) into out[offset..offset+R): one sample call per
   * run of equal token indices (rows ordered by token index make one run a wave), each row on its
   * own stream. A row's token index is its ids' length, plus `ahead` for a step recorded ahead.
   */
  private sampleRows(logits: Tensor, rows: Row[], out: Tensor, offset: number, outLogp?: Tensor, ahead = 0): void {
    const { gpu, V } = this;
    const R = rows.length;
    const streams = gpu.upload(Uint32Array.from(rows, (r) => r.stream), [R], 'u32', 'sampleBatch.streams');
    for (let a = 0; a < R; ) {
      let b = a + 1;
      while (b < R && (this.greedy || rows[b]!.ids.length === rows[a]!.ids.length)) b++;
      const n = b - a;
      const whole = n === R;
      const lg = whole ? logits : gpu.empty([n, V], 'f32', 'sampleBatch.run');
      const st = whole ? streams : gpu.empty([n], 'u32', 'sampleBatch.runStreams');
      if (!whole) {
        gpu.copy(logits, lg, a * V * 4, 0, n * V * 4);
        gpu.copy(streams, st, a * 4, 0, n * 4);
      }
      const ids = sample(gpu, lg, this.opts, rows[a]!.ids.length + ahead, undefined, st);
      gpu.copy(ids, out, 0, (offset + a) * 4, n * 4);
      if (outLogp) {
        const t = this.greedy ? 1 : (this.opts.temperature ?? 1);
        const lp = tokenLogprobs(gpu, lg, ids, { temperature: t });
        gpu.copy(lp.logp, outLogp, 0, (offset + a) * 4, n * 4);
        lp.logp.release();
        lp.entropy.release();
      }
      ids.release();
      if (!whole) {
        lg.release();
        st.release();
      }
      a = b;
    }
    streams.release();
  }

  /** A sampled token for a row: a stop ends it, else it is kept and the budget may end it. */
  private take(row: Row, token: number, logp?: number): void {
    if (logp !== undefined) (row.logprobs ??= []).push(logp);
    if (this.stop.has(token)) {
      row.finish = 'stop';
      row.stopId = token;
    } else {
      row.ids.push(token);
      if (row.ids.length >= row.budget) row.finish = row.atBudget;
    }
    if (row.finish !== undefined) {
      this.free.push(row.slot);
      this.done++;
    }
  }

  dispose(): void {
    for (const t of this.promptLogits.values()) t.release();
    this.promptLogits.clear();
  }
}

function findLastIndex<T>(xs: readonly T[], pred: (x: T) => boolean): number {
  for (let i = xs.length - 1; i >= 0; i--) if (pred(xs[i]!)) return i;
  return -1;
}

/** Validates the request (PonderError naming the bad value) and lays out the rows in (prompt, sample) order. */
function checkRequest(model: Transformer, prompts: number[][], opts: BatchSampleOptions): Row[] {
  const bad = (m: string): never => {
    throw new PonderError('BAD_INPUT', `sampleBatch: ${m}`);
  };
  const ctx = model.config.max_position_embeddings;
  const V = model.config.vocab_size;
  const k = opts.samples;
  if (!Number.isInteger(k) || k < 1 || k > MAX_SAMPLES) bad(`samples must be an integer in 1..${MAX_SAMPLES}, got ${k}`);
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 1) bad(`max tokens must be a positive integer, got ${opts.maxTokens}`);
  if (opts.maxRows !== undefined && (!Number.isInteger(opts.maxRows) || opts.maxRows < 1)) bad(`maxRows must be a positive integer, got ${opts.maxRows}`);
  if (opts.streams !== undefined && opts.streams.length !== prompts.length) bad(`${opts.streams.length} streams for ${prompts.length} prompts`);
  for (const id of opts.stopIds ?? []) if (!Number.isInteger(id)) bad(`stop id ${id} is not an integer`);
  resolveSampling(opts, V);
  const rows: Row[] = [];
  prompts.forEach((ids, p) => {
    if (ids.length === 0) bad(`prompt ${p} is empty`);
    if (ids.length >= ctx) bad(`prompt ${p} is ${ids.length} tokens; this model's context is ${ctx}`);
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= V) bad(`prompt ${p} has token id ${id}, outside the vocabulary 0..${V - 1}`);
    const s = opts.streams?.[p] ?? p;
    if (!Number.isInteger(s) || s < 0 || s >= 2 ** PROMPT_STREAM_BITS) bad(`stream ${s} of prompt ${p} must be an integer in 0..${2 ** PROMPT_STREAM_BITS - 1}`);
    const budget = Math.min(opts.maxTokens, ctx - ids.length);
    for (let j = 0; j < k; j++) {
      rows.push({ prompt: p, sample: j, stream: rowStream(s, j), slot: -1, ids: [], budget, atBudget: budget < opts.maxTokens ? 'context' : 'length' });
    }
  });
  return rows;
}
