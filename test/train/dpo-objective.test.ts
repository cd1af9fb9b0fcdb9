import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { dpoLoss, logSigmoid, type DpoInputs, type DpoLossType, type DpoSettings } from '../../src/train/objectives/dpo.js';
import { rng, testSeed } from '../helpers/random.js';

const isBadInput = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message);

/**
 * 4 pairs of T = 6 tokens a side, completions of different lengths after a masked prompt token, log-
 * probs in [-3, -0.1], reference sums near the policy's so the margins βΔ straddle 0 and 1 (both
 * sides of the hinge, never within 1e-3 of its kink).
 */
function pairs(seed: number, s: DpoSettings): DpoInputs {
  const r = rng(seed);
  const P = 4;
  const T = 6;
  const side = () => {
    const logp = new Float64Array(P * T);
    const mask = new Float64Array(P * T);
    const sums = new Float64Array(P);
    for (let p = 0; p < P; p++) {
      const end = T - Math.floor(r() * 3);
      for (let t = 0; t < T; t++) {
        const k = p * T + t;
        if (t === 0 || t >= end) {
          logp[k] = NaN; // never read
          continue;
        }
        mask[k] = 1;
        logp[k] = -0.1 - 2.9 * r();
        sums[p] += logp[k];
      }
    }
    return { logp, mask, sums };
  };
  const c = side();
  const rj = side();
  const x: DpoInputs = { pairs: P, T, chosen: { logp: c.logp, mask: c.mask, refLogp: new Float64Array(P) }, rejected: { logp: rj.logp, mask: rj.mask, refLogp: new Float64Array(P) } };
  for (let p = 0; p < P; p++) {
    // target margins: pair 0 clearly won, pair 1 clearly lost, the others random
    const noise = (r() - 0.5) * 0.2;
    let want: number;
    do want = p === 0 ? 3 / s.beta : p === 1 ? -2 / s.beta : ((r() - 0.5) * 4) / s.beta;
    while (Math.abs(s.beta * (want - noise) - 1) < 0.01); // βΔ away from the hinge's kink
    (x.chosen.refLogp as Float64Array)[p] = c.sums[p] - want / 2 - noise;
    (x.rejected.refLogp as Float64Array)[p] = rj.sums[p] + want / 2;
  }
  return x;
}

/** −∂L/∂logp by central differences of the float64 loss, for each active token of each side. */
function numericWeights(x: DpoInputs, s: DpoSettings): { chosen: Float64Array; rejected: Float64Array } {
  const h = 1e-6;
  const out = { chosen: new Float64Array(x.pairs * x.T), rejected: new Float64Array(x.pairs * x.T) };
  for (const side of ['chosen', 'rejected'] as const) {
    const logp = Float64Array.from(x[side].logp);
    const at = (v: Float64Array) => dpoLoss({ ...x, [side]: { ...x[side], logp: v } }, s).loss;
    for (let k = 0; k < logp.length; k++) {
      if (x[side].mask[k] === 0) continue;
      const orig = logp[k];
      logp[k] = orig + h;
      const lp = at(logp);
      logp[k] = orig - h;
      const lm = at(logp);
      logp[k] = orig;
      out[side][k] = -(lp - lm) / (2 * h);
    }
  }
  return out;
}

describe('dpoLoss weights are −∂L/∂logp (central finite differences of the float64 loss)', () => {
  const cases: DpoSettings[] = [];
  for (const loss of ['sigmoid', 'ipo', 'hinge', 'robust'] as DpoLossType[]) {
    cases.push({ loss, beta: 0.5 });
    if (loss === 'sigmoid' || loss === 'robust') cases.push({ loss, beta: 0.3, labelSmoothing: 0.1 });
    cases.push({ loss, beta: 0.2, sftWeight: 0.7 });
  }
  cases.forEach((s, n) => {
    it(`${s.loss}, β = ${s.beta}${s.labelSmoothing ? `, label smoothing ${s.labelSmoothing}` : ''}${s.sftWeight ? `, SFT weight ${s.sftWeight}` : ''}`, () => {
      const x = pairs(testSeed + n, s);
      const res = dpoLoss(x, s);
      const fd = numericWeights(x, s);
      for (const side of ['chosen', 'rejected'] as const) {
        let scale = 0;
        for (const w of res.weights[side]) scale = Math.max(scale, Math.abs(w));
        assert.ok(scale > 0, `${side} weights are not all zero`);
        res.weights[side].forEach((w, k) => {
          assert.ok(Math.abs(w - fd[side][k]) <= 1e-8 + 1e-6 * scale, `${side} token ${k}: weight ${w}, finite difference ${fd[side][k]} (seed ${testSeed})`);
          if (x[side].mask[k] === 0) assert.equal(w, 0);
        });
      }
      if (s.loss === 'hinge' && !s.sftWeight) {
        // the batch has a pair past the hinge (zero weights) and one before it
        assert.ok(res.weights.chosen.subarray(0, x.T).every((w) => w === 0), 'pair 0 (margin > 1) has no gradient');
        assert.ok(res.weights.chosen.subarray(x.T, 2 * x.T).some((w) => w !== 0), 'pair 1 has a gradient');
      }
    });
  });
});

