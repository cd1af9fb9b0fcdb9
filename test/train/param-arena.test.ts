import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/gpu/tensor.js';
import { AdamW } from '../../src/train/optimizer.js';
import { ALIGN_ELEMS, arenaRuns, ParamArenas, planArenas, type ParamSpec } from '../../src/train/param-arena.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomF32, randomNormal, rng } from '../helpers/random.js';
import { adamwStepRef, type AdamWRefState } from '../reference/optimizer.js';

const SIZES = [1, 7, 165, 129, 4000, 64, 3];
const DECAY = [false, true, true, false, true, true, false];

function specs(rand: () => number): ParamSpec[] {
  return SIZES.map((n, i) => ({ name: `p${i}`, shape: [n], data: randomF32(n, rand), decay: DECAY[i]! }));
}

describe('param arenas', () => {
  it('planArenas: decaying params first, each aligned, a new arena when the next would not fit', () => {
    const params = SIZES.map((size, i) => ({ size, decay: DECAY[i]! }));
    const one = planArenas(params, Infinity);
    assert.equal(one.sizes.length, 1);
    // decaying in given order (1, 2, 4, 5), then the others (0, 3, 6), each at a multiple of 64
    assert.deepEqual(one.place.map(([, off]) => off), [4352, 0, 64, 4416, 256, 4288, 4608]);
    assert.equal(one.sizes[0], 4672);
    for (const [, off] of one.place) assert.equal(off % ALIGN_ELEMS, 0);
    // runs: the decaying params 0..4352, the others 4352..4611
    assert.deepEqual(arenaRuns(params, one).sort((a, b) => a - b), [259, 4352]);
    // 4096 floats per arena: p4 (4000) opens a second arena, which p5 fills exactly; p0 opens a third
    const three = planArenas(params, 4096 * 4);
    assert.deepEqual(three.place, [[2, 0], [0, 0], [0, 64], [2, 64], [1, 0], [1, 4032], [2, 256]]);
    assert.deepEqual(three.sizes, [256, 4096, 320]);
    assert.deepEqual(arenaRuns(params, three).sort((a, b) => a - b), [229, 259, 4096]);
  });

  it('every Param is a view holding its data; grads start at zero and zeroGrads clears them, padding included', async () => {
    const gpu = await testGpu();
    const sp = specs(rng());
    const arenas = ParamArenas.create(gpu, sp);
    for (const [i, p] of arenas.params.entries()) {
      assert.equal(p.name, sp[i]!.name);
      assert.equal(p.decay, sp[i]!.decay);
      assert.deepEqual(await gpu.readF32(p.value), sp[i]!.data);
      assert.ok((await gpu.readF32(p.grad)).every((g) => g === 0));
      gpu.write(p.grad, new Float32Array(p.grad.size).fill(NaN));
    }
    arenas.zeroGrads();
    const g0 = arenas.params[0]!.grad;
    const whole = new Tensor(g0.buffer, [arenas.bytes / 8], 'f32', null, 0);
    assert.ok((await gpu.readF32(whole)).every((g) => g === 0));
    arenas.release();
  });

  for (const maxBytes of [Infinity, 4096 * 4]) {
    it(`AdamW over arena params (${maxBytes === Infinity ? 'one arena' : 'three arenas'}) matches the float64 reference in 2 dispatches per run + 1, padding stays 0`, async () => {
      const gpu = await testGpu();
      const rand = rng();
      const sp = specs(rand);
      const arenas = ParamArenas.create(gpu, sp, { maxBytes });
      const cfg = { lr: 1e-2, weightDecay: 0.1, gradClip: 0.5, beta1: 0.9, beta2: 0.95, eps: 1e-8 };
      const opt = new AdamW(gpu, arenas.params, cfg);
      const ref: AdamWRefState = { params: sp.map((s) => Float64Array.from(s.data)), m: sp.map((s) => new Float64Array(s.data.length)), v: sp.map((s) => new Float64Array(s.data.length)), step: 0 };
      const runs = arenaRuns(sp.map((s) => ({ size: s.data.length, decay: s.decay })), planArenas(sp.map((s) => ({ size: s.data.length, decay: s.decay })), maxBytes));
      for (let step = 0; step < 3; step++) {
        const grads = arenas.params.map((p) => {
          const g = randomNormal(p.grad.size, rand, 1);
          gpu.write(p.grad, g);
          return g;
        });
        const d0 = gpu.dispatchCount;
        const res = opt.step(cfg.lr);
        assert.equal(gpu.dispatchCount - d0, 2 * runs.length + 1);
        const want = adamwStepRef(ref, grads, DECAY, cfg, cfg.lr);
        const got = await gpu.readF32(res);
        assertClose(`step ${step} norm`, [got[0]!], [want.norm], { rtol: 1e-5, atol: 0 });
        res.release();
        const st = opt.state();
        for (const [k, p] of arenas.params.entries()) {
          assertClose(`step ${step} param ${k}`, await gpu.readF32(p.value), ref.params[k]!, { rtol: 1e-5, atol: 1e-5 });
          assertClose(`step ${step} v ${k}`, await gpu.readF32(st.v[k]!), ref.v[k]!, { rtol: 1e-5, atol: 1e-5 });
        }
      }
      // the padding between params is still exactly 0
      const first = arenas.params[0]!.value;
      const plan = planArenas(sp.map((s) => ({ size: s.data.length, decay: s.decay })), maxBytes);
      const arena0 = await gpu.readF32(new Tensor(first.buffer, [plan.sizes[plan.place[0]![0]]!], 'f32', null, 0));
      const covered = new Uint8Array(arena0.length);
      sp.forEach((s, i) => {
        if (plan.place[i]![0] === plan.place[0]![0]) covered.fill(1, plan.place[i]![1], plan.place[i]![1] + s.data.length);
      });
      arena0.forEach((x, j) => {
        if (!covered[j]) assert.equal(x, 0, `padding element ${j}`);
      });
      opt.dispose();
      arenas.release();
    });
  }
});
