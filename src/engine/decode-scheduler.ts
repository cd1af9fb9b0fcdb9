import type { StreamDecoder, Tokenizer } from '../data/tokenizer.js';
import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { KvCache } from '../model/kv-cache.js';
import type { Transformer } from '../model/transformer.js';
import { resolveSampling, sample, type SamplingOptions } from '../sample/sampler.js';

/**
 * Continuous batching: one long-lived decode loop over one model and one KV cache of `parallel`
 * slots, shared by every sequence submitted to it (the server's requests).
 *
 * A loop iteration ("step"):
 *   1. sequences that finished, were aborted (signal) or whose consumer stopped reading leave and
 *      free their slots;
 *   2. queued sequences (FIFO) take free slots and are prefilled, each alone (T = its prompt length);
 *      a prompt equal to one prefilled in the same step (the n choices of one request) copies that
 *      slot's K/V positions instead of running its own forward;
 *   3. ONE forward runs over all rows already decoding (T = 1, each row its own slot and start: the
 *      transformer's batched decode of sequences of different lengths);
 *   4. every row — the prefilled ones and the decoding ones — is sampled, then the ids are read back
 *      (4 bytes a row, one readback per step) and streamed to each sequence's consumer.
 * A sequence prefilled in step s joins the decode batch in step s + 1.
 *
 * Reproducibility: a sequence's draw at its k-th token depends only on (its seed, its stream, k), the
 * sampler's Philox coordinates (src/sample/sampler.ts), never on the batch it shares. The sampler
 * takes one seed, step and option set per call, so rows are grouped by (temperature, top-k, top-p,
 * min-p, seed, step) and each group is sampled in one call with `rowStreams` = the rows' streams;
 * greedy rows form one group whatever their seeds. A sequence with stream 0 gets exactly the tokens
 * `generate()` gives with the same seed (there a lone row's stream is its row index, 0), up to the
 * float rounding of the batched matmuls. The rows of a group are gathered into one [G, V] logits
 * tensor by buffer copies (G ≤ parallel rows of V floats: cheap next to the forward).
 */

export interface DecodeRequest extends SamplingOptions {
  maxTokens: number;
  /** extra stop ids besides the tokenizer's EOS / end-of-turn ids */
  stopIds?: number[];
  signal?: AbortSignal;
  /** the RNG stream (u32, default 0): the choices of one prompt share a seed and differ in stream */
  stream?: number;
}

export type FinishReason = 'stop' | 'length' | 'aborted';

export type DecodeEvent =
  | { type: 'token'; id: number; text: string }
  | { type: 'done'; ids: number[]; text: string; finishReason: FinishReason; promptTokens: number; completionTokens: number };

export interface SchedulerStats {
  slots: number;
  /** sequences holding a slot */
  live: number;
  queued: number;
  /** decode forwards run so far */
  steps: number;
  /** the most rows one decode forward ran over */
  maxBatch: number;
}

/** One submitted sequence: its state in the loop and the channel its events go out through. */
class Sequence {
  slot = -1;
  ids: number[] = [];
  text = '';
  /** tokens sampled so far: the next draw's `step` */
  drawn = 0;
  last = -1;
  done = false;
  cancelled = false;
  private events: DecodeEvent[] = [];
  private failure: unknown;
  private wake: (() => void) | undefined;
  readonly decoder: StreamDecoder;

  constructor(
    readonly promptIds: number[],
    readonly opts: DecodeRequest,
    readonly budget: number,
    readonly stop: Set<number>,
    tokenizer: Tokenizer,
  ) {
    this.decoder = tokenizer.createStreamDecoder({ skipSpecialTokens: true });
  }

  get leaving(): boolean {
    return this.cancelled || this.opts.signal?.aborted === true;
  }

  emit(e: DecodeEvent): void {
    this.events.push(e);
    this.wake?.();
  }

  fail(e: unknown): void {
    this.failure = e;
    this.done = true;
    this.wake?.();
  }

  finish(reason: FinishReason): void {
    if (this.done) return;
    const tail = this.decoder.flush();
    if (tail) {
      this.text += tail;
      this.emit({ type: 'token', id: -1, text: tail });
    }
    this.done = true;
    this.emit({ type: 'done', ids: this.ids, text: this.text, finishReason: reason, promptTokens: this.promptIds.length, completionTokens: this.ids.length });
  }

  async *stream(): AsyncGenerator<DecodeEvent> {
    try {
      for (;;) {
        const e = this.events.shift();
        if (e) {
          yield e;
          if (e.type === 'done') return;
          continue;
        }
        if (this.failure !== undefined) throw this.failure;
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
      }
    } finally {
      // the consumer stopped reading (or finished): the loop drops the sequence at the next step
      this.cancelled = true;
    }
  }
}

/** A row to sample: which logits tensor holds it, at which row. */
interface PendingRow {
  seq: Sequence;
  logits: Tensor;
  row: number;
}

