import { PonderError } from '../errors.js';
import type { Gpu, StagedRead } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { KvCache } from '../model/kv-cache.js';
import type { Transformer } from '../model/transformer.js';
import { argmax } from '../ops/argmax.js';
import { drawFrom, probabilityOf, residual, samplingDistribution, uniformAt, type TokenDistribution } from '../sample/distribution.js';
import { RNG_DOMAIN } from '../sample/rng.js';
import { resolveSampling, type ResolvedSampling, type SamplingOptions } from '../sample/sampler.js';

/**
 * Self-speculative decoding with the model's own MTP modules (one sequence): greedy, or sampled
 * with speculative-sampling acceptance so that the tokens are distributed exactly as plain sampling's.
 *
 * State: the trunk's KV cache holds positions 0..L-1; tokens[0..L] are known, tokens[L] being the
 * newest token (sampled but not yet run through the trunk); `hist` keeps the trunk's lm_head input
 * (its "hidden") for rows 0..L-1. One round:
 *
 *   1. Draft. MTP module k at row t combines the hidden of row t from the stage before it with token
 *      t+k+1 and predicts token t+k+2. Every module runs over rows s..L-1 (s: the first row some
 *      module has not yet seen with final inputs; see below), module k feeding module k+1 its
 *      output hidden; the argmax of module k's logits at row L-1 is the draft d[k] of token L+k+1,
 *      which module k+1 reads as its token at row L-1.
 *   2. Verify. The trunk runs tokens[L], d[0..D-1] at positions L..L+D in one forward. g[j], the
 *      argmax of its row j, is the greedy token for position L+j+1; drafts are accepted while
 *      d[j] == g[j]. With a accepted, the new tokens are d[0..a-1] and g[a] (the trunk's own token
 *      where the first draft failed, or one past the last draft): 1..D+1 tokens for one trunk pass,
 *      and exactly the tokens plain greedy decoding would produce.
 *   3. Roll back. The trunk's cache is simply treated as holding L+a+1 positions: entries past that
 *      were computed from rejected drafts and are overwritten by the next round (attention never
 *      reads past a row's own position). The hidden rows L..L+a go to `hist`. Module k's row t is
 *      final when its inputs are: its token t+k+1 is known or an accepted draft (t+k+1 <= L+a) and
 *      t < L; rows past that were computed from a rejected draft, so the next round starts again at
 *      s = the first row not final for every module.
 *
 * Greedy: one read-back per round. The drafts (argmax on the GPU) go straight into the next
 * module's token input and the verifying forward's, and are read back together with the trunk's
 * tokens. The first token after the prompt comes from the prefill's own read-back.
 *
 * Greedy rounds are recorded one ahead: before round n is read back, round n+1 is recorded and
 * submitted on the assumption that round n accepts all its D drafts (it does ~95% of the time on the
 * bundled model), so its L is L_n + D + 1, its modules run over rows L_n..L_n+D and the tokens it
 * needs past tokens[L_n] are round n's g_0..g_D, which it copies on the GPU. The GPU then never
 * idles while JavaScript records a round. When round n rejects a draft, round n+1 is dropped: its
 * staged read is cancelled, and everything it wrote (trunk and module cache entries, hist rows)
 * lies at rows the next round recomputes before anything reads them, as with a rejected draft's.
 *
 * Sampling (temperature > 0, with the same top-k / top-p / min-p rules as the GPU sampler;
 * sample/distribution.ts): module k's logits at row L-1 are read back, q_k is the sampling
 * distribution over them and the draft d[k] is drawn from q_k. The trunk's logits of the verifying
 * forward give p_j for positions L+1..L+D+1. Draft j is accepted with probability
 * min(1, p_j(d[j]) / q_j(d[j])); the first rejected one is replaced by a draw from
 * norm(max(0, p_j - q_j)), and when all are accepted one more token is drawn from p_D. Each kept
 * token is then distributed as p (Leviathan et al. 2023, Chen et al. 2023), so the output has the
 * distribution of plain sampling, not its exact tokens. Draws are Philox(seed) uniforms in their own
 * RNG domain, indexed by round and role, so a seed gives the same text every time.
 */
