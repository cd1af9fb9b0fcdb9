/**
 * PLACEHOLDER for the batched sampler (P prompts × k samples): this file has the real sampler's
 * interface but runs `generate` (engine/generate.ts) one row at a time. It exists so evaluation can be
 * written against the interface now; the integrator replaces it with the real batched sampler (one
 * prefill per prompt, all rows decoded together). Do not build on its speed.
 *
 * Reproducibility as the real one promises: row (prompt p, sample s) draws with a seed derived from
 * (seed, stream, s) by Philox, where stream = `streams[p]` (default p), so a row's text does not depend
 * on which other prompts or samples share the batch. With temperature 0 every sample is the greedy one.
 */
import type { Tokenizer } from '../data/tokenizer.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Transformer } from '../model/transformer.js';
import { drawU32 } from '../sample/rng.js';
import type { SamplingOptions } from '../sample/sampler.js';
import { generate } from './generate.js';

export interface BatchSampleOptions extends SamplingOptions {
  samples: number;
  maxTokens: number;
  stopIds?: number[];
  /** per prompt: the RNG stream its rows draw from (default: the prompt's index) */
  streams?: number[];
  /** most rows decoded at once (ignored by this placeholder) */
  maxRows?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface BatchCompletion {
  prompt: number;
  sample: number;
  ids: number[];
  text: string;
  finish: 'stop' | 'length' | 'context' | 'aborted';
}

/** Philox counter word 3 for per-row seeds (ASCII "rows"), apart from the sampler's own domains. */
const ROW_SEED_DOMAIN = 0x726f7773;

/** A row's sampling seed: a Philox draw keyed by the run's seed at (stream, sample), below 2^53. */
function rowSeed(seed: number, stream: number, sample: number): number {
  const [lo, hi] = drawU32(seed, stream, 0, sample, ROW_SEED_DOMAIN);
  return (hi! & 0x1fffff) * 4294967296 + lo!;
}

/** Completions ordered by (prompt, sample). */
export async function sampleBatch(gpu: Gpu, model: Transformer, tok: Tokenizer, prompts: number[][], opts: BatchSampleOptions): Promise<BatchCompletion[]> {
  const total = prompts.length * opts.samples;
  const ctx = model.config.max_position_embeddings;
  const out: BatchCompletion[] = [];
  for (const [p, ids] of prompts.entries()) {
    for (let s = 0; s < opts.samples; s++) {
      const row = { prompt: p, sample: s };
      if (opts.signal?.aborted) out.push({ ...row, ids: [], text: '', finish: 'aborted' });
      else if (ids.length >= ctx) out.push({ ...row, ids: [], text: '', finish: 'context' });
      else {
        const seed = rowSeed(opts.seed ?? 0, opts.streams?.[p] ?? p, s);
        for await (const ev of generate(gpu, model, tok, ids, { ...opts, seed, mtp: undefined })) {
          if (ev.type === 'done') out.push({ ...row, ids: ev.ids, text: ev.text, finish: ev.stats.stop_reason });
        }
      }
      opts.onProgress?.(out.length, total);
    }
  }
  return out;
}
