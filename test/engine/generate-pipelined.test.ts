import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodePrompt } from '../../src/data/prompt.js';
import { generate, type GenerateOptions, type GenerateStats } from '../../src/engine/generate.js';
import type { SamplingOptions } from '../../src/sample/sampler.js';
import { bundledModel, decodeStepByStep } from '../helpers/decode.js';

/**
 * Plain decoding runs one step ahead (the next step is submitted before this step's token is read
 * back): its tokens must be exactly those of a loop that reads each token before it records the
 * next step, greedy and sampled, up to a stop id, the token budget or the context's end.
 */
const bundled = bundledModel();

const stepByStep = (prompt: number[], n: number, opts: SamplingOptions) => decodeStepByStep(bundled.gpu, bundled.model, prompt, n, opts);

async function run(prompt: number[], opts: GenerateOptions): Promise<{ ids: number[]; stats: GenerateStats }> {
  const { gpu, model, tokenizer } = bundled;
  for await (const ev of generate(gpu, model, tokenizer, prompt, { ...opts, mtp: false })) if (ev.type === 'done') return ev;
  throw new Error('no done event');
}

/** The reference cut where generate stops: before the first stop id. */
function untilStop(ids: number[], stop: Set<number>): number[] {
  const i = ids.findIndex((t) => stop.has(t));
  return i < 0 ? ids : ids.slice(0, i);
}

describe('plain decoding, one step ahead', () => {
  it('greedy: the step-by-step tokens, to the budget', async () => {
    const { tokenizer } = bundled;
    const prompt = encodePrompt(tokenizer, 'What is 12 + 30?', { chat: true });
    const ref = await stepByStep(prompt, 24, { temperature: 0 });
    const got = await run(prompt, { temperature: 0, maxTokens: 24 });
    assert.equal(got.ids.length, 24);
    assert.deepEqual(got.ids, ref);
  });

  it('sampled: the step-by-step draws of the same seed, each step its own stream position', async () => {
    const { tokenizer } = bundled;
    // raw text the chat model is unsure of, and a high temperature: the draws depend on the stream
    const prompt = encodePrompt(tokenizer, 'zq', { chat: false });
    const opts = { temperature: 1.5, seed: 5 };
    const ref = await stepByStep(prompt, 20, opts);
    const got = await run(prompt, { ...opts, maxTokens: 20 });
    assert.ok(got.ids.length >= 8, `only ${got.ids.length} tokens before a stop: too few to compare`);
    assert.deepEqual(got.ids, untilStop(ref, new Set(tokenizer.eosIds)));
  });

  it('stops at a stop id, and at the context end (no step launched past the cache)', async () => {
    const { model, tokenizer } = bundled;
    const prompt = encodePrompt(tokenizer, 'What is 12 + 30?', { chat: true });
    const ref = await stepByStep(prompt, 12, { temperature: 0 });
    assert.ok(!ref.slice(0, 3).some((t) => tokenizer.eosIds.includes(t)), 'the greedy answer ends within 3 tokens');
    const third = ref[2]!;
    const stopped = await run(prompt, { temperature: 0, maxTokens: 12, stopIds: [third] });
    assert.deepEqual(stopped.ids, untilStop(ref, new Set([...tokenizer.eosIds, third])));
    assert.equal(stopped.stats.stop_reason, 'stop');
    // a prompt 5 tokens short of the context: 5 tokens, 'context'
    const maxPositions = model.config.max_position_embeddings;
    const long = Array.from({ length: maxPositions - 5 }, (_, i) => 97 + (i % 26));
    const refLong = await stepByStep(long, 5, { temperature: 0 });
    const atEnd = await run(long, { temperature: 0, maxTokens: 50 });
    assert.deepEqual(atEnd.ids, untilStop(refLong, new Set(tokenizer.eosIds)));
    if (atEnd.ids.length === 5) assert.equal(atEnd.stats.stop_reason, 'context');
  });

  it('an abort mid-flight ends it, and the next generation is unaffected', async () => {
    const { gpu, model, tokenizer } = bundled;
    const prompt = encodePrompt(tokenizer, 'What is 12 + 30?', { chat: true });
    const controller = new AbortController();
    let n = 0;
    let reason = '';
    for await (const ev of generate(gpu, model, tokenizer, prompt, { temperature: 0, maxTokens: 40, mtp: false, signal: controller.signal })) {
      if (ev.type === 'token' && ++n === 3) controller.abort();
      if (ev.type === 'done') reason = ev.stats.stop_reason;
    }
    assert.equal(reason, 'aborted');
    const ref = await stepByStep(prompt, 10, { temperature: 0 });
    assert.deepEqual((await run(prompt, { temperature: 0, maxTokens: 10 })).ids, untilStop(ref, new Set(tokenizer.eosIds)));
  });
});
