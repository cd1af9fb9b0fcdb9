import { adapterName } from '../../gpu/device.js';
import type { Gpu } from '../../gpu/gpu.js';
import type { ModelConfig } from '../../model/config.js';
import { AdamW, type AdamWConfig } from '../../train/optimizer.js';
import { trainingMemoryFloor } from '../../train/memory-floor.js';
import { TrainableModel } from '../../train/trainable.js';
import { randomWeightsFor } from './model.js';
import { matchesFilter, type SuiteEvent } from './runner.js';
import type { TrainBenchResult } from './types.js';

/**
 * `ponder bench train`: optimizer steps of the real training path (what the tuner does per step,
 * without data loading, evals or checkpoints) on random weights and random byte-range tokens:
 *
 *   per step  zeroGrads → TrainableModel.step(B rows of T tokens, gradScale 1/(B·T)) → AdamW.step →
 *             read back the loss and AdamW's (norm, skipped) pair, as the tuner does every step.
 *
 * `warmup` steps (pipeline compilation, first-touch of buffers) are run and not timed. Reported: the
 * median step ms, tokens/s = B·T·steps ÷ the timed steps' total, and GPU memory: the buffer pool's
 * peak during the case above what was live when it began (the pool is trimmed and its peak reset at
 * the start), against the floor of src/train/memory-floor.ts. peak/floor ≥ 1; what is above 1 is the
 * pool's size-class rounding and the ops' short-lived scratch. Dispatches and submits per step are
 * the Gpu's counters over the timed steps: what per-dispatch and per-submit overhead a step pays.
 */
export interface TrainBenchCase {
  /** recipe name or bench config name */
  name: string;
  /** stage name (recipes) or "bench" */
  stage: string;
  config: ModelConfig;
  batch: number;
  seqLen: number;
  /** timed optimizer steps */
  steps: number;
  /** untimed steps before them */
  warmup: number;
  optimizer: AdamWConfig;
  /** the token ids drawn are < min(vocab, this) (byte models train on bytes) */
  maxTokenId?: number;
}

export function trainCaseShape(c: Pick<TrainBenchCase, 'stage' | 'batch' | 'seqLen'>): string {
  return `${c.stage} B${c.batch} T${c.seqLen}`;
}

export interface TrainSuiteOptions {
  filter?: string;
  signal?: AbortSignal;
}

export async function* trainSuite(gpu: Gpu, cases: TrainBenchCase[], opts: TrainSuiteOptions = {}): AsyncGenerator<SuiteEvent> {
  const selected = cases.filter((c) => matchesFilter({ name: c.name, shape: trainCaseShape(c) }, opts.filter));
  for (const [index, c] of selected.entries()) {
    if (opts.signal?.aborted) return;
    const shape = trainCaseShape(c);
    yield { type: 'case', index, name: c.name, shape, suite: 'train' };
    try {
      yield { type: 'result', index, result: await benchTrainCase(gpu, c, opts.signal) };
    } catch (e) {
      yield { type: 'error', index, name: c.name, shape, suite: 'train', message: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
    }
  }
}

/** Runs one case (see the header comment). Throws when a loss is not finite. */
export async function benchTrainCase(gpu: Gpu, c: TrainBenchCase, signal?: AbortSignal): Promise<TrainBenchResult> {
  const { batch: B, seqLen: T } = c;
  gpu.pool.trim();
  const liveAtStart = gpu.pool.bytesLive;
  gpu.pool.bytesPeak = liveAtStart;
  const weights = randomWeightsFor(c.config);
  let params = 0;
  for (const t of weights.values()) params += t.data.length;
  let model: TrainableModel | undefined;
  let opt: AdamW | undefined;
  try {
    model = TrainableModel.create(gpu, c.config, weights);
    weights.clear();
    opt = new AdamW(gpu, model.params(), c.optimizer);
    const vocab = Math.min(c.config.vocab_size, c.maxTokenId ?? Infinity);
    let seed = 0x2545f491;
    const nextId = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % vocab);
    const times: number[] = [];
    let dispatches = 0;
    let submits = 0;
    let loss = NaN;
    for (let s = 0; s < c.warmup + c.steps; s++) {
      if (signal?.aborted) throw new Error('interrupted');
      // a row of T + 1 tokens: inputs are the first T, targets the last T (next-token prediction)
      const inputs: number[] = [];
      const targets: number[] = [];
      for (let b = 0; b < B; b++) {
        const row = Array.from({ length: T + 1 }, nextId);
        inputs.push(...row.slice(0, T));
        targets.push(...row.slice(1));
      }
      const t0 = performance.now();
      const d0 = gpu.dispatchCount;
      const s0 = gpu.submitCount;
      model.zeroGrads();
      const lossT = model.step(inputs, targets, B, T, { gradScale: 1 / (B * T) });
      const result = opt.step(c.optimizer.lr);
      loss = (await gpu.readF32(lossT))[0]! / (B * T);
      await gpu.readF32(result);
      lossT.release();
      result.release();
      if (s >= c.warmup) {
        times.push(performance.now() - t0);
        dispatches += gpu.dispatchCount - d0;
        submits += gpu.submitCount - s0;
      }
      if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${s + 1}`);
    }
    const floor = trainingMemoryFloor(c.config, B, T, { maxBindingBytes: gpu.limits.maxStorageBufferBindingSize });
    const peak = gpu.pool.bytesPeak - liveAtStart;
    const sorted = [...times].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))]!;
    const total = times.reduce((a, b) => a + b, 0);
    return {
      suite: 'train',
      name: c.name,
      shape: trainCaseShape(c),
      batch: B,
      seq_len: T,
      params,
      steps: c.steps,
      ms_median: sorted.length % 2 ? sorted[sorted.length >> 1]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2,
      ms_p10: q(0.1),
      ms_p90: q(0.9),
      tokens_per_s: (B * T * c.steps) / (total / 1000),
      peak_bytes: peak,
      floor_bytes: floor.total,
      peak_over_floor: peak / floor.total,
      loss,
      dispatches_per_step: dispatches / c.steps,
      submits_per_step: submits / c.steps,
      adapter: adapterName(gpu.info),
    };
  } finally {
    opt?.dispose();
    model?.dispose();
    gpu.pool.trim();
  }
}
