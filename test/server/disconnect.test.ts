import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodePrompt } from '../../src/data/prompt.js';
import { startTestServer, type TestServer } from '../helpers/serve.js';

/**
 * A client that disconnects mid-stream frees its KV slot at the next step: with one slot, a request
 * queued behind a long stream that the client abandons is served, and the abandoned request stopped
 * generating long before its max_tokens.
 */
let t: TestServer;
before(async () => (t = await startTestServer({ parallel: 1 })));
after(async () => t?.close());

describe('ponder serve: disconnects', () => {
  it('aborting a stream mid-way frees the slot for the next request', async () => {
    // the precondition that makes the check below mean something: left alone, this request runs long
    const full = await t.alone(encodePrompt(t.tokenizer, 'What is 88 * 68?', { chat: false }), { maxTokens: 300, temperature: 1, seed: 1 });
    assert.ok(full.length > 40, `the undisturbed answer is ${full.length} tokens`);
    const abort = new AbortController();
    const long = await t.client.completions.create({ model: 'default', prompt: 'What is 88 * 68?', max_tokens: 300, temperature: 1, seed: 1, stream: true }, { signal: abort.signal });
    let chunks = 0;
    try {
      for await (const _ of long) if (++chunks === 3) abort.abort();
    } catch (e) {
      assert.match(String((e as Error).name) + (e as Error).message, /abort/i); // the client may end the iteration or throw
    }
    assert.equal(chunks, 3, 'the stream ended at the abort');
    // one slot: this can only be answered once the abandoned stream left it
    const next = await t.client.completions.create({ model: 'default', prompt: 'hello', max_tokens: 3, temperature: 0 });
    assert.equal(next.choices[0]!.finish_reason, 'length');
    const first = t.log.find((r) => r.path === '/v1/completions' && r.completion_tokens !== undefined && r !== t.log[t.log.length - 1]);
    assert.ok(first, 'the abandoned request was logged');
    assert.ok(first.completion_tokens! < 40, `it stopped soon after the disconnect (${first.completion_tokens} tokens)`);
    assert.equal(t.scheduler.stats.live, 0);
  });
});