describe('dpoLoss values and metrics', () => {
  it('matches a hand computation of the sigmoid loss and TRL metrics on two pairs', () => {
    const x: DpoInputs = {
      pairs: 2,
      T: 2,
      chosen: { logp: [-1, -2, -0.5, NaN], mask: [1, 1, 1, 0], refLogp: [-2.5, -1] },
      rejected: { logp: [-3, NaN, -1, -1], mask: [1, 0, 1, 1], refLogp: [-2, -1.5] },
    };
    const beta = 0.1;
    // s+ = -3 - -2.5 = -0.5, s- = -3 - -2 = -1 (pair 0); s+ = -0.5 - -1 = 0.5, s- = -2 - -1.5 = -0.5
    const res = dpoLoss(x, { loss: 'sigmoid', beta });
    const want = (-logSigmoid(beta * 0.5) - logSigmoid(beta * 1)) / 2;
    assert.ok(Math.abs(res.loss - want) < 1e-12, `loss ${res.loss}, expected ${want}`);
    const close = (k: string, v: number) => assert.ok(Math.abs(res.metrics[k] - v) < 1e-12, `${k}: ${res.metrics[k]}, expected ${v}`);
    close('rewards/chosen', (beta * (-0.5 + 0.5)) / 2);
    close('rewards/rejected', (beta * (-1 - 0.5)) / 2);
    close('rewards/margins', (beta * (0.5 + 1)) / 2);
    close('rewards/accuracies', 1);
    close('logps/chosen', (-3 - 0.5) / 2);
    close('logps/rejected', (-3 - 2) / 2);
    const ipo = dpoLoss(x, { loss: 'ipo', beta });
    const d0 = -0.5 / 2 - -1 / 1; // per-token averaged: s+/|y+| − s−/|y−|
    const d1 = 0.5 / 1 - -0.5 / 2;
    assert.ok(Math.abs(ipo.loss - ((d0 - 5) ** 2 + (d1 - 5) ** 2) / 2) < 1e-12, `ipo loss ${ipo.loss}`);
    const sft = dpoLoss(x, { loss: 'hinge', beta, sftWeight: 2 });
    assert.ok(Math.abs(sft.metrics.nll_loss - 3.5 / 3) < 1e-12, `nll ${sft.metrics.nll_loss}`);
    assert.ok(Math.abs(sft.loss - ((1 - beta * 0.5 + 1 - beta * 1) / 2 + 2 * (3.5 / 3))) < 1e-12, `hinge + sft loss ${sft.loss}`);
  });

  it('refuses bad settings and non-finite log-probs', () => {
    const x: DpoInputs = { pairs: 1, T: 1, chosen: { logp: [-1], mask: [1], refLogp: [-1] }, rejected: { logp: [-2], mask: [1], refLogp: [-2] } };
    assert.throws(() => dpoLoss(x, { loss: 'sigmoid', beta: 0 }), isBadInput(/beta must be a finite number > 0/));
    assert.throws(() => dpoLoss(x, { loss: 'robust', beta: 1, labelSmoothing: 0.5 }), isBadInput(/robust needs labelSmoothing < 0.5/));
    assert.throws(() => dpoLoss(x, { loss: 'ipo', beta: 1, labelSmoothing: 0.1 }), isBadInput(/labelSmoothing applies to sigmoid and robust/));
    assert.throws(() => dpoLoss({ ...x, chosen: { ...x.chosen, logp: [NaN] } }, { loss: 'sigmoid', beta: 1 }), isBadInput(/non-finite chosen log-prob at pair 0 token 0/));
    assert.throws(() => dpoLoss({ ...x, rejected: { ...x.rejected, mask: [0] } }, { loss: 'sigmoid', beta: 1 }), isBadInput(/rejected completion of pair 0 has no tokens/));
    assert.throws(() => dpoLoss({ ...x, rejected: { ...x.rejected, refLogp: [] } }, { loss: 'sigmoid', beta: 1 }), isBadInput(/rejected.refLogp has 0 values for 1 pairs/));
  });
});
