import { PonderError } from '../errors.js';
import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { argmax } from '../ops/argmax.js';
import { expectDtype, expectRank, expectShape, fail } from '../ops/check.js';
import { expectDistinct, rowWorkgroupSize } from '../ops/softmax.js';
import { topk, TOPK_MAX_K } from '../ops/topk.js';
import { seedKey } from './rng.js';

/**
 * Token sampling on the GPU: logits f32 [R, V] -> token ids u32 [R], one per row, recorded without
 * any readback. Which algorithm runs (all explained in wgsl/sample.wgsl):
 *
 *   temperature 0                     argmax (ties -> the lowest index); the filters are moot.
 *   temperature T > 0, no filter      exact sampling from softmax(logits / T) over the FULL
 *                                     vocabulary by the Gumbel-max trick: one pass, no sort.
 *   any of top-k / top-p / min-p      topk.wgsl takes the K = min(topK || 64, 64) best logits, then
 *                                     one thread per row: softmax at T over them, min-p filter,
 *                                     top-p nucleus, renormalise, one uniform draw.
 *
 * Limits: the candidate path sees at most TOPK_MAX_K = 64 tokens, so top-k above 64 acts as 64 and
 * top-p / min-p are computed over (and truncated to) the 64 most likely tokens.
 * A filter that keeps everything is off: topK 0 or >= V, topP 1, minP 0.
 *
 * Randomness: Philox4x32-10 (src/sample/rng.ts), key = seed, counter = (index, step, stream,
 * domain). A row's draw depends only on (seed, its stream, step) - by default its row index, or
 * `rowStreams[r]` (e.g. the sequence id), so a sequence gets the same tokens whatever batch it is
 * in and wherever it sits; bump `step` every decode step so successive draws are independent.
 */
export interface SamplingOptions {
  /** Softmax temperature, >= 0 (default 1); 0 => greedy argmax. */
  temperature?: number;
  /** Keep the topK most likely tokens (integer 0..V; 0 = off; values above 64 act as 64). */
  topK?: number;
  /** Nucleus: keep the smallest set of most likely tokens with probability >= topP (0 < topP <= 1; 1 = off). */
  topP?: number;
  /** Keep tokens with p >= minP * max p (0 <= minP < 1; 0 = off). */
  minP?: number;
  /** RNG seed: a non-negative integer below 2^53 (default 0). */
  seed?: number;
}

/** The options after validation, with defaults and "off" filters normalised. */
export interface ResolvedSampling {
  temperature: number;
  /** Candidates to consider, 0 when sampling over the full vocabulary (or greedy). */
  candidates: number;
  topP: number;
  minP: number;
  seed: number;
}

function bad(name: string, rule: string, v: unknown): never {
  throw new PonderError('BAD_INPUT', `sample: ${name} must be ${rule}, got ${v}`);
}

/** Validates options against a vocabulary of V tokens; throws PonderError('BAD_INPUT') naming the option. */
export function resolveSampling(opts: SamplingOptions, vocab: number): ResolvedSampling {
  const temperature = opts.temperature ?? 1;
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  const minP = opts.minP ?? 0;
  const seed = opts.seed ?? 0;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) bad('temperature', 'a finite number >= 0', temperature);
  if (!Number.isInteger(topK) || topK < 0 || topK > vocab) bad('topK', `an integer in 0..${vocab} (the vocabulary size)`, topK);
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) bad('topP', 'in (0, 1]', topP);
  if (typeof minP !== 'number' || !(minP >= 0 && minP < 1)) bad('minP', 'in [0, 1)', minP);
  if (!Number.isSafeInteger(seed) || seed < 0) bad('seed', 'a non-negative integer below 2^53', seed);
  const filtered = (topK > 0 && topK < vocab) || topP < 1 || minP > 0;
  const candidates = temperature === 0 || !filtered ? 0 : Math.min(topK > 0 ? topK : TOPK_MAX_K, TOPK_MAX_K, vocab);
  return { temperature, candidates, topP, minP, seed };
}

/** The 1-element stand-in bound for `rowStreams` when the caller gives none (the kernel ignores it). */
const dummyStreams = new WeakMap<Gpu, Tensor>();

/**
 * logits f32 [R, V] -> u32 [R] token ids, one per row. `step` (a decode step counter, u32) and the
 * row's stream key its RNG counter, so the same seed gives the same tokens on any batch composition
 * or order, and different rows/steps are independent. Reads nothing back.
 * rowStreams: u32 [R], the RNG stream of each row (e.g. its sequence id); default the row index.
 */
export function sample(gpu: Gpu, logits: Tensor, opts: SamplingOptions, step: number, out?: Tensor, rowStreams?: Tensor): Tensor {
  expectDtype('sample', 'logits', logits, ['f32']);
  expectRank('sample', 'logits', logits, [2]);
  const [rows, vocab] = logits.shape;
  if (vocab === 0) fail('sample', `logits has shape [${rows}x${vocab}]: rows are empty`);
  const s = resolveSampling(opts, vocab);
  if (!Number.isInteger(step) || step < 0 || step > 0xffffffff) bad('step', 'an integer in 0..2^32-1', step);
  const o = out ?? gpu.empty([rows], 'u32', 'sample.out');
  expectDtype('sample', 'out', o, ['u32']);
  expectShape('sample', 'out', o, [rows], 'R, the rows of logits [R x V]');
  expectDistinct('sample', 'logits', logits, 'out', o);
  if (rowStreams) {
    expectDtype('sample', 'rowStreams', rowStreams, ['u32']);
    expectShape('sample', 'rowStreams', rowStreams, [rows], 'R, the rows of logits [R x V]');
    expectDistinct('sample', 'rowStreams', rowStreams, 'out', o);
  }
  if (s.temperature === 0) return argmax(gpu, logits, o);

  let streams = rowStreams;
  if (!streams) {
    streams = dummyStreams.get(gpu);
    if (!streams) {
      streams = gpu.empty([1], 'u32', 'sample.noStreams');
      dummyStreams.set(gpu, streams);
    }
  }
  const [seedLo, seedHi] = seedKey(s.seed);
  const params = new Params()
    .u32(rows)
    .u32(vocab)
    .u32(s.candidates)
    .f32(s.temperature)
    .f32(s.topP)
    .f32(s.minP)
    .u32(seedLo)
    .u32(seedHi)
    .u32(step)
    .u32(rowStreams ? 1 : 0);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;

  if (s.candidates === 0) {
    gpu.dispatch({
      file: 'sample.wgsl',
      entry: 'gumbel',
      constants: { WG: rowWorkgroupSize(Math.ceil(vocab / 4)) },
      params,
      tensors: [logits, streams, o],
      workgroups: grid1d(rows, maxWg),
    });
    return o;
  }

  const cand = topk(gpu, logits, s.candidates);
  gpu.dispatch({
    file: 'sample.wgsl',
    entry: 'candidates',
    params,
    tensors: [cand.values, streams, o, cand.indices],
    workgroups: grid1d(Math.ceil(rows / 64), maxWg),
  });
  // Back to the pool now: anything that reuses these buffers is recorded (or written) after this.
  cand.values.release();
  cand.indices.release();
  return o;
}
