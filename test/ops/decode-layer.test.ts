import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLayer, decodeLayerFits, sizingPositions, type DecodeLayerDims } from '../../src/ops/decode-layer.js';
import type { Dispatch } from '../../src/gpu/gpu.js';
import { ropeTables } from '../../src/ops/rope.js';
import { PonderError } from '../../src/errors.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomF32, rng } from '../helpers/random.js';
import { decodeLayerRef } from '../reference/decode-layer.js';

/**
 * The fused decode layer (one dispatch a layer) against the float64 layer reference built from the
 * single-op references: new rows of several sequences at their own positions, over caches that
 * already hold earlier keys, in slots out of row order.
 */

interface Case extends DecodeLayerDims {
  B: number;
  T: number;
  S: number;
  L: number;
  slots: number[];
  starts: number[];
}

const label = (c: Case) => `B=${c.B} T=${c.T} H=${c.hidden} I=${c.intermediate} heads ${c.heads}/${c.kvHeads} of ${c.headDim} starts=[${c.starts}]`;

describe('decodeLayer (GPU vs float64 reference)', () => {
  const cases: Case[] = [
    // the bundled model's shape, one decode step
    { B: 1, T: 1, hidden: 128, intermediate: 384, heads: 4, kvHeads: 2, headDim: 32, eps: 1e-6, S: 1, L: 40, slots: [0], starts: [17] },
    // a draft-and-verify pass (two rows), at the first position and later
    { B: 1, T: 2, hidden: 128, intermediate: 384, heads: 4, kvHeads: 2, headDim: 32, eps: 1e-6, S: 2, L: 40, slots: [1], starts: [0] },
    // several sequences, slots out of order, MQA, T = 4, a long history (more keys than threads)
    { B: 3, T: 4, hidden: 64, intermediate: 96, heads: 4, kvHeads: 1, headDim: 16, eps: 1e-5, S: 4, L: 200, slots: [2, 0, 3], starts: [5, 0, 150] },
    // a verify pass far into the cache: more keys than threads, both rows' scores in one walk
    { B: 1, T: 2, hidden: 128, intermediate: 384, heads: 4, kvHeads: 2, headDim: 32, eps: 1e-6, S: 1, L: 320, slots: [0], starts: [290] },
    // four query heads a kv head over four rows: the attention's 16 accumulators a lane
    { B: 2, T: 4, hidden: 64, intermediate: 64, heads: 8, kvHeads: 2, headDim: 8, eps: 1e-6, S: 2, L: 140, slots: [1, 0], starts: [130, 3] },
    // MHA, odd head count
    { B: 2, T: 1, hidden: 48, intermediate: 64, heads: 3, kvHeads: 3, headDim: 16, eps: 1e-6, S: 2, L: 12, slots: [1, 0], starts: [11, 3] },
  ];
  // each case with a workgroup per sequence and, where it has several rows, a workgroup per row
  for (const [c, splitRows] of cases.flatMap((c) => (c.T > 1 ? [[c, false], [c, true]] : [[c, false]]) as [Case, boolean][])) {
    it(`matches for ${label(c)}${splitRows ? ', rows split over workgroups' : ''}`, async () => {
      const gpu = await testGpu();
      const r = rng();
      const { B, T, hidden: H, intermediate: I, heads: Hq, kvHeads: Hkv, headDim: D, S, L } = c;
      const w = {
        inputNorm: randomF32(H, r),
        q: randomF32(Hq * D * H, r).map((v) => v * 0.3),
        k: randomF32(Hkv * D * H, r).map((v) => v * 0.3),
        v: randomF32(Hkv * D * H, r).map((v) => v * 0.3),
        o: randomF32(H * Hq * D, r).map((v) => v * 0.3),
        postNorm: randomF32(H, r),
        gate: randomF32(I * H, r).map((v) => v * 0.3),
        up: randomF32(I * H, r).map((v) => v * 0.3),
        down: randomF32(H * I, r).map((v) => v * 0.3),
      };
      const x = randomF32(B * T * H, r);
      // earlier keys and values everywhere: the layer must read its slot's history, write its rows
      const kc = randomF32(S * Hkv * L * D, r);
      const vc = randomF32(S * Hkv * L * D, r);
      const theta = 10000;
      const tables = ropeTables(gpu, { maxPositions: L, rotaryDim: D, theta });
      const up = (a: Float32Array, shape: number[]) => gpu.upload(a, shape);
      const gw = {
        inputNorm: up(w.inputNorm, [H]), q: up(w.q, [Hq * D, H]), k: up(w.k, [Hkv * D, H]), v: up(w.v, [Hkv * D, H]), o: up(w.o, [H, Hq * D]),
        postNorm: up(w.postNorm, [H]), gate: up(w.gate, [I, H]), up: up(w.up, [I, H]), down: up(w.down, [H, I]),
      };
      const gx = up(x, [B * T, H]);
      const gk = up(kc, [S, Hkv, L, D]);
      const gv = up(vc, [S, Hkv, L, D]);
      assert.ok(decodeLayerFits(gpu, { ...c, bias: false, qkNorm: false, rotaryDim: D }, B, T, L, { softwareOnly: false }));
      decodeLayer(gpu, gx, gw, c, gk, gv, tables, c.slots, c.starts, T, { splitRows });
      const ref = decodeLayerRef(x, w, kc, vc, c.slots, c.starts, { B, T, H, I, Hq, Hkv, D, S, L, eps: c.eps, theta });
      const tol = { rtol: 2e-4, atol: 2e-5 };
      assertClose(`${label(c)} x`, await gpu.readF32(gx), ref.x, tol);
      assertClose(`${label(c)} kCache`, await gpu.readF32(gk), ref.kCache, tol);
      assertClose(`${label(c)} vCache`, await gpu.readF32(gv), ref.vCache, tol);
    });
  }

  it('sizes its workgroup memory by the cache length rounded up to a power of two: prompts of other lengths reuse the pipeline', async () => {
    const gpu = await testGpu();
    const d = { hidden: 128, intermediate: 384, heads: 4, kvHeads: 2, headDim: 32, eps: 1e-6 };
    assert.equal(sizingPositions(d, 1, 1, 300, 32768), 512);
    assert.equal(sizingPositions(d, 1, 1, 512, 32768), 512);
    assert.equal(sizingPositions(d, 2, 1, 513, 32768), 1024);
    // rounded up it would not fit (4 heads x 2048 scores): the exact length, which does
    assert.equal(sizingPositions(d, 1, 1, 1500, 32768), 1500);
    const constantsAt = (L: number) => {
      const e = (shape: number[]) => gpu.empty(shape);
      const tables = ropeTables(gpu, { maxPositions: L, rotaryDim: 32, theta: 10000 });
      const w = { inputNorm: e([128]), q: e([128, 128]), k: e([64, 128]), v: e([64, 128]), o: e([128, 128]), postNorm: e([128]), gate: e([384, 128]), up: e([384, 128]), down: e([128, 384]) };
      const seen: Dispatch[] = [];
      const dispatch = gpu.dispatch.bind(gpu);
      gpu.dispatch = (x: Dispatch) => {
        seen.push(x);
        dispatch(x);
      };
      try {
        decodeLayer(gpu, e([1, 128]), w, d, e([1, 2, L, 32]), e([1, 2, L, 32]), tables, [0], [L - 1], 1, { out: e([1, 128]) });
      } finally {
        gpu.dispatch = dispatch;
      }
      return JSON.stringify(seen[0]!.constants);
    };
    assert.equal(constantsAt(300), constantsAt(301));
    assert.notEqual(constantsAt(300), constantsAt(600));
    await gpu.sync();
  });

  it('declines what it does not cover, and rejects positions past the cache', async () => {
    const gpu = await testGpu();
    const d = { hidden: 128, intermediate: 384, heads: 4, kvHeads: 2, headDim: 32, eps: 1e-6, bias: false, qkNorm: false, rotaryDim: 32 };
    const fits = (o: Partial<typeof d>, B = 1, T = 1, L = 384) => decodeLayerFits(gpu, { ...d, ...o }, B, T, L, { softwareOnly: false });
    assert.equal(fits({}), true);
    assert.equal(fits({ bias: true }), false); // Qwen2's q/k/v biases
    assert.equal(fits({ qkNorm: true }), false); // Qwen3's q/k norms
    assert.equal(fits({ rotaryDim: 16 }), false); // partial rotary
    assert.equal(fits({}, 9), false); // more sequences than the params hold
    assert.equal(fits({}, 1, 5), false); // more rows than the accumulators
    assert.equal(fits({ heads: 16, kvHeads: 2 }, 1, 3), false); // 8 query heads a kv head x 3 rows: over 16 accumulators
    assert.equal(fits({ heads: 16, kvHeads: 2, hidden: 512 }, 1, 2, 64), true);
    assert.equal(fits({ hidden: 896, intermediate: 4864 }), false); // a 0.5B model: a GPU's job
    assert.equal(fits({}, 1, 1, 100000), false); // scores over one workgroup's memory
    const tables = ropeTables(gpu, { maxPositions: 8, rotaryDim: 32, theta: 10000 });
    const e = (shape: number[]) => gpu.empty(shape);
    const w = { inputNorm: e([128]), q: e([128, 128]), k: e([64, 128]), v: e([64, 128]), o: e([128, 128]), postNorm: e([128]), gate: e([384, 128]), up: e([384, 128]), down: e([128, 384]) };
    const kc = e([1, 2, 8, 32]);
    const vc = e([1, 2, 8, 32]);
    assert.throws(() => decodeLayer(gpu, e([2, 128]), w, d, kc, vc, tables, [0], [7], 2), (err: unknown) => err instanceof PonderError && /positions 7\.\.8 of sequence 0 are outside the cache's 8 positions/.test(err.message));
    assert.throws(() => decodeLayer(gpu, e([1, 128]), w, d, kc, vc, tables, [1], [0], 1), (err: unknown) => err instanceof PonderError && /slot 1/.test(err.message));
    // the kernel reads every row of x while it writes out: out may not be x
    const x = e([1, 128]);
    assert.throws(() => decodeLayer(gpu, x, w, d, kc, vc, tables, [0], [0], 1, { out: x }), (err: unknown) => err instanceof PonderError && /out overlaps x/.test(err.message));
  });
});
