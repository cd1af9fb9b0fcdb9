import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpeculativeDecoder } from '../../src/engine/speculative.js';
import type { SamplingOptions } from '../../src/sample/sampler.js';
import { Transformer } from '../../src/model/transformer.js';
import { testGpu } from '../helpers/gpu.js';
import { testSeed } from '../helpers/random.js';
import { samplingDistributionRef } from '../reference/sampling.js';
import { tinyModelConfig, tinyModelWeights, transformerRef } from '../reference/transformer.js';

/**
 * Speculative sampling keeps plain sampling's distribution: with a random (so mostly wrong) MTP
 * module on a 4-token vocabulary, the first two sampled tokens (t1 from the prefill, t2 from the first
 * draft-and-verify round: an accepted draft, a residual draw or the bonus) must follow
 * p(t1) · p(t2 | t1) of the float64 reference model. Checked with a chi-square test over the 16
 * outcomes (cells with a small expectation pooled), at a 1e-4 false-alarm rate; a decoder that
 * accepted every draft would be far off (its t2 would follow the module's q).
 */
const V = 4;
const N = 600;

/** Chi-square critical value for `df` degrees of freedom at p = 1e-4 (Wilson-Hilferty). */
function chi2Critical(df: number): number {
  const z = 3.719;
  return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
}

describe('speculative sampling', () => {
  const modes: SamplingOptions[] = [{ temperature: 1 }, { temperature: 0.8, topK: 3, topP: 0.9 }];
  for (const mode of modes) {
    it(`the first two tokens follow the model's distribution: ${JSON.stringify(mode)}`, async () => {
      const gpu = await testGpu();
      const c = tinyModelConfig('qwen2', { vocab_size: V, num_nextn_predict_layers: 1 });
      const w = tinyModelWeights(c, 17);
      // a random tiny model's logits are large (near-certain tokens); a smaller (tied) embedding scales
      // them down so every token is likely enough for drafts to be both accepted and rejected
      const e = w.get('model.embed_tokens.weight')!;
      e.data = e.data.map((x) => x * 0.12);
      const model = Transformer.load(gpu, c, w);
      const prompt = [1, 2, 0, 3];
      const ref = { temperature: mode.temperature!, topK: mode.topK, topP: mode.topP, minP: mode.minP };
      const last = (ids: number[]) => transformerRef(c, w, ids).subarray((ids.length - 1) * V);
      const p1 = samplingDistributionRef(last(prompt), ref);
      const p2 = Array.from({ length: V }, (_, t1) => samplingDistributionRef(last([...prompt, t1]), ref));

      const counts = new Array<number>(V * V).fill(0);
      let accepted = 0;
      for (let i = 0; i < N; i++) {
        const spec = new SpeculativeDecoder(gpu, model, prompt.length + 3, 1, { ...mode, seed: (testSeed + i) % 2 ** 31 });
        const t1 = await spec.prefill(prompt);
        const t2 = (await spec.step())[0]!;
        accepted += spec.stats.accepted;
        counts[t1 * V + t2]!++;
        spec.dispose();
      }
      model.dispose();
      assert.ok(accepted > 0 && accepted < N, `both accepted and rejected drafts (${accepted}/${N})`);

      // chi-square, pooling cells expected below 5 into one
      let chi2 = 0;
      let cells = 0;
      let poolE = 0;
      let poolO = 0;
      for (let t1 = 0; t1 < V; t1++) {
        for (let t2 = 0; t2 < V; t2++) {
          const e = N * p1[t1]! * p2[t1]![t2]!;
          const o = counts[t1 * V + t2]!;
          if (e === 0) assert.equal(o, 0, `(${t1}, ${t2}) has probability 0 but occurred ${o} times`);
          else if (e < 5) {
            poolE += e;
            poolO += o;
          } else {
            chi2 += (o - e) ** 2 / e;
            cells++;
          }
        }
      }
      if (poolE > 0) {
        chi2 += (poolO - poolE) ** 2 / poolE;
        cells++;
      }
      assert.ok(cells >= 4, `a test over ${cells} cells says little: counts ${counts.join(' ')}`);
      const crit = chi2Critical(cells - 1);
      assert.ok(chi2 < crit, `chi-square ${chi2.toFixed(1)} over ${cells} cells >= ${crit.toFixed(1)} (seed ${testSeed}): counts ${counts.join(' ')}`);
    });
  }
});
