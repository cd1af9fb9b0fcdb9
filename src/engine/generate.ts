import type { Tokenizer } from '../data/tokenizer.js';
import { PonderError } from '../errors.js';
import type { Gpu, StagedRead } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { Transformer } from '../model/transformer.js';
import { resolveSampling, sample, type SamplingOptions } from '../sample/sampler.js';
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
  /**
   * draft with the model's MTP modules: true for all of them, or how many; 'greedy': all of them when
   * decoding greedily, none when sampling (sampled rounds read logits back twice and are not recorded
   * ahead: slower than plain sampling on a software adapter, bench/RESULTS.md "Paced polling")
   */
  mtp?: boolean | number | 'greedy';
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
  const mtp = opts.mtp === 'greedy' ? resolveSampling(opts, model.config.vocab_size).temperature === 0 : opts.mtp;
  if (mtp !== undefined && mtp !== false) {
    const spec = new SpeculativeDecoder(gpu, model, promptIds.length + budget, mtp === true ? model.mtpDepth : mtp, opts);
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

/**
 * One trunk forward per token against a KV cache, one step ahead: each step's token stays on the
 * GPU as the next step's input, and the next step is recorded and submitted before this step's
 * token is read back (Gpu.stage), so the GPU never idles while JavaScript records a step. The step
 * in flight when generation stops is wasted work; its cache entry lies past every kept token.
 */
function plainSource(gpu: Gpu, model: Transformer, promptIds: number[], budget: number, opts: SamplingOptions): TokenSource {
  const P = promptIds.length;
  const cache = model.createCache(1, P + budget);
  const V = model.config.vocab_size;
  // token j comes from the forward at position P + j - 1 (j = 0: the prompt's), sampled with step j
  let next = 0;
  let inFlight: { id: Tensor; read: StagedRead } | undefined;
  const launch = (input: number[][] | Tensor, position: number): { id: Tensor; read: StagedRead } => {
    const logits = model.forward(input, cache, [0], [position], { lastOnly: true });
    const id = sample(gpu, logits.reshape([1, V]), opts, next++);
    logits.release();
    const read = gpu.stage(id);
    gpu.flush();
    return { id, read };
  };
  // token `next - 1` is in flight: take it, launching the one after it first while the cache has
  // room for it (position P + next - 1 < P + budget)
  const take = async (): Promise<number> => {
    const cur = inFlight!;
    inFlight = next <= budget ? launch(cur.id, P + next - 1) : undefined;
    cur.id.release(); // recorded and submitted with the step that reads it
    return (await cur.read.result())[0]!;
  };
  return {
    async first() {
      // one decode-shaped pass first (its cache entry is overwritten by the prompt's): the decode
      // step's shaders compile here, as the drafting source's do, not in the first timed step
      model.forward([[promptIds[0]!]], cache, [0], [0], { lastOnly: true }).release();
      inFlight = launch([promptIds], 0);
      return take();
    },
    async next() {
      if (!inFlight) throw new PonderError('BAD_INPUT', `generation is at its budget of ${budget} tokens`);
      return [await take()];
    },
    stats: () => undefined,
    dispose: () => {
      inFlight?.read.cancel();
      inFlight?.id.release();
      inFlight = undefined;
      cache.dispose();
    },
  };
}
