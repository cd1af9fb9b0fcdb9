/**
 * Seeded draws for task generators. Randomness is Philox (src/sample/rng.ts) keyed by the seed, with
 * counter (block, 0, stream, TASK_DOMAIN): a generator gives each problem its own stream (the problem
 * index), so problem i is a pure function of (seed, i, options), independent of n and the platform.
 */
import { drawU32 } from '../sample/rng.js';

/** Philox counter word 3 for task generation (ASCII "task"): never shares draws with the sampler's domains. */
export const TASK_DOMAIN = 0x7461736b;

/** Successive uniform u32s of one Philox stream. */
export class U32Stream {
  private block = 0;
  private buf: Uint32Array = new Uint32Array(0);
  private pos = 0;
  constructor(
    private readonly seed: number,
    private readonly stream: number,
  ) {}

  next(): number {
    if (this.pos >= this.buf.length) {
      this.buf = drawU32(this.seed, this.stream, 0, this.block++, TASK_DOMAIN);
      this.pos = 0;
    }
    return this.buf[this.pos++]!;
  }

  /** Uniform integer in [0, range) by rejection (no modulo bias); 1 <= range <= 2^32. */
  below(range: number): number {
    const limit = Math.floor(4294967296 / range) * range;
    for (;;) {
      const x = this.next();
      if (x < limit) return x % range;
    }
  }

  /** Uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }
}
