import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatMessage } from '../../src/data/chat-template.js';
import { ChatSession, type ChatBackend, type ChatEvent } from '../../src/engine/chat.js';
import type { GenerateEvent, GenerateOptions } from '../../src/engine/generate.js';
import { sanitize, splitReasoning } from '../../src/tui/chat/text.js';

/**
 * ChatSession's own logic on a scripted backend (no GPU): context accounting drops the oldest turns
 * with a notice, stop() ends an answer as 'aborted' and keeps it, save/load round-trips the SFT JSONL
 * format, <think> ids come back as tags.
 */
let root: string;
before(() => (root = mkdtempSync(join(tmpdir(), 'ponder-chat-session-'))));
after(() => rmSync(root, { recursive: true, force: true }));

/** One token per character of every message (plus 2 per message for the role markers). */
function scriptedBackend(reply: string[], opts: { contextLimit?: number; delayMs?: number; mtpLayers?: number; stopReason?: 'stop' | 'length' | 'context' } = {}): ChatBackend & { prompts: ChatMessage[][]; options: GenerateOptions[] } {
  const prompts: ChatMessage[][] = [];
  const options: GenerateOptions[] = [];
  return {
    prompts,
    options,
    info: { model: 'scripted', adapter: 'none', contextLimit: opts.contextLimit ?? 1000, mtpLayers: opts.mtpLayers ?? 0 },
    thinkIds: { open: 900, close: 901 },
    encode(messages) {
      prompts.push(messages.map((m) => ({ ...m })));
      return messages.flatMap((m) => [1, 2, ...[...m.content].map((c) => c.charCodeAt(0))]);
    },
    async *generate(ids: number[], o: GenerateOptions): AsyncGenerator<GenerateEvent> {
      options.push(o);
      const out: number[] = [];
      let text = '';
      let reason: 'stop' | 'length' | 'context' | 'aborted' = opts.stopReason ?? 'stop';
      for (const piece of reply) {
        if (o.signal?.aborted) {
          reason = 'aborted';
          break;
        }
        const id = piece === '<think>' ? 900 : piece === '</think>' ? 901 : 5;
        const t = id === 5 ? piece : ''; // the stream decoder skips special tokens
        out.push(id);
        text += t;
        yield { type: 'token', id, text: t };
        await new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
      }
      yield {
        type: 'done',
        text,
        ids: out,
        stats: { prompt_tokens: ids.length, new_tokens: out.length, prefill_ms: 1, decode_ms: 1, prefill_tokens_per_s: 1, tokens_per_s: 1, stop_reason: reason },
      };
    },
    dispose() {},
  };
}

async function collect(gen: AsyncGenerator<ChatEvent>): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for await (const ev of gen) out.push(ev);
  return out;
}

