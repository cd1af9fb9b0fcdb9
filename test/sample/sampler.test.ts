import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { sample, type SamplingOptions } from '../../src/sample/sampler.js';
import { assertEqualInts } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, randomNormal, rng, testSeed } from '../helpers/random.js';
import { argmaxRef, topkRef } from '../reference/reductions.js';
import { candidateSetRef, sampleRowRef, samplingDistributionRef, type SamplingRefOptions } from '../reference/sampling.js';

/** Runs sample() on rows x vocab logits and reads the ids back. */
async function run(gpu: Gpu, x: Float32Array, rows: number, vocab: number, opts: SamplingOptions, step: number, streams?: Uint32Array): Promise<Uint32Array> {
  const tx = gpu.upload(x, [rows, vocab]);
  const ts = streams ? gpu.upload(streams, [rows]) : undefined;
  const out = poisoned(gpu, [rows], 'u32');
  const res = sample(gpu, tx, opts, step, out, ts);
  assert.equal(res, out);
  const ids = await gpu.readU32(out);
  tx.release();
  ts?.release();
  out.release();
  return ids;
}

function refOpts(o: SamplingOptions): SamplingRefOptions {
  return { temperature: o.temperature ?? 1, topK: o.topK, topP: o.topP, minP: o.minP };
}

/** A fresh sampler seed per run (replayable via PONDER_TEST_SEED), below 2^53. */
const baseSeed = (testSeed * 2654435761) % 2 ** 40;

// V = 6, deliberately not sorted so the candidate path's index mapping matters. At T = 1 the
// probabilities are ~[.073 .443 .016 .268 .036 .163]: top-p 0.8 keeps 3 (cumulative .874), min-p
// 0.1 keeps 4 (.073 >= .044 > .036); every cut is far from its boundary.
const SMALL = new Float32Array([0.2, 2.0, -1.3, 1.5, -0.5, 1.0]);

describe('sample: greedy', () => {
  for (const [rows, vocab] of [[1, 1], [7, 7], [5, 33], [3, 1000], [2, 70_001]]) {
    it(`temperature 0 equals argmax for [${rows}x${vocab}]`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const x = randomNormal(rows * vocab, r, 3);
      if (vocab >= 7) x[3] = x[5] = 100; // a tie in row 0 -> the lower index
      const want = argmaxRef(x, rows, vocab);
      assertEqualInts('greedy', await run(gpu, x, rows, vocab, { temperature: 0, topK: Math.min(5, vocab), topP: 0.5 }, 3), want);
    });
  }
});

describe('sample: matches the float64 mirror draw for draw (same Philox numbers)', () => {
  const modes: SamplingOptions[] = [
    { temperature: 1 },
    { temperature: 0.6 },
    { temperature: 1.3, topK: 1 },
    { temperature: 0.8, topK: 20 },
    { temperature: 1, topP: 0.9 },
    { temperature: 0.7, minP: 0.05 },
    { temperature: 1.2, topK: 40, topP: 0.7, minP: 0.02 },
  ];
  for (const [rows, vocab] of [[64, 7], [40, 129], [8, 5003]]) {
    for (const mode of modes) {
      if (mode.topK && mode.topK > vocab) continue;
      it(`[${rows}x${vocab}] ${JSON.stringify(mode)}`, async () => {
        const gpu = await testGpu();
        const r = rng(testSeed + vocab);
        const x = randomNormal(rows * vocab, r, 2);
        const opts = { ...mode, seed: baseSeed + 1 };
        const step = 17;
        const ids = await run(gpu, x, rows, vocab, opts, step);
        let compared = 0;
        for (let row = 0; row < rows; row++) {
          const lr = x.subarray(row * vocab, (row + 1) * vocab);
          const o = refOpts(mode);
          // f32 vs f64 can only disagree right at a decision boundary: skip those rows.
          const near = (a: SamplingRefOptions, b: SamplingRefOptions) => candidateSetRef(lr, a).tokens.length !== candidateSetRef(lr, b).tokens.length;
          if (o.topP !== undefined && near({ ...o, topP: o.topP * (1 - 1e-4) }, { ...o, topP: o.topP * (1 + 1e-4) })) continue;
          if (o.minP !== undefined && near({ ...o, minP: o.minP * (1 - 1e-4) }, { ...o, minP: o.minP * (1 + 1e-4) })) continue;
          const ref = sampleRowRef(lr, o, opts.seed, row, step);
          if (ref.margin < 1e-4) continue;
          compared++;
          assert.equal(ids[row], ref.token, `row ${row}: GPU picked ${ids[row]}, float64 mirror ${ref.token} (seed ${testSeed})`);
        }
        // A row within 1e-4 of a decision boundary is legitimately skipped (f32 vs f64 may pick either
        // side); that is rare but not negligible at 8 rows, so demand half, which a vacuous test fails.
        assert.ok(compared >= Math.ceil(rows / 2), `only ${compared} of ${rows} rows were far enough from a boundary to compare`);
      });
    }
  }
});

