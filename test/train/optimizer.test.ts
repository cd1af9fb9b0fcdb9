import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, decaysByName, type AdamWConfig, type Param } from '../../src/train/optimizer.js';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomF32, randomNormal, rng } from '../helpers/random.js';
import { adamwStepRef, globalNormRef, type AdamWRefConfig, type AdamWRefState } from '../reference/optimizer.js';

const TOL = { rtol: 1e-5, atol: 1e-5 };
/** the smallest magnitude an m term (1 - beta1) · clipped gradient has in these tests, roughly */
const M_TERM_SCALE = 1e-3;

interface Setup {
  opt: AdamW;
  params: Param[];
  ref: AdamWRefState;
  refCfg: AdamWRefConfig;
  decay: boolean[];
}

function setup(gpu: Gpu, shapes: number[][], cfg: AdamWConfig, rand: () => number): Setup {
  const params: Param[] = [];
  const ref: AdamWRefState = { params: [], m: [], v: [], step: 0 };
  const decay: boolean[] = [];
  shapes.forEach((shape, k) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const value = randomF32(n, rand);
    const d = k % 2 === 0; // mix of decaying and non-decaying params
    params.push({ name: `p${k}`, value: gpu.upload(value, shape), grad: gpu.upload(new Float32Array(n), shape), decay: d });
    ref.params.push(Float64Array.from(value));
    ref.m.push(new Float64Array(n));
    ref.v.push(new Float64Array(n));
    decay.push(d);
  });
  const refCfg = { beta1: cfg.beta1 ?? 0.9, beta2: cfg.beta2 ?? 0.95, eps: cfg.eps ?? 1e-8, weightDecay: cfg.weightDecay ?? 0, gradClip: cfg.gradClip ?? 0 };
  return { opt: new AdamW(gpu, params, cfg), params, ref, refCfg, decay };
}

function newGrads(gpu: Gpu, s: Setup, rand: () => number, std = 1): Float32Array[] {
  return s.params.map((p) => {
    const g = randomNormal(p.grad.size, rand, std);
    gpu.write(p.grad, g);
    return g;
  });
}

async function expectState(gpu: Gpu, s: Setup, label: string): Promise<void> {
  const st = s.opt.state();
  for (let k = 0; k < s.params.length; k++) {
    assertClose(`${label} param ${k}`, await gpu.readF32(s.params[k]!.value), s.ref.params[k]!, TOL);
    // m is a running sum of gradients of both signs: it can cancel to far below its terms (a 1-element
    // tensor then has no larger element to set the scale), so its error is held against the terms' size
    const mScale = Math.max(...Array.from(s.ref.m[k]!, Math.abs), M_TERM_SCALE);
    assertClose(`${label} m ${k}`, await gpu.readF32(st.m[k]!), s.ref.m[k]!, { ...TOL, scale: mScale });
    assertClose(`${label} v ${k}`, await gpu.readF32(st.v[k]!), s.ref.v[k]!, TOL);
  }
  assert.equal((await gpu.readU32(st.step))[0], s.ref.step, `${label}: GPU step counter`);
}

function dispose(s: Setup): void {
  s.opt.dispose();
  for (const p of s.params) {
    p.value.release();
    p.grad.release();
  }
}

// the last two span several AdamW workgroups and grad-norm chunks, with tails: one as vec4s (a
// length divisible by 4), one element by element
const SHAPES = [[1], [7], [33, 5], [129], [4, 1000], [36, 1009], [37, 1009]];

