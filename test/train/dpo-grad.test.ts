import { describe, it } from 'node:test';
import { IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { dpoLoss, type DpoInputs, type DpoSettings } from '../../src/train/objectives/dpo.js';
import { TrainableModel } from '../../src/train/trainable.js';
import { checkAgainstFiniteDifferences, float64Weights, readGrads } from '../helpers/chain-grad.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { batchLogprobsRef } from '../reference/logprobs.js';
import { tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * The whole DPO chain on a tiny model: P pairs as 2P rows of one forwardLogprobs (chosen rows, then
 * rejected rows), dpoLoss weights, one backwardWeighted; the gradient is checked against central
 * finite differences of the float64 reference forward followed by the float64 dpoLoss (sigmoid with
 * an SFT term), the reference sequence log-probs being fixed constants.
 */
describe('DPO gradient through TrainableModel vs finite differences of the float64 model + loss', () => {
  it('sigmoid + SFT term, qwen2, 2 pairs', async () => {
    const gpu = await testGpu();
    const c = tinyModelConfig('qwen2', { vocab_size: 24, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, head_dim: 4 });
    const w = tinyModelWeights(c, testSeed);
    const w64 = float64Weights(w);
    const r = rng(testSeed + 1);
    const P = 2;
    const T = 6;
    const B = 2 * P;
    const inputs = Array.from({ length: B }, () => Array.from(randomInts(T, r, c.vocab_size)));
    // prompt tokens (first 2) have no target; rejected completion 1 is one token shorter
    const targets = inputs.map((row) => row.map((_, t) => (t < 2 ? IGNORE_INDEX : Math.floor(r() * c.vocab_size))));
    targets[3][5] = IGNORE_INDEX;
    const mask = Float64Array.from(targets.flat(), (t) => (t === IGNORE_INDEX ? 0 : 1));
    const settings: DpoSettings = { loss: 'sigmoid', beta: 0.5, sftWeight: 0.4 };
    const refChosen = [-9, -12];
    const refRejected = [-11, -8];
    const pairInputs = (logp: ArrayLike<number>): DpoInputs => {
      const half = P * T;
      const lp = Array.from(logp);
      return {
        pairs: P,
        T,
        chosen: { logp: lp.slice(0, half), mask: mask.subarray(0, half), refLogp: refChosen },
        rejected: { logp: lp.slice(half), mask: mask.subarray(half), refLogp: refRejected },
      };
    };

    const model = TrainableModel.create(gpu, c, w);
    const { logp, entropy } = model.forwardLogprobs(inputs.flat(), targets.flat(), B, T);
    const res = dpoLoss(pairInputs(await gpu.readF32(logp)), settings);
    logp.release();
    entropy.release();
    const weights = new Float32Array(B * T);
    weights.set(res.weights.chosen, 0);
    weights.set(res.weights.rejected, P * T);
    model.backwardWeighted(weights);
    const grads = await readGrads(model);
    model.dispose();

    checkAgainstFiniteDifferences('dpo sigmoid + sft', grads, w64, (wp) => dpoLoss(pairInputs(batchLogprobsRef(c, wp, inputs, targets, 1)), settings).loss);
  });
});
