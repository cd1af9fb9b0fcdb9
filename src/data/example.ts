/**
 * A tokenized training example and the target value that marks "no loss here": the two things both
 * the batch builder (batches.ts) and the row packer (packing.ts) speak in, kept apart so neither
 * imports the other's module for them.
 */

/** Target value of positions without a loss (the cross-entropy kernel skips it). */
export const IGNORE_INDEX = 0xffffffff;

export interface TokenizedExample {
  tokens: number[];
  /** train[i] = 1: token i is a prediction target (the row's target at position i - 1) */
  train: Uint8Array;
}
