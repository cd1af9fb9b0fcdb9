import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessages } from '../../src/data/prompt.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';
import { splitByThinkIds, startTestServer, type TestServer } from '../helpers/serve.js';

/**
 * An HF model directory (tiny random Qwen3 with the chatml-bpe tokenizer fixture: a Jinja chat
 * template, <think> / </think> as added tokens): chat prompts go through the template from its
 * tokenizer config, and the answer, streamed or not, is what generate() gives for those ids, split
 * at the think ids.
 */
let root: string;
let t: TestServer;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ponder-serve-hf-'));
  const config = tinyConfig('qwen3');
  const dir = writeHfModel(join(root, 'hf'), config, randomWeights(config, 5));
  t = await startTestServer({ parallel: 2, model: dir });
});
after(async () => {
  await t?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('ponder serve with an HF model', () => {
  it('chat through the tokenizer config\'s template, streamed and not, sampled with a seed', async () => {
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'hello there' },
    ];
    const ids = encodeMessages(t.tokenizer, messages);
    assert.ok(ids.includes(t.tokenizer.specialTokens.im_start!), 'the template wrote the chat markers');
    const want = splitByThinkIds(t.tokenizer, await t.alone(ids, { maxTokens: 12, temperature: 0.8, seed: 3 }));

    const r = await t.client.chat.completions.create({ model: 'default', messages, max_tokens: 12, temperature: 0.8, seed: 3 });
    const msg = r.choices[0]!.message as { content: string | null; reasoning_content?: string };
    assert.equal(msg.content, want.content);
    assert.equal(msg.reasoning_content ?? '', want.reasoning);
    assert.equal(r.usage!.prompt_tokens, ids.length);

    const stream = await t.client.chat.completions.create({ model: 'default', messages, max_tokens: 12, temperature: 0.8, seed: 3, stream: true });
    let content = '';
    for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
    assert.equal(content, want.content);
  });
});