export class DecodeScheduler {
  private readonly cache: KvCache;
  private readonly slots: (Sequence | undefined)[];
  private readonly queue: Sequence[] = [];
  private readonly vocab: number;
  private running: Promise<void> | undefined;
  private closed = false;
  private steps = 0;
  private maxBatch = 0;

  constructor(
    private readonly gpu: Gpu,
    private readonly model: Transformer,
    private readonly tokenizer: Tokenizer,
    readonly parallel: number,
    /** KV positions per slot: a prompt must be shorter, prompt + completion at most this long (default and maximum: the model's context) */
    readonly contextLimit = model.config.max_position_embeddings,
  ) {
    if (!Number.isInteger(parallel) || parallel < 1) throw new PonderError('BAD_INPUT', `parallel must be a positive integer, got ${parallel}`);
    const modelContext = model.config.max_position_embeddings;
    if (!Number.isInteger(contextLimit) || contextLimit < 2 || contextLimit > modelContext) {
      throw new PonderError('BAD_INPUT', `the context must be an integer in 2..${modelContext} (the model's), got ${contextLimit}`);
    }
    this.cache = model.createCache(parallel, contextLimit);
    this.slots = new Array<Sequence | undefined>(parallel).fill(undefined);
    this.vocab = model.config.vocab_size;
  }

  get stats(): SchedulerStats {
    return {
      slots: this.parallel,
      live: this.slots.filter((s) => s !== undefined).length,
      queued: this.queue.length,
      steps: this.steps,
      maxBatch: this.maxBatch,
    };
  }