describe('sample: empirical frequencies match the float64 distribution', () => {
  const modes: SamplingOptions[] = [
    { temperature: 1 },
    { temperature: 0.5 },
    { temperature: 2.5 },
    { temperature: 1, topK: 3 },
    { temperature: 1, topP: 0.8 },
    { temperature: 1, minP: 0.1 },
    { temperature: 0.9, topK: 5, topP: 0.95, minP: 0.05 },
  ];
  const rows = 4000;
  const steps = 3;
  for (const mode of modes) {
    it(`${JSON.stringify(mode)}: ${rows} rows x ${steps} steps within 6 sigma, filtered tokens never drawn`, async () => {
      const gpu = await testGpu();
      const vocab = SMALL.length;
      const x = new Float32Array(rows * vocab);
      for (let r = 0; r < rows; r++) x.set(SMALL, r * vocab);
      const counts = new Float64Array(vocab);
      for (let step = 0; step < steps; step++) {
        const ids = await run(gpu, x, rows, vocab, { ...mode, seed: baseSeed + 2 }, step);
        for (const id of ids) {
          assert.ok(id < vocab, `token ${id} out of range`);
          counts[id]++;
        }
      }
      const n = rows * steps;
      const p = samplingDistributionRef(SMALL, refOpts(mode));
      for (let i = 0; i < vocab; i++) {
        const f = counts[i] / n;
        if (p[i] === 0) {
          assert.equal(counts[i], 0, `token ${i} is filtered out but was drawn ${counts[i]} times`);
          continue;
        }
        // 6 sigma per cell: a false alarm about once in 10^8 runs; the 1/n covers rounding.
        const bound = 6 * Math.sqrt((p[i] * (1 - p[i])) / n) + 1 / n;
        assert.ok(Math.abs(f - p[i]) <= bound, `token ${i}: frequency ${f.toFixed(4)} vs p = ${p[i].toFixed(4)} (bound ${bound.toFixed(4)}, seed ${testSeed})`);
      }
    });
  }
});

