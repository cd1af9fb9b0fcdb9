import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodePrompt } from '../../src/data/prompt.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { DecodeScheduler, type DecodeEvent, type DecodeRequest } from '../../src/engine/decode-scheduler.js';
import { generate } from '../../src/engine/generate.js';
import { openModel } from '../../src/engine/open-model.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Transformer } from '../../src/model/transformer.js';
import { testGpu } from '../helpers/gpu.js';

/**
 * Continuous batching on the bundled model. The oracle is `generate()`, one sequence alone with the
 * same seed: sequences that share the decode batch — started together, joining mid-flight, waiting in
 * the queue for a slot — must get exactly its tokens (greedy and sampled); a sequence that is aborted
 * or whose consumer stops reading leaves and frees its slot for the next in the queue.
 */
let gpu: Gpu;
let model: Transformer;
let tokenizer: Tokenizer;

before(async () => {
  gpu = await testGpu();
  ({ model, tokenizer } = await openModel(gpu, 'default'));
});
after(() => model?.dispose());

const PROMPTS = ['What is 2+3?', 'Name a colour.', 'hi', 'Count to five, slowly please.', 'What is 7*6?'];

/** Chat prompts for greedy decoding; raw text for sampling (the chat model answers chat prompts too confidently for seeds to matter). */
function ids(prompt: string, chat = true): number[] {
  return encodePrompt(tokenizer, prompt, { chat });
}

async function alone(promptIds: number[], opts: DecodeRequest): Promise<number[]> {
  for await (const ev of generate(gpu, model, tokenizer, promptIds, opts)) if (ev.type === 'done') return ev.ids;
  throw new Error('no done event');
}

async function collect(events: AsyncIterable<DecodeEvent>, onToken?: (n: number) => void): Promise<Extract<DecodeEvent, { type: 'done' }> & { pieces: string }> {
  let pieces = '';
  let n = 0;
  for await (const ev of events) {
    if (ev.type === 'done') return { ...ev, pieces };
    pieces += ev.text;
    if (ev.id >= 0) onToken?.(++n);
  }
  throw new Error('no done event');
}

