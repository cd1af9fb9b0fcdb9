import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { ADVANTAGE_EPS, advantages, grpoLoss, grpoObjective, rewardMetrics, type GrpoInputs, type GrpoLossType, type GrpoSettings } from '../../src/train/objectives/grpo.js';
import { rng, testSeed } from '../helpers/random.js';

const isBadInput = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message);

/**
 * A micro-batch of 3 groups of G = 2 completions, T = 9 tokens a row: a prompt prefix and padding
 * (mask 0) around completions of different lengths, log-probs in [-4, -0.05], advantages of both
 * signs. Old log-probs put ρ = exp(logp − old) in and out of [1 − ε_low, 1 + ε_high] on both sides
 * (never within 1e-3 of a boundary, so the finite differences below never cross a kink).
 */
function batch(seed: number, settings: GrpoSettings): GrpoInputs & { refLogp: Float64Array; oldLogp: Float64Array } {
  const r = rng(seed);
  const rows = 6;
  const T = 9;
  const mask = new Float64Array(rows * T);
  const logp = new Float64Array(rows * T);
  const oldLogp = new Float64Array(rows * T);
  const refLogp = new Float64Array(rows * T);
  const lo = 1 - settings.clip.low;
  const hi = 1 + settings.clip.high;
  for (let i = 0; i < rows; i++) {
    const start = 1 + Math.floor(r() * 2);
    const end = T - Math.floor(r() * 3);
    for (let t = 0; t < T; t++) {
      const k = i * T + t;
      logp[k] = -0.05 - 3.95 * r();
      if (t < start || t >= end) {
        logp[k] = NaN; // masked tokens are never read
        continue;
      }
      mask[k] = 1;
      // every run of 5 tokens has ρ below, inside and above the clip range (jittered, off the edges)
      let rho: number;
      do rho = [0.55, 0.9, 1, 1.1, 1.5][t % 5] * Math.exp((r() - 0.5) * 0.1);
      while (Math.abs(rho - lo) < 1e-3 || Math.abs(rho - hi) < 1e-3);
      oldLogp[k] = logp[k] - Math.log(rho);
      refLogp[k] = logp[k] + (r() - 0.5);
    }
  }
  const rewards = Array.from({ length: rows }, () => Math.round(r() * 4) / 4);
  rewards[0] = 1; // at least one group with both signs
  rewards[1] = 0;
  return { rows, T, mask, logp, oldLogp, refLogp, advantages: advantages(rewards, 2, 'group') };
}

/**
 * Central differences of L with respect to each active token's logp, float64. On-policy (no old
 * log-probs) the old ones are the unperturbed logp held constant, as TRL's logp.detach().
 */
function numericWeights(x0: GrpoInputs, s: GrpoSettings): Float64Array {
  const h = 1e-6;
  const x = { ...x0, oldLogp: x0.oldLogp ?? Float64Array.from(x0.logp) };
  const logp = Float64Array.from(x.logp);
  const out = new Float64Array(logp.length);
  for (let k = 0; k < logp.length; k++) {
    if (x.mask[k] === 0) continue;
    const orig = logp[k];
    logp[k] = orig + h;
    const lp = grpoLoss({ ...x, logp }, s).loss;
    logp[k] = orig - h;
    const lm = grpoLoss({ ...x, logp }, s).loss;
    logp[k] = orig;
    out[k] = -(lp - lm) / (2 * h);
  }
  return out;
}