describe('ChatSession', () => {
  it('asks for MTP drafting only when the model has MTP layers and /mtp is on (all modules, or the first N)', async () => {
    const cases: { layers: number; mtp: boolean | number | 'greedy'; temperature: number; want: unknown }[] = [
      { layers: 0, mtp: true, temperature: 0, want: undefined },
      { layers: 2, mtp: false, temperature: 0, want: undefined },
      { layers: 2, mtp: true, temperature: 0.7, want: true },
      { layers: 2, mtp: true, temperature: 0, want: true },
      // the default: generate drafts when the answer is greedy
      { layers: 2, mtp: 'greedy', temperature: 0.7, want: 'greedy' },
      { layers: 0, mtp: 'greedy', temperature: 0, want: undefined },
      // --mtp N / /mtp N: the first N modules, never more than the model has
      { layers: 2, mtp: 1, temperature: 0, want: 1 },
      { layers: 2, mtp: 3, temperature: 0, want: 2 },
      { layers: 0, mtp: 1, temperature: 0, want: undefined },
    ];
    for (const c of cases) {
      const backend = scriptedBackend(['ok'], { mtpLayers: c.layers });
      const s = new ChatSession(backend, { settings: { mtp: c.mtp, temperature: c.temperature } });
      await collect(s.send('hi'));
      assert.equal(backend.options[0]!.mtp, c.want, JSON.stringify(c));
    }
  });

  it('streams tokens, records the turn, keeps <think> tags and counts the context', async () => {
    const s = new ChatSession(scriptedBackend(['<think>', 'hm', '</think>', 'Hi', '!']), { settings: { system: 'be kind' } });
    const events = await collect(s.send('hello'));
    const text = events.filter((e) => e.type === 'token').map((e) => (e as { text: string }).text).join('');
    assert.equal(text, '<think>hm</think>Hi!');
    assert.deepEqual(s.messages, [
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: '<think>hm</think>Hi!' },
    ]);
    assert.equal(s.contextUsed, 2 + 7 + 2 + 5 + 5);
    assert.equal(s.conversation()[0]!.role, 'system');
    assert.deepEqual(splitReasoning(text), { reasoning: 'hm', thinking: false, answer: 'Hi!' });
  });

  it('drops the oldest turns when the prompt would not fit, with a notice, keeping the system message', async () => {
    const backend = scriptedBackend(['ok'], { contextLimit: 60 });
    const s = new ChatSession(backend, { settings: { system: 'sys', maxTokens: 10 } });
    await collect(s.send('a'.repeat(15)));
    await collect(s.send('b'.repeat(15)));
    const events = await collect(s.send('c'.repeat(15)));
    const notice = events.find((e) => e.type === 'notice');
    assert.ok(notice && /dropped the oldest 2 messages/.test((notice as { text: string }).text), JSON.stringify(events));
    const last = backend.prompts[backend.prompts.length - 1]!;
    assert.equal(last[0]!.content, 'sys');
    assert.ok(!last.some((m) => m.content.startsWith('a')));
    assert.equal(s.messages[0]!.content, 'b'.repeat(15));
  });

  it('a single message larger than the context is refused and leaves no trace', async () => {
    const s = new ChatSession(scriptedBackend(['x'], { contextLimit: 30 }));
    await assert.rejects(collect(s.send('z'.repeat(40))), /context is 30/);
    assert.equal(s.messages.length, 0);
    assert.equal(s.busy, false);
  });

  it('stop() ends the answer as aborted and keeps what was said', async () => {
    const s = new ChatSession(scriptedBackend(['a', 'b', 'c', 'd', 'e', 'f'], { delayMs: 5 }));
    const events: ChatEvent[] = [];
    for await (const ev of s.send('go')) {
      events.push(ev);
      if (ev.type === 'token' && ev.text === 'b') s.stop();
    }
    const done = events[events.length - 1]!;
    assert.equal(done.type, 'done');
    assert.equal((done as { stats: { stop_reason: string } }).stats.stop_reason, 'aborted');
    assert.equal(s.messages[1]!.content, 'ab');
    assert.equal(s.busy, false);
  });

  it('save appends SFT JSONL; load reads the last line back (system message into the settings)', async () => {
    const s = new ChatSession(scriptedBackend(['fine']), { settings: { system: 'be brief' } });
    await collect(s.send('how are you?'));
    const file = join(root, 'sub', 'chats.jsonl');
    assert.equal(s.save(file), 3);
    assert.equal(s.save(file), 3);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2);
    assert.deepEqual(JSON.parse(lines[0]!), {
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'how are you?' },
        { role: 'assistant', content: 'fine' },
      ],
    });
    const t = new ChatSession(scriptedBackend([]));
    assert.equal(t.load(file), 3);
    assert.equal(t.settings.system, 'be brief');
    assert.equal(t.messages.length, 2);
    const bad = join(root, 'bad.jsonl');
    writeFileSync(bad, '{"nope": 1}\n');
    assert.throws(() => t.load(bad), /expected \{"messages"/);
    assert.throws(() => t.load(join(root, 'missing.jsonl')), /no such conversation file/);
    t.reset();
    assert.throws(() => t.save(join(root, 'x.jsonl')), /nothing to save/);
  });

  it('reset() while an answer streams discards it: the new conversation is empty and cannot be saved', async () => {
    const s = new ChatSession(scriptedBackend(['a', 'b', 'c', 'd', 'e', 'f'], { delayMs: 5 }));
    const events: ChatEvent[] = [];
    for await (const ev of s.send('go')) {
      events.push(ev);
      if (ev.type === 'token' && ev.text === 'b') s.reset();
    }
    const done = events[events.length - 1]!;
    assert.equal(done.type, 'done');
    assert.equal((done as { discarded?: boolean }).discarded, true);
    assert.deepEqual(s.messages, []);
    assert.equal(s.contextUsed, 0);
    assert.equal(s.busy, false);
    assert.throws(() => s.save(join(root, 'never.jsonl')), /nothing to save/);
    // the next turn is the only one in the conversation
    const next = new ChatSession(scriptedBackend(['ok']));
    await collect(next.send('first'));
    for await (const ev of next.send('second')) if (ev.type === 'start') next.reset();
    assert.deepEqual(next.messages, []);
  });

  it('load() while an answer streams discards it; the loaded conversation is all there is', async () => {
    const file = join(root, 'load-during.jsonl');
    writeFileSync(file, JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] }) + '\n');
    const s = new ChatSession(scriptedBackend(['x', 'y', 'z'], { delayMs: 5 }));
    for await (const ev of s.send('go')) if (ev.type === 'token') s.load(file);
    assert.deepEqual(s.messages, [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a' },
    ]);
  });

  it('save() during an answer writes the finished turns only; a lone user message is never saved', async () => {
    const s = new ChatSession(scriptedBackend(['fine'], { delayMs: 5 }));
    const file = join(root, 'during.jsonl');
    for await (const ev of s.send('lonely')) if (ev.type === 'start') assert.throws(() => s.save(file), /nothing to save/);
    for await (const ev of s.send('again')) if (ev.type === 'start') assert.equal(s.save(file), 2);
    const records = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(records, [
      {
        messages: [
          { role: 'user', content: 'lonely' },
          { role: 'assistant', content: 'fine' },
        ],
      },
    ]);
  });

  it('switchModel() during an answer stops it, keeps it, and frees the old model only after it ended', async () => {
    const log: string[] = [];
    const old = scriptedBackend(['a', 'b', 'c', 'd'], { delayMs: 5 });
    old.dispose = () => log.push('old disposed');
    const oldGenerate = old.generate.bind(old);
    old.generate = async function* (ids, o) {
      yield* oldGenerate(ids, o);
      log.push('old answer ended');
    };
    const s = new ChatSession(old, { openBackend: async () => scriptedBackend(['new']) });
    let switching: Promise<void> | undefined;
    for await (const ev of s.send('go')) if (ev.type === 'token' && !switching) switching = s.switchModel('other');
    await switching;
    assert.deepEqual(log, ['old answer ended', 'old disposed']);
    assert.equal(s.messages.length, 2);
    assert.equal(s.messages[0]!.content, 'go');
  });

  it('the answer budget: max tokens (default: half the context, at most 512) and never past the context; a cut answer is marked', async () => {
    const small = scriptedBackend(['ok'], { contextLimit: 100 });
    const s = new ChatSession(small);
    const start = (await collect(s.send('hi'))).find((e) => e.type === 'start') as { promptTokens: number; budget: number };
    assert.equal(small.options[0]!.maxTokens, 50, 'default: half the context');
    assert.equal(start.budget, Math.min(50, 100 - start.promptTokens));
    const big = scriptedBackend(['ok'], { contextLimit: 4096 });
    await collect(new ChatSession(big).send('hi'));
    assert.equal(big.options[0]!.maxTokens, 512, 'default: at most 512');
    const tight = scriptedBackend(['ok'], { contextLimit: 100 });
    const t = new ChatSession(tight, { settings: { maxTokens: 1000 } });
    const ev = await collect(t.send('x'.repeat(60)));
    const st = ev.find((e) => e.type === 'start') as { promptTokens: number; budget: number };
    assert.equal(st.budget, 100 - st.promptTokens, 'never more than the context left');
    for (const [reason, mark] of [['length', '[max tokens]'], ['context', '[context full]'], ['stop', undefined]] as const) {
      const done = (await collect(new ChatSession(scriptedBackend(['a'], { stopReason: reason })).send('q'))).at(-1) as { cut?: string };
      assert.equal(done.cut, mark, reason);
    }
  });

  it('measures the time to the first token of the last answer', async () => {
    const s = new ChatSession(scriptedBackend(['a', 'b'], { delayMs: 2 }));
    assert.equal(s.lastTimeToFirstTokenMs, undefined);
    await collect(s.send('q'));
    assert.ok(typeof s.lastTimeToFirstTokenMs === 'number' && s.lastTimeToFirstTokenMs >= 0);
    s.reset();
    assert.equal(s.lastTimeToFirstTokenMs, undefined);
  });

  it('sanitize strips control characters and escape sequences, keeps newlines', () => {
    assert.equal(sanitize('a\u001b[31mred\u001b[0m\u0007b\r\nc\u0000d\u001b]0;title\u0007e'), 'aredb\ncde');
  });
});