export interface SpeculativeStats {
  /** verification rounds (trunk forwards after the prefill) */
  rounds: number;
  /** tokens drafted by the MTP modules */
  drafted: number;
  /** drafts the trunk accepted */
  accepted: number;
}

/** A greedy round recorded and submitted, not yet read back (SpeculativeDecoder.recordRound). */
interface Round {
  /** trunk positions before it */
  L: number;
  /** its drafts */
  D: number;
  /** u32 [2D + 2]: tokens[L], the drafts d_0..d_{D-1}, the trunk's tokens g_0..g_D */
  io: Tensor;
  /** of io[1..2D+1] */
  read: StagedRead;
}

export class SpeculativeDecoder {
  readonly stats: SpeculativeStats = { rounds: 0, drafted: 0, accepted: 0 };
  /** the latest round's drafts and how many of them were accepted */
  lastRound?: { drafts: number[]; accepted: number };
  private readonly cache: KvCache;
  private readonly mtpCache: KvCache;
  /** trunk hidden rows [capacity, hidden] */
  private readonly hist: Tensor;
  private readonly depth: number;
  private readonly H: number;
  private tokens: number[] = [];
  /** trunk positions in the cache */
  private L = 0;
  /** per module: leading rows whose KV entries came from final inputs */
  private final: number[];
  private readonly sampling: ResolvedSampling;
  /** the greedy round recorded and submitted ahead of the one being read back (step) */
  private ahead?: Round;
  private disposed = false;

  /**
   * `capacity`: positions the sequence may reach (prompt + new tokens); the caches get room for one
   * round's drafts past it. `depth`: how many MTP modules to draft with (default: all of them).
   * `sampling`: as the GPU sampler takes it (default: greedy). `ahead: false` records each greedy
   * round only after the one before it is read back (tests compare the two ways).
   */
  constructor(
    private readonly gpu: Gpu,
    private readonly model: Transformer,
    private readonly capacity: number,
    depth = model.mtpDepth,
    sampling: SamplingOptions = { temperature: 0 },
    private readonly opts: { ahead?: boolean } = {},
  ) {
    this.sampling = resolveSampling(sampling, model.config.vocab_size);
    if (model.mtpDepth === 0) throw new PonderError('BAD_INPUT', 'this model has no MTP layers to draft with (num_nextn_predict_layers is 0)');
    if (!Number.isInteger(depth) || depth < 1 || depth > model.mtpDepth) {
      throw new PonderError('BAD_INPUT', `MTP draft depth must be 1..${model.mtpDepth} for this model, got ${depth}`);
    }
    this.depth = depth;
    this.H = model.config.hidden_size;
    const room = capacity + depth + 1;
    this.cache = model.createCache(1, room);
    this.mtpCache = model.createMtpCache(1, room);
    this.hist = gpu.empty([room, this.H], 'f32', 'mtp.trunk_hidden');
    this.final = new Array<number>(depth).fill(0);
  }

  /**
   * Runs every shape a round can use once (module forwards over 1..2·depth rows, trunk forwards over
   * 2..depth+1 tokens) on throw-away inputs, so their pipelines are compiled before anything is timed.
   * Only before prefill: it writes cache entries that the prefill and the first rounds overwrite.
   */
  async warmUp(): Promise<void> {
    if (this.L > 0) throw new PonderError('BAD_INPUT', 'warmUp: only before prefill');
    const { gpu, H } = this;
    for (let rows = 1; rows <= Math.min(2 * this.depth, this.capacity - 1); rows++) {
      const hidden = gpu.empty([rows, H], 'f32', 'mtp.warm');
      gpu.fill(hidden, 1);
      const zeros = gpu.upload(new Uint32Array(rows), [rows], 'u32', 'mtp.warm_tokens');
      for (let k = 0; k < this.depth; k++) {
        if (this.sampling.temperature === 0) this.model.mtpGreedy(k, hidden, zeros, this.mtpCache, [0], [0], hidden).release();
        else this.model.mtpForward(k, hidden, zeros, this.mtpCache, [0], [0], { lastOnly: true, hiddenOut: hidden }).release();
      }
      zeros.release();
      hidden.release();
    }
    for (let n = 2; n <= Math.min(this.depth + 1, this.capacity); n++) this.trunkGreedy(new Array<number>(n).fill(0), 0).release();
    await gpu.sync();
  }

