import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PREFILL_PAD_FACTOR, PREFILL_PASS_ROWS, prefillGroups } from '../../src/engine/sample-batch.js';

/** How sampleBatch groups the prompts it prefills into padded passes. */
describe('prefillGroups', () => {
  const rows = (lengths: number[], g: number[]) => g.length * Math.max(...g.map((i) => lengths[i]!));
  const tokens = (lengths: number[], g: number[]) => g.reduce((a, i) => a + lengths[i]!, 0);

  it('puts prompts of one length in one pass, up to the pass rows', () => {
    assert.deepEqual(prefillGroups([32, 32, 32, 32, 32, 32, 32, 32]), [[0, 1, 2, 3, 4, 5, 6, 7]]);
    const many = new Array<number>(40).fill(100); // 10 fit in 1,024 rows
    const groups = prefillGroups(many);
    assert.deepEqual(groups.map((g) => g.length), [10, 10, 10, 10]);
  });

  it('bounds the padding and the rows of every pass, takes every prompt once, and runs a long one alone', () => {
    const lengths = [3, 43, 8, 5, 2000, 40, 41, 7, 120, 118, 1, 1100];
    const groups = prefillGroups(lengths);
    assert.deepEqual(groups.flat().sort((a, b) => a - b), lengths.map((_, i) => i));
    for (const g of groups) {
      if (g.length === 1) continue;
      assert.ok(rows(lengths, g) <= PREFILL_PASS_ROWS, `pass ${g} has ${rows(lengths, g)} rows`);
      assert.ok(rows(lengths, g) <= PREFILL_PAD_FACTOR * tokens(lengths, g), `pass ${g} pads too much`);
    }
    assert.ok(groups.some((g) => g.length === 1 && lengths[g[0]!] === 2000));
    // similar lengths share a pass: 40, 41 and 43; 118 and 120
    assert.ok(groups.some((g) => [1, 5, 6].every((i) => g.includes(i))));
    assert.ok(groups.some((g) => [8, 9].every((i) => g.includes(i))));
  });
});
