import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { embeddingBackward, embeddingCsr, uploadTable } from '../../src/ops/embedding.js';
import { PonderError } from '../../src/errors.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { assertClose, assertEqualInts } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomInts, randomNormal, rng } from '../helpers/random.js';
import { embeddingRef } from '../reference/layers.js';
import { embeddingBackwardRef, numericGrad } from '../reference/layers-backward.js';

const isShapeError = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
const TOL = { rtol: 1e-5, atol: 1e-6 };

describe('embeddingBackward', () => {
  it('float64 reference matches central finite differences of the forward', () => {
    const r = rng();
    const [vocab, dim] = [6, 3];
    const ids = [2, 0, 2, 5, 7, 2, 1]; // repeats, an id used once, one out of range
    const table = Float64Array.from(randomNormal(vocab * dim, r));
    const dy = randomNormal(ids.length * dim, r);
    const ref = embeddingBackwardRef(ids, dy, vocab, dim);
    const num = numericGrad((inp) => embeddingRef(ids, inp[0], vocab, dim), [table], 0, dy);
    assertClose('dtable vs finite differences', ref, num, { rtol: 1e-7, atol: 1e-8 });
  });

  it('builds the CSR: distinct in-range ids ascending, positions ascending per id', () => {
    const csr = embeddingCsr([5, 1, 5, 9, 0, 5, 1], 9);
    assertEqualInts('uniq', csr.uniq, [0, 1, 5]);
    assertEqualInts('offsets', csr.offsets, [0, 1, 3, 6]);
    assertEqualInts('positions', csr.positions, [4, 1, 6, 0, 2, 5]);
    assert.throws(() => embeddingCsr([1, -1], 4), isShapeError(/ids\[1\] is -1/));
  });

  // [vocab, dim, n]: repeated ids (n > vocab), ids appearing once (n << vocab), awkward dims.
  const cases: [number, number, number][] = [
    [1, 1, 1],
    [7, 7, 7],
    [5, 33, 300],
    [300, 129, 7],
    [50, 8, 300],
    [129, 1, 129],
    [64, 64, 33],
  ];
  for (const [vocab, dim, n] of cases) {
    it(`scatter-adds ${n} ids into a [${vocab}x${dim}] table, overwrite and accumulate, bit-identical on a rerun`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const ids = Array.from(randomInts(n, r, vocab));
      if (n > 2) ids[n - 1] = vocab + 3; // out of range: no gradient
      const dout = randomNormal(n * dim, r);
      const tdout = gpu.upload(dout, [n, dim]);
      const dtable = poisoned(gpu, [vocab, dim]);
      embeddingBackward(gpu, ids, tdout, dtable);
      const first = await gpu.readF32(dtable);
      assertClose('dtable', first, embeddingBackwardRef(ids, dout, vocab, dim), TOL);
      embeddingBackward(gpu, ids, tdout, dtable);
      assert.deepEqual(await gpu.readF32(dtable), first, 'rerun is bit-identical');

      const init = randomF32(vocab * dim, r);
      const acc = gpu.upload(init, [vocab, dim]);
      embeddingBackward(gpu, new Uint32Array(ids), tdout.reshape([1, n, dim]), acc, { accumulate: true });
      assertClose('dtable accumulated', await gpu.readF32(acc), embeddingBackwardRef(ids, dout, vocab, dim, init), TOL);
    });
  }

  for (const dim of [33, 32]) {
    it(`scatter-adds into a table split into row chunks, D = ${dim}`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const [vocab, n] = [100, 257];
      const ids = Array.from(randomInts(n, r, vocab + 10)); // ~10% out of range
      [ids[0], ids[1], ids[2], ids[3], ids[4]] = [39, 40, 80, 99, 39]; // chunk boundaries, a repeat
      for (let i = 60; i < 80; i++) ids[i] = 7; // a hot id
      const dout = randomNormal(n * dim, r);
      const tdout = gpu.upload(dout, [n, dim]);
      const init = randomF32(vocab * dim, r);
      for (const accumulate of [false, true]) {
        const chunks = uploadTable(gpu, init, vocab, dim, { maxRows: 40 }) as Tensor[];
        assert.equal(chunks.length, 3);
        embeddingBackward(gpu, ids, tdout, chunks, { accumulate });
        const got = new Float32Array(vocab * dim);
        let o = 0;
        for (const c of chunks) {
          got.set(await gpu.readF32(c), o);
          o += c.size;
        }
        assertClose(`dtable chunks (accumulate ${accumulate})`, got, embeddingBackwardRef(ids, dout, vocab, dim, accumulate ? init : undefined), TOL);
      }
    });
  }

  it('with no in-range ids: clears dtable, or leaves it alone when accumulating', async () => {
    const gpu = await testGpu();
    const dtable = poisoned(gpu, [4, 5]);
    embeddingBackward(gpu, [], gpu.empty([0, 5]), dtable);
    assertClose('cleared', await gpu.readF32(dtable), new Float64Array(20), { rtol: 0, atol: 0 });
    const init = randomF32(20, rng());
    const acc = gpu.upload(init, [4, 5]);
    embeddingBackward(gpu, [4, 9], gpu.upload(new Float32Array(10).fill(1), [2, 5]), acc, { accumulate: true });
    assertClose('untouched', await gpu.readF32(acc), init, { rtol: 0, atol: 0 });
  });

  it('rejects bad shapes with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const dtable = gpu.empty([10, 8]);
    assert.throws(() => embeddingBackward(gpu, [1, 2, 3], gpu.empty([2, 8]), dtable), isShapeError(/embeddingBackward: dout has shape \[2x8\], expected \[3 x 8\]/));
    assert.throws(() => embeddingBackward(gpu, [1, 2], gpu.empty([2, 7]), dtable), isShapeError(/dout has shape \[2x7\], expected \[2 x 8\]/));
    assert.throws(() => embeddingBackward(gpu, [1, 2], gpu.empty([2, 8]), gpu.empty([80])), isShapeError(/dtable has shape \[80\], expected rank 2/));
    assert.throws(() => embeddingBackward(gpu, [1, 2], gpu.empty([2, 8]), [dtable, gpu.empty([4, 7])]), isShapeError(/dtable\[1\] has shape \[4x7\], expected \[V_1 x 8\]/));
    assert.throws(() => embeddingBackward(gpu, [1, 2], gpu.empty([2, 8], 'u32'), dtable), isShapeError(/dout is u32, expected f32/));
    assert.throws(() => embeddingBackward(gpu, [1, 2.5], gpu.empty([2, 8]), dtable), isShapeError(/ids\[1\] is 2.5/));
  });
});
