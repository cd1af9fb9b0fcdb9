/**
 * Packing: several examples share one row of T tokens instead of one example per row padded to T.
 *
 * An example of L tokens takes n = min(L − 1, T) slots of a row (at least 1): inputs tokens[0..n-1],
 * targets tokens[1..n] where trained (else IGNORE_INDEX). Its last token is left out when it fits
 * whole: as an input it would predict the next example's first token, which is never a target, so
 * it has no loss and no gradient — the padded row's input at L − 1 has none either. An example longer
 * than T + 1 tokens is cut exactly as toRow cuts it (n = T), so it alone fills a row.
 *
 * Each token also gets its segment id (the example's index within its row: 0, 1, 2, ...) and its
 * position within the example (0..n-1): the model restarts RoPE positions at each example and
 * confines attention to the segment (train/trainable.ts), so every example computes exactly what it
 * would alone in a padded row — the same per-token losses and gradients. A row's unused tail is
 * padding: the pad token, no targets, a segment of its own with positions 0, 1, ...
 *
 * Placement is first fit over the batch's B rows, in the order the examples come (the epoch's
 * shuffled order): each example goes into the first row with room for it; the batch is complete at
 * the first example that fits no row, which then starts the next batch. So a batch is a contiguous
 * run of that order, never skipping an example, and the batch cursor ({epoch, index} of the next
 * example, batches.ts) stays what a checkpoint needs to resume bit-exactly.
 */
import { IGNORE_INDEX, type TokenizedExample } from './example.js';

/** Slots an example takes in a packed row of T tokens. */
export function packedLength(ex: TokenizedExample, T: number): number {
  return Math.max(1, Math.min(ex.tokens.length - 1, T));
}

/** B packed rows of T tokens, row-major [B·T] arrays. */
export interface PackedRows {
  inputs: number[];
  targets: number[];
  /** the example's index within its row (the pad tail: one more) */
  segments: number[];
  /** the token's position within its example (the pad tail counts from 0 too) */
  positions: number[];
  /** targets that are not IGNORE_INDEX */
  validTargets: number;
  /** positions holding an example's token (the rest is padding) */
  usedTokens: number;
  /** rows holding at least one example */
  rowsUsed: number;
}

/** Fills B rows of T tokens first fit; `add` places an example or says it fits no row. */
export class RowPacker {
  private readonly inputs: number[];
  private readonly targets: number[];
  private readonly segments: number[];
  private readonly positions: number[];
  /** slots used per row */
  private readonly fill: number[];
  /** examples placed per row (the next segment id) */
  private readonly count: number[];
  private validTargets = 0;

  constructor(
    private readonly B: number,
    private readonly T: number,
    pad: number,
  ) {
    const R = B * T;
    this.inputs = new Array<number>(R).fill(pad);
    this.targets = new Array<number>(R).fill(IGNORE_INDEX);
    this.segments = new Array<number>(R).fill(0);
    this.positions = new Array<number>(R).fill(0);
    this.fill = new Array<number>(B).fill(0);
    this.count = new Array<number>(B).fill(0);
  }

  /** Places `ex` in the first row with room and returns that row, or -1 when no row has room. */
  add(ex: TokenizedExample): number {
    const { T } = this;
    const n = packedLength(ex, T);
    const b = this.fill.findIndex((used) => used + n <= T);
    if (b < 0) return -1;
    const L = ex.tokens.length;
    const seg = this.count[b]!++;
    const at = b * T + this.fill[b]!;
    for (let j = 0; j < n; j++) {
      this.inputs[at + j] = ex.tokens[j]!;
      const trained = j + 1 < L && ex.train[j + 1] === 1;
      this.targets[at + j] = trained ? ex.tokens[j + 1]! : IGNORE_INDEX;
      if (trained) this.validTargets++;
      this.segments[at + j] = seg;
      this.positions[at + j] = j;
    }
    this.fill[b]! += n;
    return b;
  }

  /** The rows, each tail padded as its own segment. */
  finish(): PackedRows {
    const { B, T } = this;
    let usedTokens = 0;
    let rowsUsed = 0;
    for (let b = 0; b < B; b++) {
      const used = this.fill[b]!;
      usedTokens += used;
      if (used > 0) rowsUsed++;
      for (let j = used; j < T; j++) {
        this.segments[b * T + j] = this.count[b]!;
        this.positions[b * T + j] = j - used;
      }
    }
    return { inputs: this.inputs, targets: this.targets, segments: this.segments, positions: this.positions, validTargets: this.validTargets, usedTokens, rowsUsed };
  }
}

/**
 * The share of input positions that are padding over one pass of `examples` in this order: one
 * example per row (toRow: min(L, T) tokens in each row of T), and packed (first fit, B rows a batch;
 * the last batch counts only the rows it uses).
 */
export function paddingShare(examples: readonly TokenizedExample[], B: number, T: number): { padded: number; packed: number; rowsPadded: number; rowsPacked: number } {
  let usedPadded = 0;
  for (const ex of examples) usedPadded += Math.min(ex.tokens.length, T);
  let rowsPacked = 0;
  let usedPacked = 0;
  let i = 0;
  while (i < examples.length) {
    const packer = new RowPacker(B, T, 0);
    while (i < examples.length && packer.add(examples[i]!) >= 0) i++;
    const rows = packer.finish();
    rowsPacked += rows.rowsUsed;
    usedPacked += rows.usedTokens;
  }
  const rowsPadded = examples.length;
  return { padded: 1 - usedPadded / (rowsPadded * T), packed: 1 - usedPacked / (rowsPacked * T), rowsPadded, rowsPacked };
}
