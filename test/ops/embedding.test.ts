import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { embedding, uploadTable } from '../../src/ops/embedding.js';
import { PonderError } from '../../src/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomInts, rng } from '../helpers/random.js';
import { embeddingRef } from '../reference/layers.js';

const isShapeError = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);

describe('embedding', () => {
  // [vocab, dim, ids shape]
  const cases: [number, number, number[]][] = [
    [1, 1, [1]],
    [7, 7, [7]],
    [50, 33, [300]],
    [129, 129, [7]],
    [300, 8, [2, 3, 5]],
    [64, 896, [4]],
  ];
  for (const [vocab, dim, idShape] of cases) {
    it(`gathers ${idShape.join('x')} ids from a [${vocab}x${dim}] table, out-of-range ids give zeros`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const n = idShape.reduce((a, b) => a * b, 1);
      const ids = randomInts(n, r, vocab);
      // Sprinkle out-of-range ids, including the largest u32.
      if (n > 2) {
        ids[1] = vocab;
        ids[n - 1] = 0xffffffff;
      }
      const table = randomF32(vocab * dim, r);
      const tIds = gpu.upload(ids, idShape);
      const tTable = gpu.upload(table, [vocab, dim]);
      const out = poisoned(gpu, [...idShape, dim]);
      embedding(gpu, tIds, tTable, out);
      assertClose('embedding', await gpu.readF32(out), embeddingRef(ids, table, vocab, dim), { rtol: 0, atol: 0 });
      const fresh = embedding(gpu, tIds, tTable);
      assert.deepEqual(fresh.shape, [...idShape, dim]);
      assertClose('embedding (allocated out)', await gpu.readF32(fresh), embeddingRef(ids, table, vocab, dim), { rtol: 0, atol: 0 });
    });
  }

  for (const dim of [33, 32]) {
    it(`gathers from a table split into row chunks (big vocabularies), D = ${dim}`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const [vocab, n] = [100, 257];
      const table = randomF32(vocab * dim, r);
      const ids = randomInts(n, r, vocab + 10); // ~10% out of range
      ids[0] = 39;
      ids[1] = 40; // chunk boundaries
      ids[2] = 80;
      ids[3] = 99;
      const chunks = uploadTable(gpu, table, vocab, dim, { maxRows: 40 });
      assert.ok(Array.isArray(chunks));
      assert.deepEqual(
        (chunks as Tensor[]).map((c) => c.shape),
        [
          [40, dim],
          [40, dim],
          [20, dim],
        ],
      );
      const out = poisoned(gpu, [n, dim]);
      embedding(gpu, gpu.upload(ids, [n]), chunks, out);
      assertClose('embedding (chunked)', await gpu.readF32(out), embeddingRef(ids, table, vocab, dim), { rtol: 0, atol: 0 });
      // A table that fits stays one tensor.
      assert.ok(uploadTable(gpu, table, vocab, dim) instanceof Tensor);
    });
  }

  it('rejects bad shapes and dtypes with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const ids = gpu.empty([4], 'u32');
    const table = gpu.empty([10, 6]);
    assert.throws(() => embedding(gpu, ids, gpu.empty([60])), isShapeError(/embedding: table has shape \[60\], expected rank 2/));
    assert.throws(() => embedding(gpu, ids, table, gpu.empty([4, 5])), isShapeError(/out has shape \[4x5\], expected \[4x6\]/));
    assert.throws(() => embedding(gpu, gpu.empty([4], 'f32'), table), isShapeError(/ids is f32, expected u32/));
    assert.throws(() => embedding(gpu, ids, [table, gpu.empty([3, 7])]), isShapeError(/table\[1\] has shape \[3x7\], expected \[V_1 x 6\]/));
  });

  it('refuses a table over the storage binding limit with a hint to chunk it', async () => {
    const gpu = await testGpu();
    const small = gpu.empty([4]);
    // A tensor claiming a shape bigger than one binding may hold; the check runs before any dispatch.
    const rows = Math.ceil(gpu.limits.maxStorageBufferBindingSize / (4 * 896)) + 1;
    const huge = new Tensor(small.buffer, [rows, 896], 'f32', null);
    assert.throws(
      () => embedding(gpu, gpu.empty([2], 'u32'), huge),
      (e: unknown) => e instanceof PonderError && e.code === 'DEVICE_LIMIT' && /maxStorageBufferBindingSize/.test(e.message) && /row chunks/.test(e.hint ?? ''),
    );
  });
});