describe('grpoLoss weights are −∂L/∂logp (central finite differences of the float64 loss)', () => {
  const types: GrpoLossType[] = ['grpo', 'dr_grpo', 'dapo'];
  for (const loss of types) {
    for (const kl of [0, 0.04]) {
      for (const withOld of [true, false]) {
        it(`${loss}, β = ${kl}, ${withOld ? 'old log-probs with clipping active' : 'on-policy (ratio 1)'}`, () => {
          const settings: GrpoSettings = { loss, clip: { low: 0.2, high: 0.28 }, klCoef: kl, maxCompletionLength: 12 };
          const b = batch(testSeed + types.indexOf(loss), settings);
          const x: GrpoInputs = { ...b, oldLogp: withOld ? b.oldLogp : undefined, refLogp: kl > 0 ? b.refLogp : undefined, numItems: loss === 'dapo' ? 41 : undefined };
          const res = grpoLoss(x, settings);
          const fd = numericWeights(x, settings);
          let scale = 0;
          for (const w of res.weights) scale = Math.max(scale, Math.abs(w));
          assert.ok(scale > 0, 'the weights are not all zero');
          res.weights.forEach((w, k) => {
            assert.ok(Math.abs(w - fd[k]) <= 1e-7 + 1e-6 * scale, `token ${k}: weight ${w}, finite difference ${fd[k]} (seed ${testSeed})`);
            if (x.mask[k] === 0) assert.equal(w, 0, `masked token ${k} has weight ${w}`);
          });
          if (withOld) {
            // the batch really exercises the clip: tokens clipped low and high (zero weight without KL)
            assert.ok(res.metrics['clip_ratio/low_mean'] > 0 && res.metrics['clip_ratio/high_mean'] > 0, `clip metrics ${JSON.stringify(res.metrics)} (seed ${testSeed})`);
            if (kl === 0) assert.ok(res.weights.some((w, k) => w === 0 && x.mask[k] === 1 && x.advantages[Math.floor(k / x.T)] !== 0), 'some active token is clipped to weight 0');
          } else {
            assert.equal(res.metrics['clip_ratio/region_mean'], 0);
          }
        });
      }
    }
  }
});

