import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/model/config.js';
import { IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { advantages, grpoLoss, type GrpoLossType, type GrpoSettings } from '../../src/train/objectives/grpo.js';
import { TrainableModel } from '../../src/train/trainable.js';
import { checkAgainstFiniteDifferences, float64Weights, readGrads } from '../helpers/chain-grad.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { batchLogprobsRef } from '../reference/logprobs.js';
import { tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * The whole GRPO chain on a tiny model: forwardLogprobs → grpoLoss weights → backwardWeighted gives
 * ∂L/∂θ, checked against central finite differences of the float64 reference forward
 * (test/reference/transformer.ts) followed by the float64 grpoLoss, with the old and reference
 * log-probs fixed constants (so the clip is active on some tokens, on both sides) and a temperature
 * ≠ 1, for each aggregation, with and without the KL term.
 */

const TEMPERATURE = 0.8;
const G = 2;

interface Rollout {
  B: number;
  T: number;
  inputs: number[][];
  targets: number[][];
  mask: Float64Array;
}

/** B = 4 completions (2 groups of G = 2) of T = 6: 2 prompt tokens, then completion targets, one row padded. */
function rollout(c: ModelConfig, seed: number): Rollout {
  const r = rng(seed);
  const B = 4;
  const T = 6;
  const inputs = Array.from({ length: B }, () => Array.from(randomInts(T, r, c.vocab_size)));
  const targets = inputs.map((row) => row.map((_, t) => (t < 1 ? IGNORE_INDEX : Math.floor(r() * c.vocab_size))));
  targets[3][5] = IGNORE_INDEX; // padding after a shorter completion
  const mask = Float64Array.from(targets.flat(), (t) => (t === IGNORE_INDEX ? 0 : 1));
  return { B, T, inputs, targets, mask };
}

describe('GRPO gradient through TrainableModel vs finite differences of the float64 model + loss', () => {
  const cases: { loss: GrpoLossType; kl: number; family: 'llama' | 'qwen2' | 'qwen3' }[] = [
    { loss: 'grpo', kl: 0, family: 'qwen2' },
    { loss: 'grpo', kl: 0.05, family: 'qwen3' },
    { loss: 'dr_grpo', kl: 0, family: 'qwen2' },
    { loss: 'dr_grpo', kl: 0.05, family: 'qwen2' },
    { loss: 'dapo', kl: 0, family: 'llama' },
    { loss: 'dapo', kl: 0.05, family: 'qwen2' },
  ];
  for (const { loss, kl, family } of cases) {
    it(`${loss}, β = ${kl}, ${family}, clipping active, T = ${TEMPERATURE}`, async () => {
      const gpu = await testGpu();
      const c = tinyModelConfig(family, { vocab_size: 24, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, ...(family === 'qwen3' ? {} : { head_dim: 4 }) });
      const w = tinyModelWeights(c, testSeed);
      const w64 = float64Weights(w);
      const b = rollout(c, testSeed + 1);
      const settings: GrpoSettings = { loss, clip: { low: 0.2, high: 0.28 }, klCoef: kl, maxCompletionLength: 8 };

      // fixed constants from the float64 log-probs at θ: old puts ρ at 0.6 / 0.9 / 1 / 1.1 / 1.6
      // (out of the clip range low and high, and inside), ref is a random offset
      const lp0 = batchLogprobsRef(c, w64, b.inputs, b.targets, TEMPERATURE);
      const r = rng(testSeed + 2);
      const ratios = [0.6, 0.9, 1, 1.1, 1.6];
      const oldLogp = lp0.map((lp, k) => (b.mask[k] ? lp - Math.log(ratios[k % ratios.length]) : 0));
      const refLogp = lp0.map((lp, k) => (b.mask[k] ? lp + (r() - 0.5) : 0));
      const adv = advantages([1, 0, 0.2, 0.7], G, 'group');
      const inputs = (logp: ArrayLike<number>) => ({ rows: b.B, T: b.T, advantages: adv, mask: b.mask, logp, oldLogp, refLogp: kl > 0 ? refLogp : undefined });

      const model = TrainableModel.create(gpu, c, w);
      const { logp, entropy } = model.forwardLogprobs(b.inputs.flat(), b.targets.flat(), b.B, b.T, { temperature: TEMPERATURE });
      const lpGpu = await gpu.readF32(logp);
      logp.release();
      entropy.release();
      lpGpu.forEach((v, k) => assert.ok(Math.abs(v - lp0[k]) <= 1e-5 * (1 + Math.abs(lp0[k])), `logp ${k}: GPU ${v}, float64 ${lp0[k]} (seed ${testSeed})`));
      const res = grpoLoss(inputs(lpGpu), settings);
      assert.ok(res.metrics['clip_ratio/low_mean'] > 0 && res.metrics['clip_ratio/high_mean'] > 0, `clipping is active on both sides: ${JSON.stringify(res.metrics)}`);
      model.backwardWeighted(Float32Array.from(res.weights), { temperature: TEMPERATURE });
      const grads = await readGrads(model);
      model.dispose();

      checkAgainstFiniteDifferences(`${loss} β=${kl}`, grads, w64, (wp) => grpoLoss(inputs(batchLogprobsRef(c, wp, b.inputs, b.targets, TEMPERATURE)), settings).loss);
    });
  }
});