  /** Runs the prompt through the trunk; returns the first new token (greedy). */
  async prefill(promptIds: number[]): Promise<number> {
    if (this.L > 0) throw new PonderError('BAD_INPUT', 'prefill: this decoder already has a prompt');
    if (promptIds.length === 0 || promptIds.length >= this.capacity) {
      throw new PonderError('BAD_INPUT', `prefill: the prompt must be 1..${this.capacity - 1} tokens, got ${promptIds.length}`);
    }
    const P = promptIds.length;
    let first: number;
    if (this.sampling.temperature === 0) {
      const next = this.trunkGreedy(promptIds, 0, true);
      first = (await this.gpu.readU32(next))[0]!;
      next.release();
    } else {
      const [p] = await this.trunkDistributions(promptIds, 0, true);
      first = drawFrom(p!, this.uniform(0, 0));
    }
    this.tokens = [...promptIds, first];
    this.L = P;
    await this.catchUp();
    return first;
  }

  /**
   * Part of the prefill: the modules over the prompt rows 0..P-1-depth, whose tokens (up to
   * tokens[P-1]) are all known, so their cache entries are final and the first round runs only its
   * own few rows, not the whole prompt through the modules. The rows' outputs are not needed.
   */
  private async catchUp(): Promise<void> {
    const rows = this.L - this.depth;
    if (rows <= 0) return;
    await this.chainModules(this.depth, (k, prev, s, n, out) => {
      const toks = [Array.from({ length: n }, (_, i) => this.tokens[s + i + k + 1]!)];
      this.model.mtpForward(k, prev, toks, this.mtpCache, [0], [s], { lastOnly: true, hiddenOut: out }).release();
    }, 0, rows);
    this.final.fill(rows);
  }

  /** One draft-and-verify round: the next 1..depth+1 tokens (greedy). */
  async step(): Promise<number[]> {
    if (this.L === 0) throw new PonderError('BAD_INPUT', 'step: prefill first');
    const D = Math.min(this.depth, this.capacity - this.L - 1);
    if (D < 1) throw new PonderError('BAD_INPUT', `step: the sequence is at its capacity of ${this.capacity} positions`);
    if (this.sampling.temperature > 0) return this.sampledStep(D);
    const round = this.ahead ?? (await this.recordRound(this.L, D, Math.min(...this.final.slice(0, D))));
    this.ahead = undefined;
    // the next round, recorded and submitted before this one is read back, on the assumption that
    // this one accepts every draft (the class comment)
    const nextL = round.L + round.D + 1;
    const nextD = Math.min(this.depth, this.capacity - nextL - 1);
    if (nextD >= 1 && this.opts.ahead !== false) this.ahead = await this.recordRound(nextL, nextD, round.L, round);
    const ids = [...(await round.read.result())];
    round.io.release();
    const d = ids.slice(0, round.D);
    const g = ids.slice(round.D);
    let a = 0;
    while (a < round.D && d[a] === g[a]) a++;
    if (a < round.D) this.dropAhead();
    return this.keep(d, a, g[a]!);
  }

  /**
   * Records and submits the greedy round at trunk positions L.. with D drafts, the modules over rows
   * s..L-1. One u32 buffer holds its tokens: [tokens[L], d_0..d_{D-1}, g_0..g_D]; its head is the
   * verifying forward's input (tokens[L] and the drafts at positions L..L+D), its tail what is read
   * back, drafts and the trunk's tokens at once. Tokens not yet on the CPU come from `before`, the
   * round in flight before this one, as if it accepted all its drafts: its g_0..g_D are then the
   * tokens after its L.
   */
  private async recordRound(L: number, D: number, s: number, before?: Round): Promise<Round> {
    const gpu = this.gpu;
    const io = gpu.empty([2 * D + 2], 'u32', 'mtp.round_tokens');
    // tokens[L] first, before anything is recorded: a write into a buffer recorded work uses flushes
    if (L < this.tokens.length) gpu.write(io, Uint32Array.of(this.tokens[L]!));
    else gpu.copy(before!.io, io, (before!.D + 1 + (L - before!.L - 1)) * 4, 0, 4);
    await this.draft(D, io, L, s, before);
    const greedy = this.trunkGreedy(io.view(0, [D + 1]), L);
    gpu.copy(greedy, io, 0, (D + 1) * 4, (D + 1) * 4);
    greedy.release();
    const read = gpu.stage(io.view(1, [2 * D + 1]));
    gpu.flush();
    return { L, D, io, read };
  }

