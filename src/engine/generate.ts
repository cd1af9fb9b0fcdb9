import type { Tokenizer } from '../data/tokenizer.js';
import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Transformer } from '../model/transformer.js';
import { sample, type SamplingOptions } from '../sample/sampler.js';

/**
 * Text generation for one sequence: prefill the prompt, then decode a token at a time against the KV
 * cache, sampling on the GPU. Each step reads back only the chosen token id (4 bytes); text is
 * streamed through the tokenizer's stream decoder so no event carries half a UTF-8 character.
 * Views (the chat app, `ponder generate`) consume the events; nothing here prints.
 */
export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** extra stop ids besides the tokenizer's EOS / end-of-turn ids */
  stopIds?: number[];
  signal?: AbortSignal;
}

export interface GenerateStats {
  prompt_tokens: number;
  new_tokens: number;
  prefill_ms: number;
  decode_ms: number;
  prefill_tokens_per_s: number;
  tokens_per_s: number;
  stop_reason: 'stop' | 'length' | 'context' | 'aborted';
}

export type GenerateEvent = { type: 'token'; id: number; text: string } | { type: 'done'; text: string; ids: number[]; stats: GenerateStats };

export async function* generate(gpu: Gpu, model: Transformer, tokenizer: Tokenizer, promptIds: number[], opts: GenerateOptions): AsyncGenerator<GenerateEvent> {
  const maxPositions = model.config.max_position_embeddings;
  if (promptIds.length === 0) throw new PonderError('BAD_INPUT', 'the prompt is empty');
  if (promptIds.length >= maxPositions) {
    throw new PonderError('BAD_INPUT', `the prompt is ${promptIds.length} tokens; this model's context is ${maxPositions}`);
  }
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 1) throw new PonderError('BAD_INPUT', `max tokens must be a positive integer, got ${opts.maxTokens}`);
  const budget = Math.min(opts.maxTokens, maxPositions - promptIds.length);
  const stop = new Set([...tokenizer.eosIds, ...(opts.stopIds ?? [])]);
  const cache = model.createCache(1, promptIds.length + budget);
  const decoder = tokenizer.createStreamDecoder({ skipSpecialTokens: true });
  const ids: number[] = [];
  let text = '';
  let stopReason: GenerateStats['stop_reason'] = budget < opts.maxTokens ? 'context' : 'length';

  const t0 = performance.now();
  let logits = model.forward([promptIds], cache, [0], [0], { lastOnly: true });
  let next = await sampleOne(gpu, logits, opts, 0);
  const prefillMs = performance.now() - t0;
  const t1 = performance.now();
  try {
    for (let step = 0; ; step++) {
      if (stop.has(next)) {
        stopReason = 'stop';
        break;
      }
      ids.push(next);
      const piece = decoder.push(next);
      text += piece;
      yield { type: 'token', id: next, text: piece };
      if (ids.length >= budget) break;
      if (opts.signal?.aborted) {
        stopReason = 'aborted';
        break;
      }
      logits = model.forward([[next]], cache, [0], [promptIds.length + step], { lastOnly: true });
      next = await sampleOne(gpu, logits, opts, step + 1);
    }
  } finally {
    cache.dispose();
  }
  const tail = decoder.flush();
  if (tail) {
    text += tail;
    yield { type: 'token', id: -1, text: tail };
  }
  const decodeMs = performance.now() - t1;
  yield {
    type: 'done',
    text,
    ids,
    stats: {
      prompt_tokens: promptIds.length,
      new_tokens: ids.length,
      prefill_ms: prefillMs,
      decode_ms: decodeMs,
      prefill_tokens_per_s: promptIds.length / (prefillMs / 1000),
      // the first new token comes from the prefill; the rest each took one decode step
      tokens_per_s: ids.length > 1 ? (ids.length - 1) / (decodeMs / 1000) : 0,
      stop_reason: stopReason,
    },
  };
}

async function sampleOne(gpu: Gpu, logits: ReturnType<Transformer['forward']>, opts: SamplingOptions, step: number): Promise<number> {
  const vocab = logits.shape[logits.shape.length - 1];
  const ids = sample(gpu, logits.reshape([1, vocab]), opts, step);
  const out = await gpu.readU32(ids);
  ids.release();
  logits.release(); // forward hands the caller a fresh logits tensor
  return out[0];
}