describe('DecodeScheduler', () => {
  it('concurrent sequences, more than the slots, get the tokens each gets alone (greedy and sampled)', async () => {
    const requests: DecodeRequest[] = PROMPTS.map((_, i) => (i % 2 === 0 ? { maxTokens: 10, temperature: 0 } : { maxTokens: 10, temperature: 1.2, topP: i === 3 ? 0.9 : 1, seed: 100 + i }));
    const sched = new DecodeScheduler(gpu, model, tokenizer, 3);
    try {
      const prompt = (i: number) => ids(PROMPTS[i]!, requests[i]!.temperature === 0);
      const runs = PROMPTS.map((_, i) => collect(sched.submit(prompt(i), requests[i]!)));
      const got = await Promise.all(runs);
      for (let i = 0; i < PROMPTS.length; i++) {
        const want = await alone(prompt(i), requests[i]!);
        assert.deepEqual(got[i]!.ids, want, `request ${i}`);
        assert.equal(got[i]!.text, tokenizer.decode(want, { skipSpecialTokens: true }));
        assert.equal(got[i]!.pieces, got[i]!.text, 'the pieces add up to the text');
        assert.equal(got[i]!.promptTokens, prompt(i).length);
        assert.equal(got[i]!.completionTokens, want.length);
        assert.ok(got[i]!.finishReason === 'length' ? want.length === 10 : want.length < 10);
      }
      const s = sched.stats;
      assert.equal(s.maxBatch, 3, 'at most --parallel rows, and the slots were all used');
      assert.equal(s.live, 0);
      assert.equal(s.queued, 0);
    } finally {
      await sched.close();
    }
  });

  it('a sequence joining mid-flight gets its own tokens and does not change the running one', async () => {
    const sched = new DecodeScheduler(gpu, model, tokenizer, 2);
    const a: DecodeRequest = { maxTokens: 12, temperature: 1.2, seed: 7 };
    const b: DecodeRequest = { maxTokens: 6, temperature: 1.2, seed: 9 };
    try {
      let late: Promise<Awaited<ReturnType<typeof collect>>> | undefined;
      const first = collect(sched.submit(ids(PROMPTS[0]!, false), a), (n) => {
        if (n === 3) late = collect(sched.submit(ids(PROMPTS[1]!, false), b));
      });
      const gotA = await first;
      assert.ok(late, 'the second request was submitted while the first was decoding');
      const gotB = await late!;
      assert.deepEqual(gotA.ids, await alone(ids(PROMPTS[0]!, false), a));
      assert.deepEqual(gotB.ids, await alone(ids(PROMPTS[1]!, false), b));
      assert.equal(sched.stats.maxBatch, 2, 'they shared decode steps');
    } finally {
      await sched.close();
    }
  });

  it('the RNG stream separates choices of one prompt with one seed; stream 0 is the lone sequence', async () => {
    const sched = new DecodeScheduler(gpu, model, tokenizer, 4);
    const opts: DecodeRequest = { maxTokens: 8, temperature: 1.5, seed: 5 };
    try {
      const raw = ids('The cat', false);
      // submitted together: stream 0 is prefilled in the loop's first step, streams 1-3 join in the
      // next, where 2 and 3 copy the K/V that 1's prefill wrote instead of running their own
      const got = await Promise.all([0, 1, 2, 3].map((stream) => collect(sched.submit(raw, { ...opts, stream }))));
      assert.deepEqual(got[0]!.ids, await alone(raw, opts));
      const distinct = new Set(got.map((g) => g.ids.join(',')));
      assert.ok(distinct.size > 1, 'at temperature 1.5 four streams do not all agree');
      for (const stream of [1, 2, 3]) {
        const lone = await collect(sched.submit(raw, { ...opts, stream }));
        assert.deepEqual(got[stream]!.ids, lone.ids, `stream ${stream}: the same tokens as prefilled alone`);
      }
    } finally {
      await sched.close();
    }
  });

  it('abort and a consumer that stops reading free the slot for the queue', async () => {
    const sched = new DecodeScheduler(gpu, model, tokenizer, 1);
    const abort = new AbortController();
    try {
      const aborted = collect(sched.submit(ids(PROMPTS[3]!), { maxTokens: 200, temperature: 0, signal: abort.signal }), (n) => {
        if (n === 2) abort.abort();
      });
      const waiting = collect(sched.submit(ids(PROMPTS[0]!), { maxTokens: 4, temperature: 0 }));
      assert.deepEqual([sched.stats.live, sched.stats.queued], [1, 1], 'one slot: the second request waits');
      const a = await aborted;
      assert.equal(a.finishReason, 'aborted');
      assert.ok(a.ids.length >= 2 && a.ids.length < 200, `stopped early (${a.ids.length} tokens)`);
      const w = await waiting;
      assert.deepEqual(w.ids, await alone(ids(PROMPTS[0]!), { maxTokens: 4, temperature: 0 }));

      // breaking out of the iteration cancels too: the next request still gets the one slot
      for await (const ev of sched.submit(ids(PROMPTS[3]!), { maxTokens: 200, temperature: 0 })) if (ev.type === 'token') break;
      const after = await collect(sched.submit(ids('hi'), { maxTokens: 3, temperature: 0 }));
      assert.deepEqual(after.ids, await alone(ids('hi'), { maxTokens: 3, temperature: 0 }));
      assert.equal(sched.stats.live, 0);
    } finally {
      await sched.close();
    }
  });

  it('bad input throws at submit; close() ends queued sequences as aborted', async () => {
    const sched = new DecodeScheduler(gpu, model, tokenizer, 1);
    assert.throws(() => sched.submit([], { maxTokens: 3 }), /prompt is empty/);
    assert.throws(() => sched.submit(new Array(model.config.max_position_embeddings).fill(65), { maxTokens: 3 }), /context is/);
    assert.throws(() => sched.submit([65], { maxTokens: 0 }), /max tokens/);
    assert.throws(() => sched.submit([65], { maxTokens: 3, topP: 2 }), /topP/);
    const runs = [collect(sched.submit(ids('hi'), { maxTokens: 300, temperature: 0 })), collect(sched.submit(ids('hi'), { maxTokens: 300, temperature: 0 }))];
    await sched.close();
    const done = await Promise.all(runs);
    assert.deepEqual(done.map((d) => d.finishReason), ['aborted', 'aborted']);
    assert.throws(() => sched.submit([65], { maxTokens: 3 }), /closed/);
  });

  it('a context below the model\'s caps prompt + completion per slot', async () => {
    const prompt = ids(PROMPTS[3]!, false);
    const context = prompt.length + 5;
    const sched = new DecodeScheduler(gpu, model, tokenizer, 2, context);
    try {
      assert.equal(sched.contextLimit, context);
      assert.throws(() => sched.submit(new Array(context).fill(65), { maxTokens: 3 }), new RegExp(`context is ${context}`));
      const done = await collect(sched.submit(prompt, { maxTokens: 100, temperature: 0 }));
      const want = await alone(prompt, { maxTokens: 5, temperature: 0 });
      assert.deepEqual(done.ids, want);
      assert.equal(done.finishReason, want.length === 5 ? 'length' : 'stop');
      assert.throws(() => new DecodeScheduler(gpu, model, tokenizer, 1, model.config.max_position_embeddings + 1), /context must be/);
    } finally {
      await sched.close();
    }
  });
});