  /** The round recorded ahead was computed from drafts this round rejected: its results are dropped. */
  private dropAhead(): void {
    this.ahead?.read.cancel();
    this.ahead?.io.release();
    this.ahead = undefined;
  }

  /** A sampled round: drafts from q, acceptance against p, a residual or bonus draw (class comment). */
  private async sampledStep(D: number): Promise<number[]> {
    const { L } = this;
    const round = this.stats.rounds + 1;
    const { drafts, qs } = await this.sampledDrafts(D, round);
    const ps = await this.trunkDistributions([this.tokens[L]!, ...drafts], L, false);
    for (let j = 0; j < D; j++) {
      const p = ps[j]!;
      const ratio = probabilityOf(p, drafts[j]!) / probabilityOf(qs[j]!, drafts[j]!);
      if (this.uniform(round, 2 * j + 1) >= Math.min(1, ratio)) return this.keep(drafts, j, drawFrom(residual(p, qs[j]!), this.uniform(round, 2 * D + 1 + j)));
    }
    return this.keep(drafts, D, drawFrom(ps[D]!, this.uniform(round, 3 * D + 1)));
  }

  /** Ends a round: drafts[0..a-1] accepted, then `next`; the caches' bookkeeping (class comment). */
  private keep(drafts: number[], a: number, next: number): number[] {
    const { L } = this;
    const D = drafts.length;
    const fresh = [...drafts.slice(0, a), next];
    for (let k = 0; k < D; k++) this.final[k] = Math.max(0, Math.min(L, L + a - k));
    this.tokens.push(...fresh);
    this.L = L + a + 1;
    this.stats.rounds++;
    this.stats.drafted += D;
    this.stats.accepted += a;
    this.lastRound = { drafts, accepted: a };
    return fresh;
  }

  /** The round's uniform for role `index` (see sampledStep). */
  private uniform(round: number, index: number): number {
    return uniformAt(this.sampling.seed, 0, round, index, RNG_DOMAIN.speculative);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.dropAhead();
    this.cache.dispose();
    this.mtpCache.dispose();
    this.hist.release();
  }

  /**
   * The trunk over `ids` (a list, or u32 tokens on the GPU) at positions from..: their hidden rows go
   * to hist; returns the greedy next token of every row (of the last row only when lastOnly), u32 on
   * the GPU.
   */
  private trunkGreedy(ids: number[] | Tensor, from: number, lastOnly = false): Tensor {
    return this.argmaxRows(this.trunk(ids, from, lastOnly));
  }

  /** The trunk over `ids` at positions from.. (hidden rows to hist): each row's sampling distribution. */
  private trunkDistributions(ids: number[], from: number, lastOnly: boolean): Promise<TokenDistribution[]> {
    return this.distributions(this.trunk(ids, from, lastOnly));
  }

  /** The trunk's forward over `ids` at positions from..: its logits; the rows' hidden states go to hist. */
  private trunk(ids: number[] | Tensor, from: number, lastOnly: boolean): Tensor {
    const n = Array.isArray(ids) ? ids.length : ids.size;
    // hiddenOut is written by a copy, which needs no binding alignment: straight into hist's rows
    const hiddenOut = this.hist.view(from * this.H, [n, this.H]);
    return this.model.forward(Array.isArray(ids) ? [ids] : ids, this.cache, [0], [from], { lastOnly, hiddenOut });
  }

