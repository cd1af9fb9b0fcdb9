import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpeculativeDecoder } from '../../src/engine/speculative.js';
import type { ModelConfig, Weights } from '../../src/model/config.js';
import { Transformer } from '../../src/model/transformer.js';
import { decodeStepByStep } from '../helpers/decode.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { mtpRef, tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * Self-speculative decoding must give exactly the tokens of plain greedy decoding. A vocabulary of 6
 * makes random MTP modules right often enough that both accepted and rejected drafts (and so the KV
 * rollback of the trunk and the modules) happen in every run.
 */
const VOCAB = 4;

function argmaxRow(x: Float64Array, row: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (x[row * V + v]! > x[row * V + best]!) best = v;
  return best;
}

/** The drafts a correct decoder makes with `known` tokens (tokens[0..L]): from a full float64 recompute. */
function referenceDrafts(c: ModelConfig, w: Weights, known: number[], depth: number): number[] {
  const L = known.length - 1;
  const drafts: number[] = [];
  for (let k = 0; k < depth; k++) {
    const ref = mtpRef({ ...c, num_nextn_predict_layers: k + 1 }, w, [...known, ...drafts]);
    drafts.push(argmaxRow(ref[k]!.logits, L - 1, c.vocab_size));
  }
  return drafts;
}

describe('self-speculative decoding with MTP modules', () => {
  const cases = [
    { family: 'qwen2', depth: 1, modules: 1 },
    { family: 'llama', depth: 2, modules: 2 },
    { family: 'qwen3', depth: 3, modules: 3 },
    { family: 'qwen2', depth: 1, modules: 2 }, // drafting with fewer modules than the model has
  ] as const;
  for (const { family, depth, modules } of cases) {
    it(`${family}, ${modules} modules, depth ${depth}: the tokens of plain greedy decoding; drafts match a float64 recompute`, async () => {
      const gpu = await testGpu();
      const c = tinyModelConfig(family, { vocab_size: VOCAB, num_nextn_predict_layers: modules });
      // random tiny models soon loop through a few tokens, where drafts are all right or all wrong:
      // seeds are tried until one gives both (every try checks the tokens and drafts)
      let mixed = false;
      for (let seed = testSeed; !mixed && seed < testSeed + 40; seed++) {
        const w = tinyModelWeights(c, seed);
        const model = Transformer.load(gpu, c, w);
        const prompt = Array.from(randomInts(5, rng(seed + 1), VOCAB));
        const n = 24;
        const expected = await decodeStepByStep(gpu, model, prompt, n, { temperature: 0 });

        const spec = new SpeculativeDecoder(gpu, model, prompt.length + n, depth);
        if (seed % 2 === 0) await spec.warmUp(); // its throw-away cache entries must not change anything
        const got = [await spec.prefill(prompt)];
        while (got.length < n) {
          const known = [...prompt, ...got];
          const fresh = await spec.step();
          assert.deepEqual(spec.lastRound!.drafts, referenceDrafts(c, w, known, spec.lastRound!.drafts.length), `seed ${seed}: drafts after ${got.length} tokens`);
          assert.ok(fresh.length >= 1 && fresh.length <= depth + 1);
          got.push(...fresh);
        }
        assert.deepEqual(got.slice(0, n), expected, `seed ${seed}`);
        const { drafted, accepted } = spec.stats;
        mixed = accepted > 0 && accepted < drafted;
        spec.dispose();
        model.dispose();
      }
      assert.ok(mixed, 'some seed gave both accepted and rejected drafts');
    });
  }

  it('refuses a model without MTP layers, a bad depth, and a full sequence', async () => {
    const gpu = await testGpu();
    const plain = tinyModelConfig('llama', { vocab_size: VOCAB });
    const m0 = Transformer.load(gpu, plain, tinyModelWeights(plain, testSeed));
    assert.throws(() => new SpeculativeDecoder(gpu, m0, 8), /no MTP layers/);
    m0.dispose();
    const c = tinyModelConfig('llama', { vocab_size: VOCAB, num_nextn_predict_layers: 1 });
    const model = Transformer.load(gpu, c, tinyModelWeights(c, testSeed));
    assert.throws(() => new SpeculativeDecoder(gpu, model, 8, 2), /depth must be 1\.\.1/);
    const spec = new SpeculativeDecoder(gpu, model, 4);
    await assert.rejects(() => spec.step(), /prefill first/);
    await assert.rejects(() => spec.prefill([1, 2, 3, 4]), /1\.\.3 tokens/);
    await spec.prefill([1, 2, 3]);
    await assert.rejects(() => spec.warmUp(), /only before prefill/);
    await assert.rejects(() => spec.step(), /at its capacity of 4/);
    spec.dispose();
    model.dispose();
  });
});