  /**
   * Queues one sequence. Bad input (empty or too long prompt, bad sampling options) throws here,
   * before anything runs. The events: a token per new token (text may be '' while a UTF-8 character
   * is incomplete), then one done. Stopping the iteration early cancels the sequence.
   */
  submit(promptIds: number[], opts: DecodeRequest): AsyncGenerator<DecodeEvent> {
    if (this.closed) throw new PonderError('INTERRUPTED', 'the scheduler is closed');
    const limit = this.contextLimit;
    if (promptIds.length === 0) throw new PonderError('BAD_INPUT', 'the prompt is empty');
    if (promptIds.length >= limit) throw new PonderError('BAD_INPUT', `the prompt is ${promptIds.length} tokens; the context is ${limit}`);
    if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 1) throw new PonderError('BAD_INPUT', `max tokens must be a positive integer, got ${opts.maxTokens}`);
    const stream = opts.stream ?? 0;
    if (!Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) throw new PonderError('BAD_INPUT', `stream must be an integer in 0..2^32-1, got ${stream}`);
    resolveSampling(opts, this.vocab);
    const budget = Math.min(opts.maxTokens, limit - promptIds.length);
    const seq = new Sequence([...promptIds], opts, budget, new Set([...this.tokenizer.eosIds, ...(opts.stopIds ?? [])]), this.tokenizer);
    this.queue.push(seq);
    this.kick();
    return seq.stream();
  }

  /** Cancels every queued and running sequence (their streams end with 'aborted'), waits for the loop, frees the cache. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of [...this.queue, ...this.slots]) if (s) s.cancelled = true;
    await this.running;
    for (const s of this.queue.splice(0)) s.finish('aborted');
    this.cache.dispose();
  }

  /** Starts the loop unless it runs; it ends when nothing is queued or live (and restarts if work came in meanwhile). */
  private kick(): void {
    if (this.running) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.closed) this.kick();
    });
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0 || this.slots.some((s) => s !== undefined)) {
      try {
        await this.step();
      } catch (e) {
        // a GPU failure ends every sequence in flight with the error; the loop stays usable
        for (let i = 0; i < this.slots.length; i++) {
          this.slots[i]?.fail(e);
          this.slots[i] = undefined;
        }
      }
    }
  }

  private async step(): Promise<void> {
    // 1. leave
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s && (s.done || s.leaving)) {
        s.finish('aborted'); // no-op for one that finished by itself
        this.slots[i] = undefined;
      }
    }
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const s = this.queue[i]!;
      if (s.leaving) {
        this.queue.splice(i, 1);
        s.finish('aborted');
      }
    }
    // 3 first (it reads the slots as they were): one forward over the rows already decoding
    const pending: PendingRow[] = [];
    const decoding = this.slots.filter((s): s is Sequence => s !== undefined);
    if (decoding.length > 0) {
      const logits = this.model.forward(
        decoding.map((s) => [s.last]),
        this.cache,
        decoding.map((s) => s.slot),
        decoding.map((s) => s.promptIds.length + s.drawn - 1),
        { lastOnly: true },
      );
      decoding.forEach((seq, row) => pending.push({ seq, logits, row }));
      this.steps++;
      this.maxBatch = Math.max(this.maxBatch, decoding.length);
    }
    // 2. join: prefill queued sequences into free slots; a prompt already prefilled in this step
    // (the n choices of one request) is copied from that slot instead, and shares its logits
    const prefilled: PendingRow[] = [];
    for (let slot = 0; slot < this.slots.length && this.queue.length > 0; slot++) {
      if (this.slots[slot]) continue;
      const seq = this.queue.shift()!;
      seq.slot = slot;
      this.slots[slot] = seq;
      const twin = prefilled.find((p) => sameIds(p.seq.promptIds, seq.promptIds));
      if (twin) {
        this.copyPositions(twin.seq.slot, slot, seq.promptIds.length);
        pending.push({ seq, logits: twin.logits, row: 0 });
        continue;
      }
      const logits = this.model.forward([seq.promptIds], this.cache, [slot], [0], { lastOnly: true });
      prefilled.push({ seq, logits, row: 0 });
      pending.push({ seq, logits, row: 0 });
    }
    if (pending.length === 0) return;
    // 4. sample every row, read the ids back once
    const ids = await this.sampleRows(pending);
    pending.forEach((p, i) => this.accept(p.seq, ids[i]!));
  }

  /**
   * Copies positions [0, n) of every layer's K and V from one slot to another (layout [S, Hkv, L, D]:
   * one run of n·D floats per head). WebGPU forbids a copy within one buffer, so each tensor goes
   * through a scratch buffer; the copies run in recording order, so one scratch serves all.
   */
  private copyPositions(from: number, to: number, n: number): void {
    const { num_key_value_heads: heads, head_dim: dim } = this.model.config;
    const L = this.cache.maxPositions;
    const run = n * dim * 4;
    const scratch = this.gpu.empty([heads * n * dim], 'f32', 'scheduler.kvCopy');
    for (const t of [...this.cache.k, ...this.cache.v]) {
      for (let h = 0; h < heads; h++) this.gpu.copy(t, scratch, (from * heads + h) * L * dim * 4, h * run, run);
      for (let h = 0; h < heads; h++) this.gpu.copy(scratch, t, h * run, (to * heads + h) * L * dim * 4, run);
    }
    scratch.release(); // back to the pool: anything that reuses it is recorded after these copies
  }

  /** Samples each pending row with its own options, seed, stream and step; returns the ids in `rows` order. */
  private async sampleRows(rows: PendingRow[]): Promise<Uint32Array> {
    const gpu = this.gpu;
    const groups = new Map<string, number[]>();
    rows.forEach((p, i) => {
      const key = groupKey(p.seq);
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    });
    const all = gpu.empty([rows.length], 'u32', 'scheduler.ids');
    const scratch: Tensor[] = [];
    const rowBytes = this.vocab * 4;
    for (const members of groups.values()) {
      const first = rows[members[0]!]!;
      // a lone row that is a whole logits tensor needs no gathering
      let logits: Tensor;
      if (members.length === 1 && first.logits.size === this.vocab) logits = first.logits.reshape([1, this.vocab]);
      else {
        logits = gpu.empty([members.length, this.vocab], 'f32', 'scheduler.groupLogits');
        scratch.push(logits);
        members.forEach((r, g) => gpu.copy(rows[r]!.logits, logits, rows[r]!.row * rowBytes, g * rowBytes, rowBytes));
      }
      const streams = gpu.upload(new Uint32Array(members.map((r) => rows[r]!.seq.opts.stream ?? 0)), [members.length], 'u32', 'scheduler.streams');
      const out = sample(gpu, logits, first.seq.opts, first.seq.drawn, undefined, streams);
      scratch.push(streams, out);
      members.forEach((r, g) => gpu.copy(out, all, g * 4, r * 4, 4));
    }
    const ids = await gpu.readU32(all);
    all.release();
    for (const t of scratch) t.release();
    for (const t of new Set(rows.map((p) => p.logits))) t.release(); // forward hands the caller fresh logits
    return ids;
  }

  /** One sampled token for `seq`: stop, or stream it; finish at the budget. */
  private accept(seq: Sequence, id: number): void {
    seq.drawn++;
    if (seq.leaving) return; // leaves at the next step
    if (seq.stop.has(id)) return seq.finish('stop');
    seq.ids.push(id);
    seq.last = id;
    const piece = seq.decoder.push(id);
    seq.text += piece;
    seq.emit({ type: 'token', id, text: piece });
    if (seq.ids.length >= seq.budget) seq.finish('length');
  }
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Rows that may share one sample() call: greedy rows all together, sampled rows by options, seed and step. */
function groupKey(seq: Sequence): string {
  const o = seq.opts;
  if ((o.temperature ?? 1) === 0) return 'greedy';
  return JSON.stringify([o.temperature ?? 1, o.topK ?? 0, o.topP ?? 1, o.minP ?? 0, o.seed ?? 0, seq.drawn]);
}
