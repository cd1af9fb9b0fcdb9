import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessages, encodePrompt } from '../../src/data/prompt.js';
import { splitByThinkIds, startTestServer, type TestServer } from '../helpers/serve.js';

/**
 * `ponder serve` through the official `openai` npm client on a loopback port, with the bundled
 * model (a byte-level chat model that reasons between <think> tags). Every answer is checked against
 * the engine's generate() for one sequence with the same prompt ids and seed: chat and completions,
 * streamed and not, n > 1, stop strings, the reasoning_content / content split, usage counts.
 */
let t: TestServer;
before(async () => (t = await startTestServer({ parallel: 4 })));
after(async () => t?.close());

const QUESTION = [{ role: 'user' as const, content: 'What is 2+3?' }];

/** The answer generate() gives for the question (greedy: the bundled model's default). */
async function expectedChat(maxTokens: number) {
  const ids = await t.alone(encodeMessages(t.tokenizer, QUESTION), { maxTokens, temperature: 0 });
  return { ids, ...splitByThinkIds(t.tokenizer, ids) };
}

describe('ponder serve with the openai client', () => {
  it('GET /v1/models and /health', async () => {
    const models = await t.client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['default']);
    const health = (await fetch(`${t.server.url}/health`).then((r) => r.json())) as { status: string; slots: number };
    assert.equal(health.status, 'ok');
    assert.equal(health.slots, 4);
  });

  it('chat, not streamed: reasoning_content and content split at the think tags; usage counts tokens', async () => {
    const want = await expectedChat(48);
    assert.ok(want.reasoning !== '' && want.content !== '', 'the bundled model reasons, then answers');
    const r = await t.client.chat.completions.create({ model: 'default', messages: QUESTION, max_tokens: 48 });
    assert.equal(r.object, 'chat.completion');
    const msg = r.choices[0]!.message as typeof r.choices[0]['message'] & { reasoning_content?: string };
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.reasoning_content, want.reasoning);
    assert.equal(msg.content, want.content);
    assert.equal(r.choices[0]!.finish_reason, want.ids.length < 48 ? 'stop' : 'length');
    const promptTokens = encodeMessages(t.tokenizer, QUESTION).length;
    // completion tokens: the generated ids, plus the EOS that ended a stopped answer is not counted
    assert.deepEqual(r.usage, { prompt_tokens: promptTokens, completion_tokens: want.ids.length, total_tokens: promptTokens + want.ids.length });
  });

  it('chat, streamed: the deltas add up to the same split; finish chunk; usage chunk with include_usage', async () => {
    const want = await expectedChat(48);
    const stream = await t.client.chat.completions.create({ model: 'default', messages: QUESTION, max_tokens: 48, stream: true, stream_options: { include_usage: true } });
    let reasoning = '';
    let content = '';
    const finishes: (string | null)[] = [];
    let usage: unknown;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        const d = c.delta as typeof c.delta & { reasoning_content?: string };
        reasoning += d.reasoning_content ?? '';
        content += d.content ?? '';
        if (c.finish_reason) finishes.push(c.finish_reason);
      }
    }
    assert.equal(reasoning, want.reasoning);
    assert.equal(content, want.content);
    assert.deepEqual(finishes, [want.ids.length < 48 ? 'stop' : 'length']);
    assert.deepEqual(usage, { prompt_tokens: encodeMessages(t.tokenizer, QUESTION).length, completion_tokens: want.ids.length, total_tokens: encodeMessages(t.tokenizer, QUESTION).length + want.ids.length });
  });

  it('completions, n = 3 sampled, streamed and not: choice i is seed with RNG stream i, choice 0 = generate()', async () => {
    const prompt = 'The cat';
    const params = { model: 'default', prompt, max_tokens: 8, temperature: 1.3, seed: 42, n: 3 };
    const r = await t.client.completions.create(params);
    assert.equal(r.object, 'text_completion');
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    const ids = encodePrompt(t.tokenizer, prompt, { chat: false });
    const want0 = await t.alone(ids, { maxTokens: 8, temperature: 1.3, seed: 42 });
    assert.equal(r.choices[0]!.text, t.tokenizer.decode(want0, { skipSpecialTokens: true }));
    assert.ok(new Set(r.choices.map((c) => c.text)).size > 1, 'the choices are drawn independently');
    assert.equal(r.usage!.prompt_tokens, ids.length);

    const stream = await t.client.completions.create({ ...params, stream: true });
    const texts = ['', '', ''];
    const finish: string[] = [];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        texts[c.index] += c.text;
        if (c.finish_reason) finish[c.index] = c.finish_reason;
      }
    }
    assert.deepEqual(texts, r.choices.map((c) => c.text), 'the same seed gives the same choices streamed');
    assert.deepEqual(finish, r.choices.map((c) => c.finish_reason));
  });

  it('stop strings cut the answer at the first occurrence (also when the stop spans stream pieces)', async () => {
    const want = await expectedChat(48);
    // a stop string from the middle of the answer, several characters long, so it spans tokens
    const at = Math.floor(want.content.length / 2);
    const stop = want.content.slice(at, at + 3);
    const cut = want.content.slice(0, want.content.indexOf(stop));
    const r = await t.client.chat.completions.create({ model: 'default', messages: QUESTION, max_tokens: 48, stop: ['never-there', stop] });
    assert.equal(r.choices[0]!.message.content, cut);
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.ok(r.usage!.completion_tokens < want.ids.length, 'generation stopped early');

    const stream = await t.client.chat.completions.create({ model: 'default', messages: QUESTION, max_tokens: 48, stop, stream: true });
    let content = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? '';
      finish ??= chunk.choices[0]?.finish_reason ?? null;
    }
    assert.equal(content, cut);
    assert.equal(finish, 'stop');
  });

  it('chat_template_kwargs.enable_thinking false: the template closes the reasoning block, the answer is all content', async () => {
    const ids = await t.alone(encodeMessages(t.tokenizer, QUESTION, { enableThinking: false }), { maxTokens: 32, temperature: 0 });
    const r = await t.client.chat.completions.create({ model: 'default', messages: QUESTION, max_tokens: 32, chat_template_kwargs: { enable_thinking: false } } as never);
    const msg = (r as { choices: { message: { content: string; reasoning_content?: string } }[] }).choices[0]!.message;
    assert.equal(msg.reasoning_content, undefined);
    assert.equal(msg.content, t.tokenizer.decode(ids, { skipSpecialTokens: true }).replace(/^\s+/, ''));
    assert.notEqual(msg.content, (await expectedChat(32)).content, 'the prompt differs from the thinking one');
  });

  it('max_tokens ends with finish_reason length', async () => {
    const r = await t.client.completions.create({ model: 'default', prompt: 'What is 88 * 68?', max_tokens: 3, temperature: 0 });
    assert.equal(r.choices[0]!.finish_reason, 'length');
    assert.equal(r.usage!.completion_tokens, 3);
    const ids = encodePrompt(t.tokenizer, 'What is 88 * 68?', { chat: false });
    assert.equal(r.choices[0]!.text, t.tokenizer.decode(await t.alone(ids, { maxTokens: 3, temperature: 0 }), { skipSpecialTokens: true }));
  });

  it('logs one record per request with status and tokens', () => {
    const chat = t.log.filter((r) => r.path === '/v1/chat/completions');
    assert.ok(chat.length >= 4);
    for (const r of chat) {
      assert.equal(r.method, 'POST');
      assert.equal(r.status, 200);
      assert.ok(typeof r.completion_tokens === 'number' && r.completion_tokens > 0);
      assert.ok(r.ms >= 0);
    }
  });
});
