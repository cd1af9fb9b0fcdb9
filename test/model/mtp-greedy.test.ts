import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import type { Tensor } from '../../src/gpu/tensor.js';
import { Transformer } from '../../src/model/transformer.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { argmaxRef } from '../reference/reductions.js';
import { mtpRef, tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * Transformer.mtpGreedy, the drafting path of self-speculative decoding: two chained modules'
 * greedy tokens and hidden rows against the float64 modules (mtpRef), fused (the module's input,
 * layer and head as three dispatches, which a software adapter takes) and through the separate ops
 * (fusedDecode off). A pick may differ from float64's argmax only where the top two logits are
 * closer than float32 can tell apart.
 */
const TOL = { rtol: 1e-4, atol: 1e-5 };

describe('mtpGreedy: an MTP module\'s greedy tokens', () => {
  for (const family of ['llama', 'qwen2'] as const) {
    for (const fused of [true, false]) {
      it(`${family}, ${fused ? 'fused' : 'separate ops'}: tokens and hidden rows == float64`, async () => {
        const gpu = await testGpu();
        const c = tinyModelConfig(family, { num_nextn_predict_layers: 2 });
        const w = tinyModelWeights(c, testSeed + 11);
        const model = Transformer.load(gpu, c, w);
        model.fusedDecode = fused;
        const H = c.hidden_size;
        const V = c.vocab_size;
        const ids = Array.from(randomInts(8, rng(testSeed + 12), V));
        const T = ids.length;
        const ref = mtpRef(c, w, ids);
        const cache = model.createCache(1, 16);
        const hidden = gpu.empty([T, H], 'f32', 'hidden');
        model.forward([ids], cache, [0], [0], { lastOnly: true, hiddenOut: hidden }).release();

        const files = new Set<string>();
        const dispatch = gpu.dispatch.bind(gpu);
        gpu.dispatch = (d) => {
          files.add(d.file);
          dispatch(d);
        };
        const mtpCache = model.createMtpCache(1, 16);
        let prev: Tensor = hidden;
        try {
          for (let k = 0; k < 2; k++) {
            const rows = T - k - 1;
            const input = gpu.empty([rows, H], 'f32', 'mtp.in');
            gpu.copy(prev, input, 0, 0, rows * H * 4);
            const toks = gpu.upload(Uint32Array.from(ids.slice(k + 1, k + 1 + rows)), [rows], 'u32');
            const out = gpu.empty([rows, H], 'f32', 'mtp.out');
            const got = await gpu.readU32(model.mtpGreedy(k, input, toks, mtpCache, [0], [0], out));
            assertClose(`module ${k} hidden`, await gpu.readF32(out), ref[k]!.hidden, TOL);
            const { logits } = ref[k]!;
            const best = argmaxRef(logits, rows, V);
            for (let r = 0; r < rows; r++) {
              const gap = logits[r * V + best[r]!]! - logits[r * V + got[r]!]!;
              assert.ok(gap <= 1e-4, `module ${k} row ${r}: ${got[r]} where float64 picks ${best[r]} (${gap} apart)`);
            }
            input.release();
            if (prev !== hidden) prev.release();
            prev = out;
          }
        } finally {
          gpu.dispatch = dispatch;
        }
        const fusedFiles = ['mtp_input.wgsl', 'greedy_head.wgsl'].filter((f) => files.has(f));
        assert.deepEqual(fusedFiles, fused ? ['mtp_input.wgsl', 'greedy_head.wgsl'] : [], `the ${fused ? 'fused' : 'separate'} path ran`);
        prev.release();
        hidden.release();
        cache.dispose();
        mtpCache.dispose();
        model.dispose();
      });
    }
  }

  it('a draft round\'s two rows: the module\'s fused layer as one workgroup (the trunk\'s verify rows split), == float64', async (t) => {
    const gpu = await testGpu();
    const c = tinyModelConfig('llama', { num_nextn_predict_layers: 1 });
    const w = tinyModelWeights(c, testSeed + 13);
    const model = Transformer.load(gpu, c, w);
    const ids = Array.from(randomInts(3, rng(testSeed + 14), c.vocab_size));
    const ref = mtpRef(c, w, ids);
    const cache = model.createCache(1, 16);
    const mtpCache = model.createMtpCache(1, 16);
    const hidden = gpu.empty([3, c.hidden_size], 'f32', 'hidden');
    const layers: number[][] = [];
    const dispatch = gpu.dispatch.bind(gpu);
    gpu.dispatch = (d) => {
      if (d.file === 'decode_layer.wgsl') layers.push([...d.workgroups] as number[]);
      dispatch(d);
    };
    try {
      // the verify pass's shape (two new rows after one), then the module over two rows
      model.forward([ids.slice(0, 1)], cache, [0], [0], { lastOnly: true, hiddenOut: hidden.view(0, [1, c.hidden_size]) }).release();
      const verify = layers.length;
      model.forward([ids.slice(1)], cache, [0], [1], { hiddenOut: hidden.view(c.hidden_size, [2, c.hidden_size]) }).release();
      const trunkLayers = layers.slice(verify);
      const input = gpu.empty([2, c.hidden_size], 'f32', 'mtp.in');
      gpu.copy(hidden, input, 0, 0, 2 * c.hidden_size * 4);
      const toks = gpu.upload(Uint32Array.from(ids.slice(1)), [2], 'u32');
      const out = gpu.empty([2, c.hidden_size], 'f32', 'mtp.out');
      const before = layers.length;
      const got = await gpu.readU32(model.mtpGreedy(0, input, toks, mtpCache, [0], [0], out));
      const moduleLayers = layers.slice(before);
      assertClose('module hidden', await gpu.readF32(out), ref[0]!.hidden, TOL);
      const best = argmaxRef(ref[0]!.logits, 2, c.vocab_size);
      for (let r = 0; r < 2; r++) assert.ok(ref[0]!.logits[r * c.vocab_size + best[r]!]! - ref[0]!.logits[r * c.vocab_size + got[r]!]! <= 1e-4, `row ${r}`);
      if (!gpu.info.software) {
        t.diagnostic('not a software adapter: the fused layer does not run, so its layout is not checked');
        return;
      }
      // a workgroup per row where two rows fit the cores (ops/decode-layer.ts splitsRows), for the trunk only
      const split = availableParallelism() >= 2;
      assert.deepEqual(trunkLayers, Array(c.num_hidden_layers).fill([1, split ? 2 : 1]), 'the verify pass');
      assert.deepEqual(moduleLayers, [[1, 1]], 'the module: one workgroup for both rows');
    } finally {
      gpu.dispatch = dispatch;
      hidden.release();
      cache.dispose();
      mtpCache.dispose();
      model.dispose();
    }
  });
});
