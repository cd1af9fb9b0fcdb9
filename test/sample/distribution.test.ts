import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { drawFrom, probabilityOf, residual, samplingDistribution } from '../../src/sample/distribution.js';
import { resolveSampling, type SamplingOptions } from '../../src/sample/sampler.js';
import { rng, testSeed } from '../helpers/random.js';
import { samplingDistributionRef } from '../reference/sampling.js';

/**
 * The CPU sampling distribution speculative sampling uses must be the GPU sampler's: checked against
 * the float64 reference of the sampler's rules (test/reference/sampling.ts) on random logits (with
 * ties and a wide range) for every mode, plus the residual and inverse-CDF draws.
 */
function randomLogits(n: number, r: () => number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (r() - 0.5) * 12;
  x[3] = x[7]!; // a tie
  return x;
}

describe('samplingDistribution', () => {
  const modes: SamplingOptions[] = [
    { temperature: 0 },
    { temperature: 1 },
    { temperature: 0.6 },
    { temperature: 0.8, topK: 5 },
    { temperature: 1.2, topP: 0.7 },
    { temperature: 1, minP: 0.1 },
    { temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05 },
    { temperature: 1, topK: 200 }, // more than 64: acts as 64
  ];
  for (const o of modes) {
    it(`matches the sampler's float64 reference: ${JSON.stringify(o)}`, () => {
      const r = rng(testSeed);
      for (let trial = 0; trial < 5; trial++) {
        const V = [10, 97, 300][trial % 3]!;
        const logits = randomLogits(V, r);
        const opts = { ...o, topK: o.topK === undefined ? undefined : Math.min(o.topK, V) };
        const d = samplingDistribution(logits, resolveSampling(opts, V));
        const want = samplingDistributionRef(logits, { temperature: o.temperature!, topK: opts.topK, topP: o.topP, minP: o.minP });
        const got = new Float64Array(V);
        d.tokens.forEach((t, i) => (got[t] = d.probs[i]!));
        for (let i = 0; i < V; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-9, `token ${i}: ${got[i]} vs ${want[i]} (V ${V}, seed ${testSeed})`);
        assert.ok(Math.abs(d.probs.reduce((a, b) => a + b, 0) - 1) < 1e-12);
      }
    });
  }

  it('residual is norm(max(0, p - q)); drawFrom is the inverse CDF', () => {
    const p = { tokens: [0, 1, 2], probs: [0.5, 0.3, 0.2] };
    const q = { tokens: [0, 2, 3], probs: [0.7, 0.1, 0.2] };
    const res = residual(p, q);
    assert.deepEqual(res.tokens, [1, 2]);
    assert.ok(Math.abs(res.probs[0]! - 0.75) < 1e-12 && Math.abs(res.probs[1]! - 0.25) < 1e-12);
    assert.equal(probabilityOf(q, 1), 0);
    assert.deepEqual([0.1, 0.49, 0.5, 0.79, 0.81, 0.999999].map((u) => drawFrom(p, u)), [0, 0, 1, 1, 2, 2]);
    assert.deepEqual(residual(p, p), p, 'no positive mass: p itself');
  });
});
