import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from '../helpers/serve.js';

/**
 * Bad requests get OpenAI's error object (`{"error": {"message", "type", "param", "code"}}`) with a
 * 4xx status — through the openai client (which maps them to its typed errors) and raw HTTP for what
 * the client cannot send — and the server keeps serving after each. With an API key, a request
 * without the right bearer token gets 401.
 */
let t: TestServer;
const KEY = 'sk-test-key';
before(async () => (t = await startTestServer({ parallel: 2, apiKey: KEY, maxBodyBytes: 4096 })));
after(async () => t?.close());

const auth = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
const messages = [{ role: 'user' as const, content: 'hi' }];

async function post(path: string, body: string, headers: Record<string, string> = auth): Promise<{ status: number; json: { error?: { message: string; type: string; param: string | null; code: string | null } } }> {
  const r = await fetch(`${t.server.url}${path}`, { method: 'POST', headers, body });
  return { status: r.status, json: (await r.json()) as never };
}

function assertErrorShape(json: { error?: object }): void {
  assert.ok(json.error, 'an error object');
  assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
}

async function stillServes(): Promise<void> {
  const r = await t.client.chat.completions.create({ model: 'default', messages, max_tokens: 2, temperature: 0 });
  assert.equal(r.choices.length, 1);
}

describe('ponder serve: errors and auth', () => {
  it('401 without the bearer token or with a wrong one; the right one works', async () => {
    const anon = await post('/v1/chat/completions', JSON.stringify({ messages }), { 'Content-Type': 'application/json' });
    assert.equal(anon.status, 401);
    assertErrorShape(anon.json);
    assert.equal(anon.json.error!.code, 'invalid_api_key');
    const wrong = new OpenAI({ baseURL: `${t.server.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(wrong.chat.completions.create({ model: 'default', messages }), (e: unknown) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key');
    assert.equal((await fetch(`${t.server.url}/health`)).status, 401, 'every route is behind the key');
    await stillServes();
  });

  it('bad parameter values: 400 naming the parameter', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ temperature: 5 }, 'temperature'],
      [{ top_p: 0 }, 'top_p'],
      [{ max_tokens: 0 }, 'max_tokens'],
      [{ n: 1.5 }, 'n'],
      [{ seed: -1 }, 'seed'],
      [{ stop: [''] }, 'stop'],
      [{ stream: 'yes' }, 'stream'],
    ];
    for (const [extra, param] of cases) {
      await assert.rejects(
        t.client.chat.completions.create({ model: 'default', messages, ...extra } as never),
        (e: unknown) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === param,
        `${JSON.stringify(extra)} names ${param}`,
      );
    }
    const noMessages = await post('/v1/chat/completions', JSON.stringify({ model: 'default', messages: [] }));
    assert.equal(noMessages.status, 400);
    assert.equal(noMessages.json.error!.param, 'messages');
    const badRole = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'wizard', content: 'x' }] }));
    assert.equal(badRole.json.error!.param, 'messages[0].role');
    await stillServes();
  });

  it('unknown model: 404 model_not_found', async () => {
    await assert.rejects(t.client.chat.completions.create({ model: 'gpt-9', messages }), (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  });

  it('a prompt longer than the context: 400 context_length_exceeded', async () => {
    const long = 'x'.repeat(t.model.config.max_position_embeddings + 10);
    await assert.rejects(t.client.completions.create({ model: 'default', prompt: long }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded' && e.param === 'prompt');
    await stillServes();
  });

  it('malformed JSON: 400; a body over the limit: 413; unknown route: 404; wrong method: 405', async () => {
    const bad = await post('/v1/chat/completions', '{"messages": [');
    assert.equal(bad.status, 400);
    assertErrorShape(bad.json);
    assert.equal(bad.json.error!.code, 'invalid_json');
    const notObject = await post('/v1/completions', '[1, 2]');
    assert.equal(notObject.status, 400);

    const big = await post('/v1/completions', JSON.stringify({ prompt: 'y'.repeat(5000) }));
    assert.equal(big.status, 413);
    assertErrorShape(big.json);

    const missing = await fetch(`${t.server.url}/v1/embeddings`, { method: 'POST', headers: auth, body: '{}' });
    assert.equal(missing.status, 404);
    assertErrorShape((await missing.json()) as never);
    const wrongMethod = await fetch(`${t.server.url}/v1/chat/completions`, { headers: auth });
    assert.equal(wrongMethod.status, 405);
    await stillServes();

    const statuses = t.log.map((r) => r.status);
    for (const s of [400, 401, 404, 405, 413]) assert.ok(statuses.includes(s), `the log has a ${s}`);
  });
});
