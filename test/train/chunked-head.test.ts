import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import type { ModelConfig } from '../../src/model/config.js';
import { IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { TrainableModel, type TrainableOptions } from '../../src/train/trainable.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * Big-vocabulary training, forced small: the embedding / lm_head split into row chunks and the loss
 * head run over row blocks must give the same loss and gradients as the one-piece model (the same
 * sums in another order: f32 rounding only), for tied and untied heads, including a short last row
 * block (its padding rows must contribute nothing).
 */
const TOL = { rtol: 1e-5, atol: 1e-6 };

const cases: { name: string; config: ModelConfig }[] = [
  { name: 'llama (untied head)', config: tinyModelConfig('llama', { vocab_size: 37 }) },
  { name: 'qwen2 (tied head)', config: tinyModelConfig('qwen2', { vocab_size: 37 }) },
];

/** Gradients by HF name, a chunked table's chunks joined in row order. */
async function gradsByName(model: TrainableModel): Promise<Map<string, number[]>> {
  const gpu = await testGpu();
  const out = new Map<string, number[]>();
  for (const p of model.params()) {
    const name = p.name.replace(/#\d+$/, '');
    out.set(name, [...(out.get(name) ?? []), ...(await gpu.readF32(p.grad))]);
  }
  return out;
}

describe('TrainableModel with a chunked vocabulary', () => {
  for (const { name, config } of cases) {
    it(`${name}: chunked tables and row-blocked loss match the one-piece model`, async () => {
      const gpu = await testGpu();
      const seed = testSeed;
      const weights = tinyModelWeights(config, seed);
      const [B, T] = [2, 7]; // R = 14 rows: blocks of 5, 5 and a short 4
      const r = rng(seed + 1);
      const inputs = Array.from(randomInts(B * T, r, config.vocab_size));
      const targets = Array.from(randomInts(B * T, r, config.vocab_size));
      targets[3] = IGNORE_INDEX;
      const valid = targets.filter((t) => t !== IGNORE_INDEX).length;

      const run = async (opts: TrainableOptions) => {
        const model = TrainableModel.create(gpu, config, weights, opts);
        try {
          const lossT = model.step(inputs, targets, B, T, { gradScale: 1 / valid });
          const loss = (await gpu.readF32(lossT))[0]!;
          lossT.release();
          return { loss, grads: await gradsByName(model), chunks: model.params().filter((p) => p.name.includes('#')).length, back: await model.toWeights() };
        } finally {
          model.dispose();
        }
      };
      const whole = await run({});
      const split = await run({ maxTableRows: 10, maxLogitsBytes: 5 * config.vocab_size * 4 });
      assert.equal(whole.chunks, 0);
      assert.ok(split.chunks >= 4, `expected the tables in chunks of 10 rows, got ${split.chunks} chunk params`);
      assertClose('loss', [split.loss], [whole.loss], TOL);
      assert.deepEqual([...split.grads.keys()].sort(), [...whole.grads.keys()].sort());
      for (const [n, g] of whole.grads) {
        // the k bias adds q·b_k to every score of a query alike, which softmax ignores: its exact gradient
        // is 0 and both models sum rows of dk to rounding noise, held to the size of those rows: the k
        // weight's gradient, Σ dk ⊗ rmsnorm(x) with normed entries of order 1
        const kWeight = n.endsWith('k_proj.bias') ? whole.grads.get(n.replace('.bias', '.weight')) : undefined;
        // the q and k gradients go through the softmax gradient dS = P∘(dP − rowsum(P∘dP)), whose terms
        // cancel: both orders of f32 summation are only as close as those terms are large, a few ulps of
        // the tensor's largest entry (seen: 1.1x of atol 1e-6 once in ~50 seeds), so they get 3e-6
        const cancels = /\.(q|k)_proj\.weight$/.test(n) ? { ...TOL, atol: 3e-6 } : TOL;
        const tol = kWeight ? { ...TOL, scale: Math.max(...kWeight.map(Math.abs)) } : cancels;
        assertClose(`grad ${n} (seed ${seed})`, split.grads.get(n)!, g, tol);
      }
      // toWeights joins the chunks back into the HF tensors, bit for bit
      for (const [n, t] of weights) assert.deepEqual([...split.back.get(n)!.data], [...t.data], n);
    });
  }

  it('vocabulary chunks alone (all rows at once) also match', async () => {
    const gpu = await testGpu();
    const config = cases[0]!.config;
    const weights = tinyModelWeights(config, 5);
    const inputs = Array.from({ length: 6 }, (_, i) => (i * 7) % config.vocab_size);
    const targets = inputs.map((t) => (t + 1) % config.vocab_size);
    const lossOf = async (opts: TrainableOptions) => {
      const model = TrainableModel.create(gpu, config, weights, opts);
      const lossT = model.step(inputs, targets, 1, 6, { gradScale: 1 / 6 });
      const v = (await gpu.readF32(lossT))[0]!;
      lossT.release();
      const g = await gradsByName(model);
      model.dispose();
      return { v, g };
    };
    const a = await lossOf({});
    const b = await lossOf({ maxTableRows: 16 });
    assertClose('loss', [b.v], [a.v], TOL);
    for (const [n, g] of a.g) assertClose(`grad ${n}`, b.g.get(n)!, g, TOL);
  });

  it('forward() refuses logits over the binding limit with one clear error', async () => {
    const gpu = await testGpu();
    const config = cases[0]!.config;
    const model = TrainableModel.create(gpu, config, tinyModelWeights(config, 3), { maxLogitsBytes: 4 * config.vocab_size * 4 });
    try {
      assert.throws(
        () => model.forward(Array.from({ length: 8 }, () => 1), 1, 8),
        (e: unknown) => e instanceof PonderError && e.code === 'DEVICE_LIMIT' && /storage binding/.test(e.message),
      );
    } finally {
      model.dispose();
    }
  });
});