describe('sample: reproducibility and independence', () => {
  const rows = 4000;
  const vocab = SMALL.length;
  const x = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) x.set(SMALL, r * vocab);
  // Two independent draws agree with probability sum p^2 (~0.31 at T = 1): stay below that + 6 sigma.
  const p = samplingDistributionRef(SMALL, { temperature: 1 });
  const q = p.reduce((a, v) => a + v * v, 0);
  const maxAgree = q + 6 * Math.sqrt((q * (1 - q)) / rows);

  for (const mode of [{ temperature: 1 }, { temperature: 1, topP: 0.999 }] as SamplingOptions[]) {
    it(`${JSON.stringify(mode)}: same seed and step repeat exactly; another seed, step or stream is independent`, async () => {
      const gpu = await testGpu();
      const seed = baseSeed + 3;
      const a = await run(gpu, x, rows, vocab, { ...mode, seed }, 5);
      assertEqualInts('same seed, same step', await run(gpu, x, rows, vocab, { ...mode, seed }, 5), a);
      const agree = (b: Uint32Array) => a.reduce((s, v, i) => s + (v === b[i] ? 1 : 0), 0) / rows;
      const other = [
        ['seed + 1', await run(gpu, x, rows, vocab, { ...mode, seed: seed + 1 }, 5)],
        ['seed + 2^32', await run(gpu, x, rows, vocab, { ...mode, seed: seed + 2 ** 32 }, 5)],
        ['step + 1', await run(gpu, x, rows, vocab, { ...mode, seed }, 6)],
        ['shifted streams', await run(gpu, x, rows, vocab, { ...mode, seed }, 5, Uint32Array.from({ length: rows }, (_, i) => i + rows))],
      ] as const;
      for (const [what, b] of other) assert.ok(agree(b) < maxAgree, `${what}: ${agree(b)} of draws agree, independent draws agree ~${q.toFixed(3)} (seed ${testSeed})`);
      // Neighbouring rows (streams) are independent too.
      const nb = a.reduce((s, v, i) => s + (i > 0 && v === a[i - 1] ? 1 : 0), 0) / (rows - 1);
      assert.ok(nb < maxAgree, `neighbouring rows agree ${nb} of the time`);
    });
  }

  for (const mode of [{ temperature: 0.8 }, { temperature: 0.8, topK: 10, topP: 0.9 }] as SamplingOptions[]) {
    it(`${JSON.stringify(mode)}: a row's token depends on its stream, not on its batch position`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const v = 300;
      const batch = 9;
      const xs = randomNormal(batch * v, r, 1.5);
      const streams = Uint32Array.from({ length: batch }, (_, i) => 1000 + 37 * i);
      const opts = { ...mode, seed: baseSeed + 4 };
      const full = await run(gpu, xs, batch, v, opts, 11, streams);
      const pick = [7, 2, 5];
      const sub = new Float32Array(pick.length * v);
      pick.forEach((row, j) => sub.set(xs.subarray(row * v, (row + 1) * v), j * v));
      const part = await run(gpu, sub, pick.length, v, opts, 11, Uint32Array.from(pick, (i) => streams[i]));
      assertEqualInts('rows re-batched in another order', part, Uint32Array.from(pick, (i) => full[i]));
      // The default stream is the row index.
      assertEqualInts('default streams', await run(gpu, xs, batch, v, opts, 11), await run(gpu, xs, batch, v, opts, 11, Uint32Array.from({ length: batch }, (_, i) => i)));
    });
  }
});