describe('grpoLoss values and metrics', () => {
  it('matches a hand computation of the three aggregations on a 2-completion batch', () => {
    // completion 0: A = 1, tokens ρ = 1.5 (clipped high: min(1.5, 1.2) = 1.2) and ρ = 1 ; |o| = 2
    // completion 1: A = −1, one token ρ = 0.5 (clipped low: min(−0.5, −0.8) = −0.8), one masked
    const lnr = Math.log;
    const x: GrpoInputs = {
      rows: 2,
      T: 2,
      advantages: [1, -1],
      mask: [1, 1, 1, 0],
      logp: [lnr(1.5) - 1, -2, lnr(0.5) - 3, 0],
      oldLogp: [-1, -2, -3, 0],
    };
    const clip = { low: 0.2, high: 0.2 };
    const l0 = [-1.2, -1];
    const l1 = [0.8];
    const grpo = grpoLoss(x, { loss: 'grpo', clip, klCoef: 0 });
    assert.ok(Math.abs(grpo.loss - ((l0[0] + l0[1]) / 2 + l1[0]) / 2) < 1e-12, `grpo loss ${grpo.loss}`);
    const dr = grpoLoss(x, { loss: 'dr_grpo', clip, klCoef: 0, maxCompletionLength: 4 });
    assert.ok(Math.abs(dr.loss - (l0[0] + l0[1] + l1[0]) / (2 * 4)) < 1e-12, `dr_grpo loss ${dr.loss}`);
    const dapo = grpoLoss(x, { loss: 'dapo', clip, klCoef: 0 });
    assert.ok(Math.abs(dapo.loss - (l0[0] + l0[1] + l1[0]) / 3) < 1e-12, `dapo loss ${dapo.loss}`);
    // both clipped tokens get no gradient; the ratio-1 token gets −∂ℓ/∂logp · c = ρA · c = 1/(2·2)
    assert.deepEqual([...grpo.weights], [0, 0.25, 0, 0]);
    assert.deepEqual(grpo.metrics, { 'clip_ratio/low_mean': 1 / 3, 'clip_ratio/high_mean': 1 / 3, 'clip_ratio/region_mean': 2 / 3 });
  });

  it('reports kl (mean k3) and entropy over active tokens only', () => {
    const x: GrpoInputs = { rows: 1, T: 3, advantages: [0.5], mask: [0, 1, 1], logp: [NaN, -1, -2], refLogp: [NaN, -1.5, -1], entropy: [99, 0.5, 1.5] };
    const k3 = (d: number) => Math.exp(d) - d - 1;
    const res = grpoLoss(x, { loss: 'dapo', clip: { low: 0.2, high: 0.2 }, klCoef: 0.1 });
    assert.ok(Math.abs(res.metrics.kl - (k3(-0.5) + k3(1)) / 2) < 1e-12, `kl ${res.metrics.kl}`);
    assert.equal(res.metrics.entropy, 1);
    assert.ok(Math.abs(res.loss - (-0.5 * 2 + 0.1 * (k3(-0.5) + k3(1))) / 2) < 1e-12, `loss ${res.loss}`);
  });

  it('clamps log-ratios so a wild old or reference log-prob gives finite values and zero gradient', () => {
    const x: GrpoInputs = { rows: 1, T: 2, advantages: [-1], mask: [1, 1], logp: [-1, -1], oldLogp: [-1000, -1], refLogp: [-1, 500] };
    const res = grpoLoss(x, { loss: 'dapo', clip: { low: 0.2, high: 0.2 }, klCoef: 0.1 });
    assert.ok(Number.isFinite(res.loss) && res.weights.every(Number.isFinite), `loss ${res.loss}, weights ${res.weights}`);
    // token 0: ρ = e^20 with A < 0 keeps the unclipped (pessimistic) branch but the clamp freezes it
    assert.equal(res.weights[0], 0);
    // token 1: ρ = 1 surrogate gradient A·ρ, KL term frozen by the clamp of ref − logp = 501
    assert.ok(Math.abs(res.weights[1] - -1 / 2) < 1e-12, `weight ${res.weights[1]}`);
  });

  it('grpoObjective (ragged rows) equals grpoLoss on the same tokens packed with a mask', () => {
    const settings: GrpoSettings = { loss: 'grpo', clip: { low: 0.2, high: 0.28 }, klCoef: 0.03 };
    const b = batch(testSeed + 9, settings);
    const cut = (v: ArrayLike<number>) => Array.from({ length: b.rows }, (_, i) => Array.from({ length: b.T }, (_, t) => i * b.T + t).filter((k) => b.mask[k] === 1).map((k) => v[k]));
    const entropy = Float64Array.from(b.logp, (_, k) => k * 0.01);
    const flat = grpoLoss({ ...b, entropy, numSequences: 9 }, settings);
    const ragged = grpoObjective({ ...settings, logp: cut(b.logp), old: cut(b.oldLogp), ref: cut(b.refLogp), entropy: cut(entropy), advantages: b.advantages, numSequences: 9 });
    assert.ok(Math.abs(ragged.loss - flat.loss) < 1e-12, `loss ${ragged.loss} vs ${flat.loss}`);
    assert.deepEqual(ragged.weights, cut(flat.weights));
    assert.deepEqual(ragged.metrics, flat.metrics);
    assert.throws(() => grpoObjective({ ...settings, logp: [[-1, -2]], old: [[-1]], advantages: [1] }), isBadInput(/old row 0 has 1 tokens, logp has 2/));
  });

  it('refuses non-finite log-probs on active tokens and inconsistent inputs', () => {
    const s: GrpoSettings = { loss: 'grpo', clip: { low: 0.2, high: 0.2 }, klCoef: 0 };
    const x: GrpoInputs = { rows: 1, T: 2, advantages: [1], mask: [1, 1], logp: [-1, NaN] };
    assert.throws(() => grpoLoss(x, s), isBadInput(/grpoLoss: non-finite log-prob at completion 0 token 1/));
    assert.throws(() => grpoLoss({ ...x, logp: [-1, -1], refLogp: [-1, Infinity] }, { ...s, klCoef: 0.1 }), isBadInput(/non-finite reference log-prob/));
    assert.throws(() => grpoLoss({ ...x, logp: [-1, -1] }, { ...s, klCoef: 0.1 }), isBadInput(/needs reference log-probs/));
    assert.throws(() => grpoLoss({ ...x, logp: [-1] }, s), isBadInput(/logp has 1 values for rows\*T = 1\*2/));
    assert.throws(() => grpoLoss({ ...x, logp: [-1, -1] }, { ...s, loss: 'dr_grpo' }), isBadInput(/dr_grpo needs maxCompletionLength/));
    assert.throws(() => grpoLoss({ ...x, logp: [-1, -1], advantages: [NaN] }, s), isBadInput(/advantage 0 is NaN/));
    assert.throws(() => grpoLoss({ ...x, logp: [-1, -1] }, { ...s, clip: { low: 1.2, high: 0.2 } }), isBadInput(/clip/));
  });
});

