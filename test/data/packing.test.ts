import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IGNORE_INDEX, batchIterator, epochPermutation, toRow, tokenizeExample, tokenizeExamples, type TokenizedExample } from '../../src/data/batches.js';
import { BYTE_SPECIAL_TOKENS, ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import type { Example } from '../../src/data/jsonl.js';
import { packedLength, paddingShare, RowPacker } from '../../src/data/packing.js';
import { rng, testSeed } from '../helpers/random.js';

/**
 * Packing (src/data/packing.ts): whole examples first fit into B rows, each token with its segment id
 * and position; the packed batch iterator's order, cursor and epochs.
 */
const tok = new ByteTokenizer();
const { bos, eos, pad } = BYTE_SPECIAL_TOKENS;
const seed = testSeed % 1000000;

/** Documents of random lengths 0..maxLen characters (BOS + text + EOS tokens each). */
function docs(n: number, maxLen: number, r: () => number): TokenizedExample[] {
  return tokenizeExamples(tok, Array.from({ length: n }, (_, i): Example => ({ kind: 'pretrain', text: 'x'.repeat(Math.floor(r() * (maxLen + 1))) + String(i % 10) })));
}

/** Row b's [start, length] runs of equal segment ids (its examples, then the pad tail if any). */
function runs(segments: number[], T: number, b: number): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let t = 1; t <= T; t++) {
    if (t === T || segments[b * T + t] !== segments[b * T + start]) {
      out.push([start, t - start]);
      start = t;
    }
  }
  return out;
}

describe('RowPacker', () => {
  it('places whole examples first fit, with segment ids, restarting positions and a padded tail', () => {
    const a = tokenizeExample(tok, { kind: 'pretrain', text: 'ab' }); // bos a b eos: 3 slots
    const b = tokenizeExample(tok, { kind: 'pretrain', text: 'cdef' }); // 5 slots
    const c = tokenizeExample(tok, { kind: 'pretrain', text: 'g' }); // 2 slots
    const p = new RowPacker(2, 8, pad);
    assert.equal(p.add(a), 0);
    assert.equal(p.add(b), 0); // 3 + 5 = 8: row 0 is full
    assert.equal(p.add(c), 1);
    const seven = tokenizeExample(tok, { kind: 'pretrain', text: 'hijklm' }); // 7 slots: row 1 has 6 free
    assert.equal(p.add(seven), -1, 'no row has room');
    const rows = p.finish();
    assert.deepEqual(rows.inputs, [bos, 97, 98, bos, 99, 100, 101, 102, bos, 103, pad, pad, pad, pad, pad, pad]);
    const I = IGNORE_INDEX;
    assert.deepEqual(rows.targets, [97, 98, eos, 99, 100, 101, 102, eos, 103, eos, I, I, I, I, I, I]);
    assert.deepEqual(rows.segments, [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(rows.positions, [0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 0, 1, 2, 3, 4, 5]);
    assert.equal(rows.validTargets, 10);
    assert.equal(rows.usedTokens, 10);
    assert.equal(rows.rowsUsed, 2);
  });

  it('an example longer than a row is cut exactly as toRow cuts it, and fills the row alone', () => {
    const long = tokenizeExample(tok, { kind: 'pretrain', text: 'abcdefghij' });
    const p = new RowPacker(1, 6, pad);
    assert.equal(packedLength(long, 6), 6);
    assert.equal(p.add(long), 0);
    const rows = p.finish();
    const row = toRow(long, 6, pad);
    assert.deepEqual(rows.inputs, row.inputs);
    assert.deepEqual(rows.targets, row.targets);
    assert.equal(rows.validTargets, row.validTargets);
  });

  it('keeps SFT prompt tokens masked, as in a padded row', () => {
    const ex = tokenizeExample(tok, { kind: 'sft', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }] });
    const T = ex.tokens.length + 4;
    const p = new RowPacker(1, T, pad);
    p.add(ex);
    const rows = p.finish();
    const row = toRow(ex, T, pad);
    // the same targets on the example's slots (the packed row leaves out its last input: no target)
    const n = packedLength(ex, T);
    assert.deepEqual(rows.targets.slice(0, n), row.targets.slice(0, n));
    assert.ok(row.targets.slice(n).every((t) => t === IGNORE_INDEX));
    assert.equal(rows.validTargets, row.validTargets);
  });

  it('random examples: every example whole and in order within its row, targets as in its own padded row', () => {
    const r = rng(testSeed + 70);
    const T = 20;
    const B = 3;
    const exs = docs(40, 25, r);
    let i = 0;
    while (i < exs.length) {
      const p = new RowPacker(B, T, pad);
      const placed: { ex: number; row: number }[] = [];
      for (; i < exs.length; i++) {
        const row = p.add(exs[i]!);
        if (row < 0) break;
        placed.push({ ex: i, row });
      }
      assert.ok(placed.length > 0);
      const rows = p.finish();
      for (let b = 0; b < B; b++) {
        const mine = placed.filter((x) => x.row === b);
        const segs = runs(rows.segments, T, b);
        const used = mine.reduce((a, x) => a + packedLength(exs[x.ex]!, T), 0);
        assert.equal(segs.length, mine.length + (used < T ? 1 : 0), 'one run per example, plus the pad tail');
        mine.forEach((x, s) => {
          const [start, len] = segs[s]!;
          const ex = exs[x.ex]!;
          assert.equal(len, packedLength(ex, T));
          const padded = toRow(ex, T, pad);
          for (let j = 0; j < len; j++) {
            assert.equal(rows.inputs[b * T + start + j], padded.inputs[j]);
            assert.equal(rows.targets[b * T + start + j], padded.targets[j]);
            assert.equal(rows.positions[b * T + start + j], j);
          }
        });
        for (let j = used; j < T; j++) assert.equal(rows.targets[b * T + j], IGNORE_INDEX);
      }
    }
  });

  it('paddingShare: padded vs packed over one pass', () => {
    // 4 examples of 3 tokens in rows of 8: padded 4 rows, 12 of 32 used; packed (2 slots each) 1 row
    const exs = Array.from({ length: 4 }, (): TokenizedExample => ({ tokens: [1, 2, 3], train: Uint8Array.from([0, 1, 1]) }));
    const s = paddingShare(exs, 2, 8);
    assert.equal(s.rowsPadded, 4);
    assert.equal(s.rowsPacked, 1);
    assert.equal(s.padded, 1 - 12 / 32);
    assert.equal(s.packed, 0);
  });
});