describe('sample: filters are never violated', () => {
  it('top-k picks only from the top k; top-p / min-p only from their kept sets', async () => {
    const gpu = await testGpu();
    const r = rng();
    const rows = 200;
    const vocab = 1000;
    const x = randomNormal(rows * vocab, r, 3);
    for (const k of [1, 5, 64]) {
      const ids = await run(gpu, x, rows, vocab, { temperature: 5, topK: k, seed: baseSeed }, 1);
      const top = topkRef(x, rows, vocab, k).indices;
      for (let row = 0; row < rows; row++) {
        assert.ok(top.subarray(row * k, (row + 1) * k).includes(ids[row]), `row ${row}: token ${ids[row]} is not in the top ${k}`);
      }
    }
    for (const o of [{ topP: 0.5 }, { minP: 0.3 }, { topP: 0.9, minP: 0.1 }]) {
      const opts = { temperature: 2, ...o, seed: baseSeed };
      const ids = await run(gpu, x, rows, vocab, opts, 2);
      for (let row = 0; row < rows; row++) {
        const lr = x.subarray(row * vocab, (row + 1) * vocab);
        // A slightly looser filter: f32 rounding may move a boundary that sits within 1e-4.
        const kept = candidateSetRef(lr, { temperature: 2, topP: o.topP ? o.topP * (1 + 1e-4) : undefined, minP: o.minP ? o.minP * (1 - 1e-4) : undefined }).tokens;
        assert.ok(kept.includes(ids[row]), `row ${row}: token ${ids[row]} is outside the kept set ${kept.slice(0, 8)} for ${JSON.stringify(o)}`);
      }
    }
  });

  it('samples a Qwen-sized vocabulary (2 x 151936): Gumbel over all of it, and top-p', async () => {
    const gpu = await testGpu();
    const r = rng();
    const vocab = 151_936;
    const x = randomF32(2 * vocab, r, -10, 10);
    x[123_457] = 30; // row 0: one dominant token
    for (const opts of [{ temperature: 1, seed: baseSeed }, { temperature: 1, topP: 0.9, seed: baseSeed }]) {
      const ids = await run(gpu, x, 2, vocab, opts, 0);
      assert.equal(ids[0], 123_457);
      const ref = sampleRowRef(x.subarray(vocab), refOpts(opts), baseSeed, 1, 0);
      if (ref.margin > 1e-4) assert.equal(ids[1], ref.token, `row 1 with ${JSON.stringify(opts)}`);
    }
  });

  it('poisoned rows pick deterministically: NaN -> its first NaN, all -inf -> 0', async () => {
    const gpu = await testGpu();
    const x = new Float32Array([1, NaN, 2, NaN, -Infinity, -Infinity, -Infinity, -Infinity]);
    for (const opts of [{ temperature: 1 }, { temperature: 1, topK: 2 }]) {
      assertEqualInts(JSON.stringify(opts), await run(gpu, x, 2, 4, opts, 0), [1, 0]);
    }
  });
});

describe('sample: bad input', () => {
  const cases: [SamplingOptions, RegExp][] = [
    [{ temperature: -0.1 }, /temperature/],
    [{ temperature: NaN }, /temperature/],
    [{ temperature: Infinity }, /temperature/],
    [{ topP: 0 }, /topP/],
    [{ topP: 1.01 }, /topP/],
    [{ minP: 1 }, /minP/],
    [{ minP: -0.1 }, /minP/],
    [{ topK: 2.5 }, /topK/],
    [{ topK: -1 }, /topK/],
    [{ topK: 11 }, /topK/],
    [{ seed: -1 }, /seed/],
    [{ seed: 0.5 }, /seed/],
  ];
  for (const [opts, re] of cases) {
    const label = Object.entries(opts).map(([k, v]) => `${k} = ${v}`).join(', ');
    it(`rejects ${label} with BAD_INPUT naming the option`, async () => {
      const gpu = await testGpu();
      const x = gpu.empty([2, 10]);
      assert.throws(() => sample(gpu, x, opts, 0), (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message));
      x.release();
    });
  }

  it('rejects a bad step and bad shapes', async () => {
    const gpu = await testGpu();
    const x = gpu.empty([2, 10]);
    for (const step of [-1, 1.5, 2 ** 32]) {
      assert.throws(() => sample(gpu, x, {}, step), (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && /step/.test(e.message));
    }
    const isShape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    assert.throws(() => sample(gpu, gpu.empty([10]), {}, 0), isShape(/logits.*\[10\]/));
    assert.throws(() => sample(gpu, x, {}, 0, gpu.empty([3], 'u32')), isShape(/out.*\[3\].*\[2\]/));
    assert.throws(() => sample(gpu, x, {}, 0, gpu.empty([2], 'f32')), isShape(/out is f32/));
    assert.throws(() => sample(gpu, x, {}, 0, undefined, gpu.empty([5], 'u32')), isShape(/rowStreams.*\[5\].*\[2\]/));
    assert.throws(() => sample(gpu, gpu.empty([2, 10], 'u32'), {}, 0), isShape(/logits is u32/));
  });
});