describe('advantages', () => {
  const std = (v: number[]) => {
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
  };
  const close = (got: Float64Array, want: number[], what: string) => got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-12, `${what}[${i}]: ${g}, expected ${want[i]}`));

  it("'group' divides by each group's unbiased std + 1e-4; a uniform group gets 0", () => {
    const r = [1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5];
    const s = Math.sqrt(1 / 3); // unbiased std of {1, 0, 0, 1}: sqrt(4·0.25 / 3)
    close(advantages(r, 4, 'group'), [0.5 / (s + 1e-4), -0.5 / (s + 1e-4), -0.5 / (s + 1e-4), 0.5 / (s + 1e-4), 0, 0, 0, 0], 'group');
    assert.equal(std([1, 0, 0, 1]), s);
  });

  it("'batch' centres per group but divides by the whole batch's std; 'none' only centres", () => {
    const r = [1, 0, 0, 1, 0, 0, 0, 0];
    const sb = Math.sqrt((2 * 0.75 ** 2 + 6 * 0.25 ** 2) / 7);
    close(advantages(r, 4, 'batch'), [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0].map((a) => a / (sb + ADVANTAGE_EPS)), 'batch');
    close(advantages([3, 1, 2, 2], 2, 'none'), [1, -1, 0, 0], 'none');
  });

  it('leaves NaN rewards out of the statistics and gives them advantage 0', () => {
    const s = std([1, 0, 0]);
    close(advantages([1, NaN, 0, 0], 4, 'group'), [(2 / 3) / (s + 1e-4), 0, -(1 / 3) / (s + 1e-4), -(1 / 3) / (s + 1e-4)], 'nan');
    close(advantages([NaN, NaN, 1, 0], 2, 'group'), [0, 0, 0.5 / (std([1, 0]) + 1e-4), -0.5 / (std([1, 0]) + 1e-4)], 'all-NaN group');
  });

  it('asserts whole, contiguous groups', () => {
    assert.throws(() => advantages([1, 0, 1], 2, 'group'), isBadInput(/3 completions are not whole groups of G = 2/));
    assert.throws(() => advantages([1, 0], 1, 'group'), isBadInput(/G must be an integer >= 2/));
    assert.throws(() => advantages([1, 0, 1, 0], 2, 'group', ['a', 'b', 'b', 'a']), isBadInput(/completion 1 belongs to 'b' but its group of G = 2 starts with 'a'/));
    assert.throws(() => advantages([1, Infinity], 2, 'group'), isBadInput(/reward 1 is Infinity/));
    assert.doesNotThrow(() => advantages([1, 0, 1, 0], 2, 'group', ['a', 'a', 'b', 'b']));
  });

  it('rewardMetrics: mean, unbiased batch std and the fraction of zero-std groups', () => {
    const m = rewardMetrics([1, 1, 0, 1, NaN, 0], 2);
    assert.ok(Math.abs(m.reward - 0.6) < 1e-12);
    assert.ok(Math.abs(m.reward_std - std([1, 1, 0, 1, 0])) < 1e-12);
    assert.ok(Math.abs(m.frac_reward_zero_std - 2 / 3) < 1e-12, `${m.frac_reward_zero_std}`);
  });
});
