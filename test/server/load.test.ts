import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/serve.js';

/**
 * The bounded load test (loopback only): 32 streaming requests at once — chat and completions,
 * greedy and sampled, prompts of different lengths — complete without an error and stream exactly
 * the text the same requests give one at a time with the same seeds. Each asks for a few tokens, so
 * the file stays within seconds on the software adapter.
 */
let t: TestServer;
before(async () => (t = await startTestServer({ parallel: 32 })));
after(async () => t?.close());

const CLIENTS = 32;
const WORDS = ['cat', 'sea', 'seven', 'a red house', 'two plus two', 'the quick brown fox', 'hello', 'numbers'];

interface Job {
  chat: boolean;
  prompt: string;
  temperature: number;
  seed: number;
}

const jobs: Job[] = Array.from({ length: CLIENTS }, (_, i) => ({
  chat: i % 4 === 0,
  prompt: `${WORDS[i % WORDS.length]} ${i}`,
  temperature: i % 3 === 0 ? 0 : 1.1,
  seed: 1000 + i,
}));

/** Runs one job streamed; returns the text it streamed (reasoning and content joined with a marker) and its finish reason. */
async function runStreamed(job: Job): Promise<string> {
  const common = { model: 'default', max_tokens: 5, temperature: job.temperature, seed: job.seed, stream: true as const };
  let text = '';
  if (job.chat) {
    const stream = await t.client.chat.completions.create({ ...common, messages: [{ role: 'user', content: job.prompt }] });
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      text += (d?.reasoning_content !== undefined ? `[r]${d.reasoning_content}` : '') + (d?.content ?? '');
      if (chunk.choices[0]?.finish_reason) text += `|${chunk.choices[0].finish_reason}`;
    }
  } else {
    const stream = await t.client.completions.create({ ...common, prompt: job.prompt });
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      if (chunk.choices[0]?.finish_reason) text += `|${chunk.choices[0].finish_reason}`;
    }
  }
  return text;
}

describe('ponder serve under load', () => {
  it(`${CLIENTS} concurrent streaming clients get what each gets alone`, async () => {
    const together = await Promise.all(jobs.map(runStreamed));
    const batched = t.scheduler.stats.maxBatch;
    const alone: string[] = [];
    for (const job of jobs) alone.push(await runStreamed(job));
    assert.deepEqual(together, alone);
    assert.ok(together.every((s) => /\|(stop|length)$/.test(s)), 'every stream ended with a finish reason');
    assert.ok(batched >= 2, `the requests shared decode steps (largest batch ${batched})`);
    assert.ok(t.log.every((r) => r.status === 200));
    assert.equal(t.log.length, 2 * CLIENTS);
  });
});
