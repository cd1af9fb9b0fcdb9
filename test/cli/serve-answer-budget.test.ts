import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultMaxTokens } from '../../src/engine/answer-budget.js';
import { encodePrompt } from '../../src/data/prompt.js';
import { startTestServer, type TestServer } from '../helpers/serve.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * `ponder serve` answers a request without max_tokens under the answer-budget rule chat and generate
 * use (half the context, at most 512), not until the context is full; a request's max_tokens still
 * raises it up to what the context leaves. A random tiny model rarely stops by itself, so its greedy
 * answer runs to whatever budget it is given: the oracle is the engine's generate() with that budget.
 */
let root = '';
let t: TestServer;
const CONTEXT = 64;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ponder-serve-budget-'));
  const config = tinyConfig('llama', { max_position_embeddings: CONTEXT });
  const model = writeHfModel(join(root, 'hf'), config, randomWeights(config, 9));
  t = await startTestServer({ parallel: 1, model });
});
after(async () => {
  await t?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('serve: the default answer budget', () => {
  it('is half the context when the request gives none; max_tokens raises it to what the context leaves', async () => {
    const prompt = 'hello';
    const ids = encodePrompt(t.tokenizer, prompt, { chat: false });
    const budget = defaultMaxTokens(CONTEXT);
    assert.equal(budget, CONTEXT / 2);
    const whole = await t.alone(ids, { maxTokens: CONTEXT - ids.length, temperature: 0 });
    assert.ok(whole.length > budget, `precondition: left alone the answer runs past ${budget} tokens (got ${whole.length})`);

    const r = await t.client.completions.create({ model: 'default', prompt, temperature: 0 });
    assert.equal(r.usage!.completion_tokens, budget);
    assert.equal(r.choices[0]!.finish_reason, 'length');
    const longer = await t.client.completions.create({ model: 'default', prompt, temperature: 0, max_tokens: 1000 });
    assert.equal(longer.usage!.completion_tokens, whole.length, 'a larger max_tokens stops at the context');
  });
});
