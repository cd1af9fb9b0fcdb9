import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uploadWeights } from '../../src/model/gpu-weights.js';
import { Transformer } from '../../src/model/transformer.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { randomWeights, tinyConfig } from '../helpers/tiny-models.js';

/**
 * q/k/v and gate/up as one matmul each (transformer.ts "Fused projections"): a model whose weights are
 * stacked (uploadWeights) computes the logits of one with every weight in a buffer of its own. q, k
 * and v packed are one matmul instead of three whatever the rows (two dispatches fewer a layer);
 * gate and up one instead of two when the activations can be stacked too (rows · width a multiple of
 * 64 floats; the tiny config's intermediate 48 needs rows % 4 == 0).
 */
describe('fused q/k/v and gate/up projections', () => {
  it('match separate weights, in 3 dispatches fewer per layer (2 when the rows cannot stack gate and up)', async () => {
    const gpu = await testGpu();
    const config = tinyConfig('llama', { vocab_size: 263, num_hidden_layers: 2 });
    const weights = randomWeights(config, testSeed);
    const fused = Transformer.load(gpu, config, weights);
    const own = uploadWeights(gpu, config, weights);
    const single = (name: string) => gpu.upload(weights.get(name)!.data, weights.get(name)!.shape);
    const separate = Transformer.fromGpuWeights(gpu, config, {
      ...own,
      layers: own.layers.map((l, i) => {
        const p = `model.layers.${i}`;
        return { ...l, q: single(`${p}.self_attn.q_proj.weight`), k: single(`${p}.self_attn.k_proj.weight`), v: single(`${p}.self_attn.v_proj.weight`), gate: single(`${p}.mlp.gate_proj.weight`), up: single(`${p}.mlp.up_proj.weight`) };
      }),
    }, { owned: false });
    // the separate-op path (small passes would otherwise run as one fused kernel a layer, decode-layer.test.ts)
    fused.fusedDecode = false;
    separate.fusedDecode = false;
    const r = rng(testSeed);
    for (const [B, T, fewer] of [[2, 2, 2 * 3], [1, 3, 2 * 2]] as const) {
      const tokens = Array.from({ length: B }, () => Array.from(randomInts(T, r, config.vocab_size)));
      const run = async (m: Transformer) => {
        const cache = m.createCache(B, 8);
        const d0 = gpu.dispatchCount;
        const logits = m.forward(tokens, cache, [...Array(B).keys()], new Array(B).fill(0));
        const dispatches = gpu.dispatchCount - d0;
        const out = await gpu.readF32(logits);
        logits.release();
        cache.dispose();
        return { out, dispatches };
      };
      const a = await run(fused);
      const b = await run(separate);
      assertClose(`logits B${B} T${T}`, a.out, b.out, { rtol: 1e-5, atol: 1e-6 });
      assert.equal(b.dispatches - a.dispatches, fewer, `B${B} T${T}: ${a.dispatches} fused vs ${b.dispatches} separate dispatches`);
    }
    fused.dispose();
    separate.dispose();
  });
});
