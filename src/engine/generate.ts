import type { Tokenizer } from '../data/tokenizer.js';
import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Transformer } from '../model/transformer.js';
import { sample, type SamplingOptions } from '../sample/sampler.js';
import { SpeculativeDecoder, type SpeculativeStats } from './speculative.js';

/**
 * Text generation for one sequence: prefill the prompt, then decode a token at a time against the KV
 * cache, sampling on the GPU. Each step reads back only the chosen token id (4 bytes); text is
 * streamed through the tokenizer's stream decoder so no event carries half a UTF-8 character.
 * Views (the chat app, `ponder generate`) consume the events; nothing here prints.
 *
 * With `mtp`, the model's MTP modules draft tokens that the trunk verifies several at a time
 * (src/engine/speculative.ts): greedy decoding gives the same tokens as without, sampling tokens with
 * the same distribution; only the number of trunk passes changes.
 */
export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** extra stop ids besides the tokenizer's EOS / end-of-turn ids */
  stopIds?: number[];
  signal?: AbortSignal;
  /** draft with the model's MTP modules: true for all of them, or how many */
  mtp?: boolean | number;
}

export interface GenerateStats {
  prompt_tokens: number;
  new_tokens: number;
  prefill_ms: number;
  decode_ms: number;
  prefill_tokens_per_s: number;
  tokens_per_s: number;
  stop_reason: 'stop' | 'length' | 'context' | 'aborted';
  /** with MTP drafting: rounds, drafted and accepted drafts, accepted / drafted */
  mtp?: SpeculativeStats & { acceptance: number };
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
  const source = openSource(gpu, model, promptIds, budget, opts);
  const decoder = tokenizer.createStreamDecoder({ skipSpecialTokens: true });
  const ids: number[] = [];
  let text = '';
  let stopReason: GenerateStats['stop_reason'] = budget < opts.maxTokens ? 'context' : 'length';

  const t0 = performance.now();
  let prefillMs = 0;
  let decodeStart = 0;
  try {
    let pending = [await source.first()];
    prefillMs = performance.now() - t0;
    decodeStart = performance.now();
    outer: for (;;) {
      for (const next of pending) {
        if (stop.has(next)) {
          stopReason = 'stop';
          break outer;
        }
        ids.push(next);
        const piece = decoder.push(next);
        text += piece;
        yield { type: 'token', id: next, text: piece };
        if (ids.length >= budget) break outer;
      }
      if (opts.signal?.aborted) {
        stopReason = 'aborted';
        break;
      }
      pending = await source.next();
    }
  } finally {
    source.dispose();
  }
  const tail = decoder.flush();
  if (tail) {
    text += tail;
    yield { type: 'token', id: -1, text: tail };
  }
  const decodeMs = performance.now() - decodeStart;
  const mtp = source.stats();
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
      ...(mtp ? { mtp: { ...mtp, acceptance: mtp.drafted > 0 ? mtp.accepted / mtp.drafted : 0 } } : {}),
    },
  };
}

/** Where the tokens come from: the first after the prompt, then one or more per call of next(). */
interface TokenSource {
  first(): Promise<number>;
  next(): Promise<number[]>;
  stats(): SpeculativeStats | undefined;
  dispose(): void;
}

function openSource(gpu: Gpu, model: Transformer, promptIds: number[], budget: number, opts: GenerateOptions): TokenSource {
  if (opts.mtp !== undefined && opts.mtp !== false) {
    const spec = new SpeculativeDecoder(gpu, model, promptIds.length + budget, opts.mtp === true ? model.mtpDepth : opts.mtp, opts);
    return {
      // warmUp compiles every draft and verify shape before the prefill, so the decode rate in the
      // stats is the rounds' own, not the first rounds' shader compiles
      first: async () => {
        await spec.warmUp();
        return spec.prefill(promptIds);
      },
      next: () => spec.step(),
      stats: () => ({ ...spec.stats }),
      dispose: () => spec.dispose(),
    };
  }
  return plainSource(gpu, model, promptIds, budget, opts);
}

/** One trunk forward per token against a KV cache. */
function plainSource(gpu: Gpu, model: Transformer, promptIds: number[], budget: number, opts: SamplingOptions): TokenSource {
  const cache = model.createCache(1, promptIds.length + budget);
  let step = 0;
  let last = -1;
  return {
    async first() {
      // one decode-shaped pass first (its cache entry is overwritten by the prompt's): the decode
      // step's shaders compile here, as the drafting source's do, not in the first timed step
      model.forward([[promptIds[0]!]], cache, [0], [0], { lastOnly: true }).release();
      last = await sampleOne(gpu, model.forward([promptIds], cache, [0], [0], { lastOnly: true }), opts, 0);
      return last;
    },
    async next() {
      const logits = model.forward([[last]], cache, [0], [promptIds.length + step], { lastOnly: true });
      step++;
      last = await sampleOne(gpu, logits, opts, step);
      return [last];
    },
    stats: () => undefined,
    dispose: () => cache.dispose(),
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
