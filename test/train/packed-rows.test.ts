import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IGNORE_INDEX, toRow, type TokenizedExample } from '../../src/data/batches.js';
import { RowPacker } from '../../src/data/packing.js';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { TrainableModel } from '../../src/train/trainable.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * Packing changes the layout, not the loss: the same examples trained one per row (padded to T) and
 * packed several to a row (segments + positions) give the same summed token loss, the same MTP module
 * sums and the same gradients, to float32 rounding (weight gradients sum rows in another order).
 *
 * How the two are made comparable: both steps use gradScale = 1 / (valid targets), and the two
 * layouts have exactly the same valid targets (asserted), so each step's gradient is the mean over
 * target tokens of the same per-token losses — the per-token averaging the SFT runner uses. The
 * padded batch has one row per example (7 rows), the packed one fewer rows (asserted) of the same T.
 */
const T = 16;
const LAMBDA = 0.5;

/** SFT-like examples: a prompt (not trained) then an answer (trained); one longer than T + 1 (cut). */
function examples(V: number, r: () => number): TokenizedExample[] {
  const lengths = [5, 9, 2, 13, 20, 4, 7];
  return lengths.map((L) => {
    const tokens = Array.from(randomInts(L, r, V));
    const prompt = Math.floor(r() * (L - 1));
    const train = Uint8Array.from({ length: L }, (_, i) => (i > prompt ? 1 : 0));
    return { tokens, train };
  });
}

async function grads(gpu: Gpu, model: TrainableModel): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const p of model.params()) out.set(p.name, await gpu.readF32(p.grad));
  return out;
}

describe('packed rows train exactly like padded rows', () => {
  for (const family of ['llama', 'qwen3'] as const) {
    it(`${family} with an MTP module: same loss sums and gradients, one example per row vs packed`, async () => {
      const gpu = await testGpu();
      const c = tinyModelConfig(family, { vocab_size: 23, num_nextn_predict_layers: 1 });
      const model = TrainableModel.create(gpu, c, tinyModelWeights(c, testSeed + 60));
      const exs = examples(c.vocab_size, rng(testSeed + 61));

      // padded: one example per row
      const padded = exs.map((ex) => toRow(ex, T, 0));
      const Bp = padded.length;
      const valid = padded.reduce((a, r) => a + r.validTargets, 0);
      // packed: first fit into as few rows as hold them all
      const packer = new RowPacker(Bp, T, 0);
      for (const ex of exs) assert.ok(packer.add(ex) >= 0);
      const packed = packer.finish();
      const Bk = packed.rowsUsed;
      assert.ok(Bk < Bp, `packing used ${Bk} rows for ${Bp} examples`);
      assert.equal(packed.validTargets, valid);
      const cut = (a: number[]) => a.slice(0, Bk * T);

      model.zeroGrads();
      const lossPadded = model.step(padded.flatMap((r) => r.inputs), padded.flatMap((r) => r.targets), Bp, T, { gradScale: 1 / valid, mtpWeight: LAMBDA });
      const sumsPadded = await gpu.readF32(lossPadded);
      const gPadded = await grads(gpu, model);
      model.zeroGrads();
      const lossPacked = model.step(cut(packed.inputs), cut(packed.targets), Bk, T, {
        gradScale: 1 / valid,
        mtpWeight: LAMBDA,
        segments: cut(packed.segments),
        positions: cut(packed.positions),
      });
      const sumsPacked = await gpu.readF32(lossPacked);
      const gPacked = await grads(gpu, model);
      lossPadded.release();
      lossPacked.release();

      assert.ok(sumsPadded[0]! > 0 && sumsPadded[1]! > 0);
      assertClose('loss sums [main, mtp]', sumsPacked, sumsPadded, { rtol: 1e-5, atol: 1e-6 });
      for (const [name, g] of gPadded) assertClose(`grad ${name}`, gPacked.get(name)!, g, { rtol: 1e-4, atol: 1e-5 });

      // the unpacked path after a packed step is unchanged (positions restored to 0..T-1)
      model.zeroGrads();
      const again = model.step(padded.flatMap((r) => r.inputs), padded.flatMap((r) => r.targets), Bp, T, { gradScale: 1 / valid, mtpWeight: LAMBDA });
      assert.deepEqual([...(await gpu.readF32(again))], [...sumsPadded]);
      again.release();
      model.dispose();
    });
  }

  it('a packed step without the masks differs (the test can fail)', async () => {
    // The same packed rows run as plain causal rows let examples see each other: the loss changes.
    const gpu = await testGpu();
    const c = tinyModelConfig('llama', { vocab_size: 23 });
    const model = TrainableModel.create(gpu, c, tinyModelWeights(c, testSeed + 62));
    const packer = new RowPacker(2, T, 0);
    for (const ex of examples(c.vocab_size, rng(testSeed + 63))) packer.add(ex);
    const rows = packer.finish();
    const B = 2;
    const run = async (packedLayout: boolean) => {
      const t = model.step(rows.inputs, rows.targets, B, T, { gradScale: 1, ...(packedLayout ? { segments: rows.segments, positions: rows.positions } : {}) });
      const v = (await gpu.readF32(t))[0]!;
      t.release();
      return v;
    };
    const masked = await run(true);
    const plain = await run(false);
    assert.ok(Math.abs(masked - plain) > 1e-3 * Math.abs(plain), `masked ${masked} vs plain ${plain} (seed ${testSeed})`);
    model.dispose();
  });

  it('rejects inconsistent segments and positions with one clear line', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('llama', { vocab_size: 23 });
    const model = TrainableModel.create(gpu, c, tinyModelWeights(c, testSeed + 64));
    const ids = Array.from({ length: 4 }, (_, i) => i);
    const tg = [1, 2, 3, IGNORE_INDEX];
    const bad = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message);
    assert.throws(() => model.step(ids, tg, 1, 4, { gradScale: 1, segments: [0, 0, 1, 1] }), bad(/both segments and positions/));
    assert.throws(() => model.step(ids, tg, 1, 4, { gradScale: 1, segments: [0, 0, 1], positions: [0, 1, 0, 1] }), bad(/3 segment ids for B\*T = 1\*4/));
    assert.throws(() => model.step(ids, tg, 1, 4, { gradScale: 1, segments: [0, 1, 0, 1], positions: [0, 0, 0, 0] }), bad(/must not decrease within a row/));
    assert.throws(() => model.step(ids, tg, 1, 4, { gradScale: 1, segments: [0, 0, 1, 1], positions: [0, 1, 2, 3] }), bad(/position 2 is 2, expected 0/));
    model.dispose();
  });
});