describe('packed batches', () => {
  const opts = { B: 3, T: 24, seed, padId: pad, packing: true };

  it('take a contiguous run of the epoch order, every example once per epoch, more than B per batch', () => {
    const exs = docs(30, 12, rng(testSeed + 71));
    const it = batchIterator(exs, opts);
    const seen: number[] = [];
    let cursor = { epoch: 0, index: 0 };
    for (let k = 0; k < 20; k++) {
      const b = it.nextBatch();
      assert.deepEqual(b.start, cursor, 'a batch starts where the previous one stopped');
      cursor = b.cursor;
      seen.push(...b.examples);
      assert.ok(b.segments && b.positions);
      assert.equal(b.inputs.length, opts.B * opts.T);
    }
    const perm0 = [...epochPermutation(30, seed, 0)];
    const perm1 = [...epochPermutation(30, seed, 1)];
    assert.ok(seen.length >= 60);
    assert.deepEqual(seen.slice(0, 60), [...perm0, ...perm1]);
    // short documents: several to a row
    assert.ok(seen.length / 20 > opts.B, `${seen.length} examples in 20 batches of ${opts.B} rows`);
  });

  it('are a pure function of the cursor: resuming from a saved cursor gives the same batches', () => {
    const exs = docs(17, 30, rng(testSeed + 72));
    const it = batchIterator(exs, opts);
    for (let k = 0; k < 5; k++) it.nextBatch();
    const saved = it.cursor;
    const want = [it.nextBatch(), it.nextBatch(), it.nextBatch()];
    const resumed = batchIterator(exs, opts, saved);
    for (const w of want) assert.deepEqual(resumed.nextBatch(), w);
  });

  it('usedTokens counts what is not padding, both ways', () => {
    const exs = docs(12, 10, rng(testSeed + 73));
    const padded = batchIterator(exs, { ...opts, packing: false }).nextBatch();
    assert.equal(padded.usedTokens, padded.examples.reduce((a, e) => a + Math.min(exs[e]!.tokens.length, opts.T), 0));
    const packed = batchIterator(exs, opts).nextBatch();
    assert.equal(packed.usedTokens, packed.examples.reduce((a, e) => a + packedLength(exs[e]!, opts.T), 0));
  });
});
