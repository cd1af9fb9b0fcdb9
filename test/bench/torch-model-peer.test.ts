import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { torchMissing, withPython } from '../helpers/torch.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { torchModelPeer } from '../../bench/peers/torch-model.js';
import { greedyTokens } from '../../src/engine/bench/model.js';
import { Transformer } from '../../src/model/transformer.js';
import { testGpu } from '../helpers/gpu.js';
import { randomWeights, tinyConfig, writeHfModel, type TinyFamily } from '../helpers/tiny-models.js';
import { transformerRef } from '../reference/transformer.js';

/**
 * The PyTorch model peer (bench/peers/torch-model.ts) against ponder and the float64 reference, on a
 * tiny random model of each family. It runs python3, or the interpreter PONDER_PYTHON names; the
 * tests that need torch skip, saying why, when that interpreter cannot import it.
 */
const missing = torchMissing();

// Llama untied without biases; Qwen2 with q/k/v biases and tied embeddings; Qwen3 with per-head q/k
// norms and a head_dim that is not hidden ÷ heads (4 heads × 16 ≠ 32), so every branch of the forward runs
const FAMILIES: { family: TinyFamily; overrides?: Parameters<typeof tinyConfig>[1] }[] = [
  { family: 'llama' },
  { family: 'qwen2' },
  { family: 'qwen3', overrides: { head_dim: 16 } },
];

describe('pytorch model peer', () => {
  for (const { family, overrides } of FAMILIES) {
    it(`${family}: its greedy tokens equal ponder's and its prefill logits the float64 reference`, async (t) => {
      if (missing) return t.skip(missing);
      const config = tinyConfig(family, overrides);
      assert.equal(config.tie_word_embeddings, family !== 'llama');
      assert.equal(config.attention_bias, family === 'qwen2');
      assert.equal(config.qk_norm, family === 'qwen3');
      const weights = randomWeights(config, 7);
      const dir = mkdtempSync(join(tmpdir(), `ponder-torch-model-${family}-`));
      try {
        writeHfModel(dir, config, weights, { tokenizer: false });
        const prompt = [5, 17, 200, 3, 99, 41, 250, 8, 64];
        const steps = 6;
        const run = await torchModelPeer().timeDecode(dir, prompt, steps, 120_000, { logits: true });
        assert.equal(run.steps, steps);
        assert.ok(run.prefillMs > 0 && run.decodeMsTotal > 0 && run.decodeMsMedian > 0, JSON.stringify({ ...run, logits: undefined }));

        const ref = transformerRef(config, weights, prompt);
        const V = config.vocab_size;
        const last = ref.subarray((prompt.length - 1) * V);
        const scale = Math.max(...last.map(Math.abs));
        const err = Math.max(...run.logits!.map((x, i) => Math.abs(x - last[i]!)));
        assert.equal(run.logits!.length, V);
        assert.ok(err <= 1e-4 * scale, `max |torch - reference| ${err} over max |logit| ${scale}`);

        const gpu = await testGpu();
        const model = Transformer.load(gpu, config, weights);
        try {
          assert.deepEqual(run.tokens, await greedyTokens(gpu, model, prompt, steps + 1));
        } finally {
          model.dispose();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('a directory without a model fails with Python\'s last error line', async (t) => {
    if (missing) return t.skip(missing);
    const dir = mkdtempSync(join(tmpdir(), 'ponder-torch-model-empty-'));
    try {
      await assert.rejects(torchModelPeer().timeDecode(dir, [1, 2, 3], 2, 60_000), (e: Error) => {
        assert.ok(!e.message.includes('\n'), e.message);
        assert.match(e.message, /No such file or directory.*config\.json/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing interpreter is a one-line error, from open and from a run', async () => {
    await withPython('/nonexistent/python', async () => {
      const peer = torchModelPeer();
      assert.equal(peer.name, 'pytorch');
      await assert.rejects(peer.open(), { message: '/nonexistent/python is not installed' });
      await assert.rejects(peer.timeDecode(tmpdir(), [1], 1, 10_000), { message: '/nonexistent/python is not installed' });
    });
  });
});
