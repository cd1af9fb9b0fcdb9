import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { modelSuite, type ModelBenchCase } from '../../src/engine/bench/model.js';
import type { SuiteEvent } from '../../src/engine/bench/runner.js';
import type { ModelBenchResult } from '../../src/engine/bench/types.js';
import { modelRowNotes } from '../../src/tui/bench-print.js';
import { testGpu } from '../helpers/gpu.js';
import { tinyConfig } from '../helpers/tiny-models.js';
import { allModelCases } from '../../bench/models.js';

/** The model bench's batched-sampling case: its row, its figures and how the plain table reports them. */
describe('bench model: batched sampling', () => {
  it('a P×K sampled row: tokens over the batched call, completions/s both ways and their ratio', async () => {
    const gpu = await testGpu();
    const config = tinyConfig('qwen2', { vocab_size: 263, num_hidden_layers: 1 });
    const c: ModelBenchCase = { name: 'tiny', config, test: 'tg', batch: 2, samples: 3, promptTokens: 5, decodeTokens: 4 };
    const evs: SuiteEvent[] = [];
    for await (const e of modelSuite(gpu, [c])) evs.push(e);
    assert.deepEqual(evs.filter((e) => e.type === 'error'), []);
    const rows = evs.filter((e) => e.type === 'result').map((e) => (e as { result: ModelBenchResult }).result);
    assert.equal(rows.length, 1);
    const r = rows[0]!;
    assert.equal(r.shape, 'tg4 2x3 sampled');
    assert.equal(r.samples, 3);
    // 6 completions of 4 tokens (no stop ids) in ms_median
    assert.ok(Math.abs(r.tokens_per_s - (6 * 4) / (r.ms_median / 1000)) < 1e-6 * r.tokens_per_s, JSON.stringify(r));
    assert.ok(Math.abs(r.completions_per_s! - 6 / (r.ms_median / 1000)) < 1e-6 * r.completions_per_s!);
    assert.ok(r.sequential_completions_per_s! > 0);
    assert.ok(Math.abs(r.speedup! - r.completions_per_s! / r.sequential_completions_per_s!) < 1e-9 * r.speedup!);
    assert.match(modelRowNotes(r), /^\S+ completions\/s batched vs \S+ one at a time \(\d+\.\d\dx\)$/);
  });

  it('the default cases include 8 prompts × 8 samples on the tiny shape', () => {
    const sampled = allModelCases().filter((c) => c.samples);
    assert.deepEqual(sampled.map((c) => [c.name, c.batch, c.samples]), [['tiny-bytes', 8, 8]]);
  });
});
