/**
 * The prompts an online stage (GRPO, rollout DPO, self-evolution, RFT) draws from: a fixed list of
 * problems, visited in seeded shuffled epochs, with MiMo's *easy pool* beside the main draw.
 *
 *   main draw   problem order = epochPermutation(n, seed, epoch) (data/batches.ts), position = the
 *               cursor {epoch, index}; problems that sit in the easy pool are skipped.
 *   easy pool   a problem whose whole group was solved (pass rate 1) carries no GRPO signal, so it
 *               leaves the main draw. Dropping it for good destabilised MiMo's training, so each draw
 *               comes from the easy pool with probability `easyRate` (10% in MiMo) when the pool is
 *               not empty; a problem drawn from there that is no longer always solved goes back to
 *               the main draw.
 *
 * Every random choice is Philox(seed) keyed by the draw counter (domain "pool"), so the sequence of
 * draws is a pure function of (seed, the problems, the outcomes reported) and the state() it can be
 * resumed from is a few integers: a resumed run draws exactly what an uninterrupted one does.
 */
import { epochPermutation } from '../../data/batches.js';
import { PonderError } from '../../errors.js';
import { drawU32, u32ToUnit } from '../../sample/rng.js';

/** Philox counter word 3 for pool draws (ASCII "pool"). */
export const POOL_DOMAIN = 0x706f6f6c;

export interface PoolState {
  epoch: number;
  index: number;
  /** draws made so far (keys the easy-pool coin flips and picks) */
  draws: number;
  /** problem indices in the easy pool, in the order they entered */
  easy: number[];
}

export interface Draw {
  /** index into the problem list */
  problem: number;
  /** came from the easy pool */
  easy: boolean;
}

export class ProblemPool {
  private epoch = 0;
  private index = 0;
  private draws = 0;
  private readonly easy: number[] = [];
  private readonly inEasy = new Set<number>();
  private perm?: Uint32Array;
  private permEpoch = -1;

  constructor(
    readonly size: number,
    private readonly seed: number,
    /** probability that a draw comes from a non-empty easy pool; 0 = no easy pool (solved problems stay in the main draw) */
    private readonly easyRate: number,
    state?: PoolState,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new PonderError('BAD_INPUT', `problem pool: needs at least one problem (got ${size})`);
    if (!(easyRate >= 0 && easyRate <= 1)) throw new PonderError('BAD_INPUT', `problem pool: easy rate must be in [0, 1] (got ${easyRate})`);
    if (state) this.restore(state);
  }

  /** The next problem to pose. */
  next(): Draw {
    const d = this.draws++;
    if (this.easyRate > 0 && this.easy.length > 0) {
      const [coin, pick] = drawU32(this.seed, d, 0, 0, POOL_DOMAIN);
      // every problem in the easy pool: nothing is left in the main draw, so draw from the pool
      if (u32ToUnit(coin!) < this.easyRate || this.inEasy.size >= this.size) return { problem: this.easy[pick! % this.easy.length]!, easy: true };
    }
    for (;;) {
      if (this.index >= this.size) {
        this.epoch++;
        this.index = 0;
      }
      const p = this.order()[this.index++]!;
      if (!this.inEasy.has(p)) return { problem: p, easy: false };
    }
  }

  /**
   * What a group of samples of `problem` showed: `solved` = every sample was correct. With an easy
   * pool, a solved problem moves into it and an easy one that was not solved moves back out.
   */
  report(problem: number, solved: boolean): void {
    if (this.easyRate === 0) return;
    if (solved && !this.inEasy.has(problem)) {
      this.inEasy.add(problem);
      this.easy.push(problem);
    } else if (!solved && this.inEasy.has(problem)) {
      this.inEasy.delete(problem);
      this.easy.splice(this.easy.indexOf(problem), 1);
    }
  }

  get easyCount(): number {
    return this.easy.length;
  }

  state(): PoolState {
    return { epoch: this.epoch, index: this.index, draws: this.draws, easy: [...this.easy] };
  }

  private restore(s: PoolState): void {
    const ok = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
    if (!ok(s.epoch) || !ok(s.index) || s.index > this.size || !ok(s.draws) || !Array.isArray(s.easy) || !s.easy.every((p) => ok(p) && p < this.size)) {
      throw new PonderError('BAD_INPUT', `problem pool: invalid saved state ${JSON.stringify(s).slice(0, 200)} for ${this.size} problems`);
    }
    this.epoch = s.epoch;
    this.index = s.index;
    this.draws = s.draws;
    for (const p of s.easy) {
      this.inEasy.add(p);
      this.easy.push(p);
    }
  }

  private order(): Uint32Array {
    if (this.permEpoch !== this.epoch || !this.perm) {
      this.perm = epochPermutation(this.size, this.seed, this.epoch);
      this.permEpoch = this.epoch;
    }
    return this.perm;
  }
}