  /**
   * Modules 0..D-1 over rows s..s+rows-1 (by default s..L-1, s the first row some module has not
   * seen with final inputs: the class comment), each fed the previous stage's hidden rows:
   * `run(k, prev, s, rows, out)` runs module k on `prev` [rows, H] (writing its own hidden rows to
   * `out`, module k+1's `prev`) and takes what it needs from it.
   */
  private async chainModules(D: number, run: (k: number, prev: Tensor, s: number, rows: number, out: Tensor) => void | Promise<void>, s = Math.min(...this.final.slice(0, D)), rows = this.L - s): Promise<void> {
    const { gpu, H } = this;
    // a copy of hist's rows, not a view of them: a view's offset moves every round, and a new
    // binding offset is a new bind group (Dawn's createBindGroup costs more than the copy)
    let prev = gpu.empty([rows, H], 'f32', 'mtp.hidden');
    gpu.copy(this.hist, prev, s * H * 4, 0, rows * H * 4);
    try {
      for (let k = 0; k < D; k++) {
        const out = gpu.empty([rows, H], 'f32', 'mtp.hidden');
        try {
          await run(k, prev, s, rows, out);
        } finally {
          prev.release();
          prev = out;
        }
      }
    } finally {
      prev.release();
    }
  }

  /** Sampled drafts: module k's distribution q_k at row L-1 and its draw, fed to module k+1. */
  private async sampledDrafts(D: number, round: number): Promise<{ drafts: number[]; qs: TokenDistribution[] }> {
    const drafts: number[] = [];
    const qs: TokenDistribution[] = [];
    await this.chainModules(D, async (k, prev, s, rows, out) => {
      const known = [...this.tokens, ...drafts];
      const toks = [Array.from({ length: rows }, (_, i) => known[s + i + k + 1]!)];
      const logits = this.model.mtpForward(k, prev, toks, this.mtpCache, [0], [s], { lastOnly: true, hiddenOut: out });
      const [q] = await this.distributions(logits);
      qs.push(q!);
      drafts.push(drawFrom(q!, this.uniform(round, 2 * k)));
    });
    return { drafts, qs };
  }

  /** The sampling distribution of every row of logits [1, R, V] (read back, then released). */
  private async distributions(logits: Tensor): Promise<TokenDistribution[]> {
    const V = logits.shape[logits.shape.length - 1]!;
    const data = await this.gpu.readF32(logits);
    logits.release();
    return Array.from({ length: data.length / V }, (_, r) => samplingDistribution(data.subarray(r * V, (r + 1) * V), this.sampling));
  }

  /**
   * D drafts from modules 0..D-1 over rows s..L-1 (see the class comment) into io[1..D] on the GPU:
   * module k's greedy token at row L-1 (Transformer.mtpGreedy), which module k+1 reads as its token
   * there. Row i of module k reads token x = s+i+k+1: tokens[x] while the CPU has it, else the
   * round `before`'s g (see recordRound), else this round's drafts (already on the GPU).
   */
  private async draft(D: number, io: Tensor, L: number, s: number, before?: Round): Promise<void> {
    const gpu = this.gpu;
    const onCpu = this.tokens.length - 1;
    await this.chainModules(D, (k, prev, _s, rows, out) => {
      const x0 = s + k + 1; // row 0's token
      const known = Array.from({ length: rows }, (_, i) => this.tokens[x0 + i] ?? 0);
      const toks = gpu.upload(Uint32Array.from(known), [rows], 'u32', 'mtp.tokens');
      // tokens x in [lo, hi] from src, where token x sits at index at(x)
      const fill = (src: Tensor, at: (x: number) => number, lo: number, hi: number) => {
        const first = Math.max(lo, x0);
        const last = Math.min(hi, x0 + rows - 1);
        if (first <= last) gpu.copy(src, toks, at(first) * 4, (first - x0) * 4, (last - first + 1) * 4);
      };
      if (before) fill(before.io, (x) => before.D + 1 + (x - before.L - 1), onCpu + 1, before.L + before.D + 1);
      fill(io, (x) => x - L, L + 1, Infinity);
      const ids = this.model.mtpGreedy(k, prev, toks, this.mtpCache, [0], [s], out);
      toks.release();
      gpu.copy(ids, io, (rows - 1) * 4, (1 + k) * 4, 4);
      ids.release();
    }, s, L - s);
  }

  /** argmax of every row of logits [1, R, V] (released here): u32 [R] on the GPU. */
  private argmaxRows(logits: Tensor): Tensor {
    const V = logits.shape[logits.shape.length - 1]!;
    const ids = argmax(this.gpu, logits.reshape([logits.size / V, V]));
    logits.release();
    return ids;
  }
}
