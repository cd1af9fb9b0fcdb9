import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { ModelConfig } from '../../src/model/config.js';
import { Transformer } from '../../src/model/transformer.js';
import { AdamW } from '../../src/train/optimizer.js';
import { TrainableModel } from '../../src/train/trainable.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * A Transformer over a TrainableModel's own weight tensors (inferenceWeights + fromGpuWeights, no CPU
 * round trip) computes exactly what a Transformer loaded from the read-back weights computes, bit for
 * bit (the same kernels over the same values), before and after an optimizer step changed them in
 * place; and disposing it leaves the training weights alone.
 */
const cases: { name: string; config: ModelConfig; maxTableRows?: number }[] = [
  { name: 'qwen3 (qk-norm, tied) with an MTP module', config: tinyModelConfig('qwen3', { num_nextn_predict_layers: 1 }) },
  { name: 'qwen2 (biases, tied)', config: tinyModelConfig('qwen2') },
  { name: 'llama (untied), tables in row chunks', config: tinyModelConfig('llama'), maxTableRows: 20 },
];

/** Every forward output the inference model has: the trunk's logits of all rows, and each MTP module's. */
async function outputs(gpu: Gpu, model: Transformer, seq: number[]): Promise<Float32Array[]> {
  const H = model.config.hidden_size;
  const cache = model.createCache(1, seq.length);
  const hidden = gpu.empty([seq.length, H]);
  const logits = model.forward([seq], cache, [0], [0], { hiddenOut: hidden });
  const out = [await gpu.readF32(logits)];
  logits.release();
  if (model.mtpDepth > 0) {
    const mcache = model.createMtpCache(1, seq.length);
    const m = model.mtpForward(0, hidden, [seq.map((_, t) => seq[(t + 1) % seq.length]!)], mcache, [0], [0]);
    out.push(await gpu.readF32(m));
    m.release();
    mcache.dispose();
  }
  hidden.release();
  cache.dispose();
  return out;
}

function assertBitEqual(what: string, got: Float32Array[], want: Float32Array[]): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => {
    assert.ok(g.every(Number.isFinite), `${what}: output ${i} is not all finite`);
    assert.deepEqual(new Uint32Array(g.buffer, g.byteOffset, g.length), new Uint32Array(want[i]!.buffer, want[i]!.byteOffset, want[i]!.length), `${what}: output ${i} differs (seed ${testSeed})`);
  });
}

describe('Transformer.fromGpuWeights over TrainableModel.inferenceWeights', () => {
  for (const { name, config, maxTableRows } of cases) {
    it(`${name}: bit-identical to a reload, also after an optimizer step`, async () => {
      const gpu = await testGpu();
      const r = rng(testSeed);
      const trainable = TrainableModel.create(gpu, config, tinyModelWeights(config, testSeed), { maxTableRows });
      const view = Transformer.fromGpuWeights(gpu, config, trainable.inferenceWeights(), { owned: false });
      const seq = Array.from(randomInts(9, r, config.vocab_size));
      const reload = async () => {
        const m = Transformer.load(gpu, config, await trainable.toWeights(), { maxChunkRows: maxTableRows });
        const o = await outputs(gpu, m, seq);
        m.dispose();
        return o;
      };

      const before = await outputs(gpu, view, seq);
      assertBitEqual('before the step', before, await reload());

      // one training step: loss on random targets, AdamW with a large lr so every weight moves
      const B = 2;
      const T = 6;
      const inputs = Array.from(randomInts(B * T, r, config.vocab_size));
      const targets = Array.from(randomInts(B * T, r, config.vocab_size));
      trainable.step(inputs, targets, B, T, { gradScale: 1 / (B * T), mtpWeight: config.num_nextn_predict_layers > 0 ? 0.5 : 0 }).release();
      const opt = new AdamW(gpu, trainable.params(), { lr: 0.05 });
      opt.step(0.05).release();

      const after = await outputs(gpu, view, seq);
      assertBitEqual('after the step', after, await reload());
      before.forEach((b, i) => assert.notDeepEqual(after[i], b, `output ${i} did not change with the weights`));

      // disposing the view releases none of the training weights: fresh buffers of every Param's size
      // (which would reuse released ones) filled with NaN leave the weights as they were
      const weights = await trainable.toWeights();
      view.dispose();
      const grabbed = trainable.params().map((p) => gpu.empty(p.value.shape));
      for (const t of grabbed) gpu.fill(t, NaN);
      assert.deepEqual(await trainable.toWeights(), weights);
      for (const t of grabbed) t.release();
      opt.dispose();
      trainable.dispose();
    });
  }

  it('rejects weights that do not fit the config, naming the tensor', async () => {
    const gpu = await testGpu();
    const config = tinyModelConfig('qwen2');
    const trainable = TrainableModel.create(gpu, config, tinyModelWeights(config, 1));
    const other = tinyModelConfig('qwen2', { intermediate_size: 40 });
    assert.throws(
      () => Transformer.fromGpuWeights(gpu, other, trainable.inferenceWeights(), { owned: false }),
      (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && /"model\.layers\.0\.mlp\.gate_proj\.weight" is f32\[48x32\], but the config needs f32\[40x32\]/.test(e.message),
    );
    const noBias = tinyModelConfig('llama');
    const llama = TrainableModel.create(gpu, noBias, tinyModelWeights(noBias, 1));
    assert.throws(
      () => Transformer.fromGpuWeights(gpu, { ...noBias, attention_bias: true }, llama.inferenceWeights(), { owned: false }),
      /missing tensor "model\.layers\.0\.self_attn\.q_proj\.bias"/,
    );
    llama.dispose();
    trainable.dispose();
  });
});
