import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateTask } from '../../src/engine/evaluate.js';
import { openModel, type OpenedModel } from '../../src/engine/open-model.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { testGpu } from '../helpers/gpu.js';

/**
 * The shipped model's accuracy floor: models/default, greedy with thinking on, on problems drawn with
 * a seed its training data never used (scripts/make-default-model-data.js draws with seed 11). Greedy
 * decoding of fixed problems is deterministic, so this cannot flake; it fails when the weights, the
 * tokenizer, the chat template or the inference path change what the model answers. The floor is the
 * model card's claim (76% on one-digit problems) with a margin: today's model scores 50 of 60.
 */
const FLOOR = 0.75;

let gpu: Gpu;
let opened: OpenedModel;
before(async () => {
  gpu = await testGpu();
  opened = await openModel(gpu, 'default');
});
after(() => opened.model.dispose());

describe('the bundled model', () => {
  it(`answers at least ${FLOOR * 100}% of 60 held-out one-digit problems, greedy, thinking on`, async () => {
    const { summary } = await evaluateTask(gpu, opened.model, opened.tokenizer, {
      task: 'arithmetic',
      seed: 424242,
      n: 60,
      taskOptions: { digits: 1 },
      chat: true,
      maxTokens: 96,
    });
    assert.equal(summary.temperature, 0);
    assert.ok(summary.accuracy >= FLOOR, `accuracy ${summary.accuracy.toFixed(3)} < floor ${FLOOR}`);
  });
});
