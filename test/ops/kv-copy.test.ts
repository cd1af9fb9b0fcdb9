import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { kvCopy, type SlotCopy } from '../../src/ops/kv-copy.js';
import { testGpu } from '../helpers/gpu.js';
import { randomF32, rng, testSeed } from '../helpers/random.js';
import { kvCopyRef } from '../reference/kv-copy.js';

/** First index where two bit patterns differ, as a readable line (or undefined). */
function firstDiff(got: Uint32Array, want: Uint32Array): string | undefined {
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return `element ${i}: got bits ${got[i]}, want ${want[i]} (seed ${testSeed})`;
  return undefined;
}

describe('kvCopy', () => {
  const cases: { shape: [number, number, number, number]; jobs: SlotCopy[] }[] = [
    { shape: [5, 2, 16, 8], jobs: [{ from: 0, to: 2, positions: 5 }, { from: 0, to: 3, positions: 5 }, { from: 1, to: 4, positions: 0 }] },
    { shape: [5, 1, 7, 3], jobs: [{ from: 4, to: 0, positions: 7 }, { from: 1, to: 2, positions: 1 }, { from: 1, to: 3, positions: 4 }] },
    { shape: [3, 4, 33, 64], jobs: [{ from: 2, to: 1, positions: 33 }] },
  ];
  for (const { shape, jobs } of cases) {
    it(`moves exactly the prefixes, nothing else, for [${shape.join('x')}] ${JSON.stringify(jobs)}`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const n = shape.reduce((a, b) => a * b, 1);
      // destinations start as NaN (a missed element keeps NaN bits, which the sources never have)
      const layers = [0, 1].map(() => {
        const k = randomF32(n, r, -3, 3);
        const v = randomF32(n, r, -3, 3);
        const slot = n / shape[0];
        for (const j of jobs) {
          k.fill(NaN, j.to * slot, (j.to + 1) * slot);
          v.fill(NaN, j.to * slot, (j.to + 1) * slot);
        }
        return { k, v, tk: gpu.upload(k, shape), tv: gpu.upload(v, shape) };
      });
      kvCopy(gpu, layers.map((l) => l.tk), layers.map((l) => l.tv), jobs);
      for (const [i, l] of layers.entries()) {
        for (const [name, host, t] of [['k', l.k, l.tk], ['v', l.v, l.tv]] as const) {
          const got = new Uint32Array((await gpu.readF32(t)).buffer.slice(0));
          const want = kvCopyRef(new Uint32Array(host.buffer.slice(0)), shape, jobs);
          const diff = firstDiff(got, want);
          assert.equal(diff, undefined, `layer ${i} ${name}: ${diff}`);
        }
        l.tk.release();
        l.tv.release();
      }
    });
  }

  it('rejects out-of-range slots, overlong prefixes and racing jobs, naming them', async () => {
    const gpu = await testGpu();
    const k = gpu.empty([3, 1, 4, 2]);
    const v = gpu.empty([3, 1, 4, 2]);
    const bad = (jobs: SlotCopy[], re: RegExp) =>
      assert.throws(
        () => kvCopy(gpu, [k], [v], jobs),
        (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message),
      );
    bad([{ from: 0, to: 3, positions: 1 }], /copy 0: to slot 3 is outside the cache's 0\.\.2/);
    bad([{ from: 0, to: 1, positions: 5 }], /copy 0: 5 positions, the cache has 4/);
    bad([{ from: 1, to: 1, positions: 2 }], /onto itself/);
    bad([{ from: 0, to: 1, positions: 2 }, { from: 1, to: 2, positions: 2 }], /copy 1: slot 1 is read while another copy writes it/);
    bad([{ from: 0, to: 1, positions: 2 }, { from: 2, to: 1, positions: 2 }], /copy 1: slot 1 is written while another copy/);
    bad([{ from: 0, to: 1, positions: 2 }, { from: 2, to: 0, positions: 2 }], /copy 1: slot 0 is written while another copy reads/);
    assert.throws(() => kvCopy(gpu, [k], [k], []), /different buffers/);
    k.release();
    v.release();
  });
});