describe('AdamW', () => {
  for (const [label, cfg] of [
    ['no clipping, weight decay 0.1', { lr: 1e-2, weightDecay: 0.1 }],
    ['clipping at 0.5 (always active), beta2 0.999', { lr: 1e-2, weightDecay: 0.05, gradClip: 0.5, beta2: 0.999 }],
    ['clipping at 1e6 (never active)', { lr: 3e-3, gradClip: 1e6, eps: 1e-6 }],
  ] as [string, AdamWConfig][]) {
    it(`matches the float64 reference over 5 steps: ${label}`, async () => {
      const gpu = await testGpu();
      const rand = rng();
      const s = setup(gpu, SHAPES, cfg, rand);
      for (let step = 0; step < 5; step++) {
        const grads = newGrads(gpu, s, rand, step === 2 ? 0.01 : 1);
        const lr = cfg.lr * (1 - step / 10);
        const res = s.opt.step(lr);
        const want = adamwStepRef(s.ref, grads, s.decay, s.refCfg, lr);
        const got = await gpu.readF32(res);
        assertClose(`step ${step} norm`, [got[0]!], [want.norm], { rtol: 1e-5, atol: 0 });
        assert.equal(got[1], 0, `step ${step} should not be skipped`);
        res.release();
        await expectState(gpu, s, `step ${step}`);
      }
      assert.equal(s.opt.stepCount, 5);
      assert.equal(await s.opt.readStepCount(), 5);
      dispose(s);
    });
  }

  for (const poison of [NaN, Infinity]) {
    it(`skips a step whose gradients contain ${poison} and keeps bias correction right`, async () => {
      const gpu = await testGpu();
      const rand = rng();
      const s = setup(gpu, SHAPES, { lr: 1e-2, weightDecay: 0.1, gradClip: 1 }, rand);
      for (let step = 0; step < 4; step++) {
        const grads = newGrads(gpu, s, rand);
        if (step === 1) {
          // one bad element deep inside the largest tensor
          grads[4]![2345] = poison;
          gpu.write(s.params[4]!.grad, grads[4]!);
        }
        const res = s.opt.step(1e-2);
        const want = adamwStepRef(s.ref, grads, s.decay, s.refCfg, 1e-2);
        const got = await gpu.readF32(res);
        assert.equal(got[1], step === 1 ? 1 : 0, `step ${step} skipped flag`);
        assert.equal(want.skipped, step === 1);
        if (step === 1) assert.ok(!Number.isFinite(got[0]!), `reported norm ${got[0]} should not be finite`);
        else assertClose(`step ${step} norm`, [got[0]!], [want.norm], { rtol: 1e-5, atol: 0 });
        res.release();
        await expectState(gpu, s, `step ${step}`);
      }
      assert.equal(s.opt.stepCount, 4);
      assert.equal(await s.opt.readStepCount(), 3);
      dispose(s);
    });
  }

  it('computes the global grad norm over many tensors of awkward sizes', async () => {
    const gpu = await testGpu();
    const rand = rng();
    const s = setup(gpu, [[1], [7], [129], [70_000], [2049], [3, 3]], { lr: 0 }, rand);
    const grads = newGrads(gpu, s, rand, 0.3);
    const res = s.opt.step(0);
    assertClose('norm', [(await gpu.readF32(res))[0]!], [globalNormRef(grads)], { rtol: 1e-5, atol: 0 });
    res.release();
    dispose(s);
  });

  it('is deterministic: two optimizers on the same data agree bit for bit', async () => {
    const gpu = await testGpu();
    const seed = Math.floor(rng()() * 2 ** 32);
    const runs: Uint32Array[][] = [];
    for (let run = 0; run < 2; run++) {
      const rand = rng(seed);
      const s = setup(gpu, [[7], [70_000], [129]], { lr: 1e-2, weightDecay: 0.1, gradClip: 1 }, rand);
      const out: Uint32Array[] = [];
      for (let step = 0; step < 3; step++) {
        newGrads(gpu, s, rand);
        const res = s.opt.step(1e-2);
        out.push(new Uint32Array((await gpu.readF32(res)).buffer.slice(0)));
        res.release();
      }
      for (const p of s.params) out.push(new Uint32Array((await gpu.readF32(p.value)).slice().buffer));
      runs.push(out);
      dispose(s);
    }
    assert.equal(runs[0]!.length, runs[1]!.length);
    runs[0]!.forEach((a, i) => assert.deepEqual(a, runs[1]![i], `output ${i} differs between runs`));
  });

  it('zeroGrads clears every gradient and loadState restores m, v and the step', async () => {
    const gpu = await testGpu();
    const rand = rng();
    const s = setup(gpu, [[7], [129]], { lr: 1e-2 }, rand);
    newGrads(gpu, s, rand);
    s.opt.zeroGrads();
    for (const p of s.params) assert.ok((await gpu.readF32(p.grad)).every((x) => x === 0));
    // restore a state, then one step must continue from it (bias correction at t = 4)
    for (let k = 0; k < 2; k++) {
      s.ref.m[k] = Float64Array.from(randomF32(s.params[k]!.value.size, rand, -0.1, 0.1));
      s.ref.v[k] = Float64Array.from(randomF32(s.params[k]!.value.size, rand, 0, 0.1));
    }
    s.ref.step = 3;
    s.opt.loadState({ m: s.ref.m.map((a) => Float32Array.from(a)), v: s.ref.v.map((a) => Float32Array.from(a)), step: 3 });
    const grads = newGrads(gpu, s, rand);
    s.opt.step(1e-2).release();
    adamwStepRef(s.ref, grads, s.decay, s.refCfg, 1e-2);
    await expectState(gpu, s, 'after loadState');
    dispose(s);
  });

  it('rejects a gradient whose shape differs from its param with a SHAPE error naming both', async () => {
    const gpu = await testGpu();
    const value = gpu.empty([3, 4]);
    const grad = gpu.empty([4, 3]);
    assert.throws(
      () => new AdamW(gpu, [{ name: 'w', value, grad, decay: true }], { lr: 1 }),
      (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && /\[4x3\].*\[3x4\]/.test(e.message),
    );
    value.release();
    grad.release();
  });

  it('decaysByName follows the HF convention', () => {
    assert.equal(decaysByName('model.layers.0.self_attn.q_proj.weight'), true);
    assert.equal(decaysByName('model.embed_tokens.weight'), true);
    assert.equal(decaysByName('lm_head.weight'), true);
    assert.equal(decaysByName('model.layers.0.self_attn.q_proj.bias'), false);
    assert.equal(decaysByName('model.layers.0.input_layernorm.weight'), false);
    assert.equal(decaysByName('model.layers.0.post_attention_layernorm.weight'), false);
    assert.equal(decaysByName('model.layers.0.self_attn.q_norm.weight'), false);
    assert.equal(decaysByName('model.norm.weight'), false);
  });
});
