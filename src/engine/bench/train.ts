import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterName } from '../../gpu/device.js';
import type { Gpu } from '../../gpu/gpu.js';
import type { ModelConfig, Weights } from '../../model/config.js';
import { AdamW, type AdamWConfig } from '../../train/optimizer.js';
import { trainingMemoryFloor } from '../../train/memory-floor.js';
import { TrainableModel } from '../../train/trainable.js';
import { randomWeightsFor, writePeerModel } from './model.js';
import { matchesFilter, openPeers, type SuiteEvent } from './runner.js';
import type { TrainBenchResult, TrainPeer, TrainPeerFigure } from './types.js';

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
 *
 * With `peers` (--peers), each peer (PyTorch: CUDA on a GPU machine, else its CPU path) trains the
 * same case right after ponder: the same initial weights, the same token rows step by step, the same
 * AdamW settings (AdamW's defaults filled in where the case leaves them out) and clipping, handed over
 * as a directory under the OS temp folder (types.ts, TrainPeer) and removed afterwards. The row then
 * carries each peer's tokens/s and ponder's ratio to it, the ratio only when the peer's run counts (a
 * CPU peer on a reference BLAS or on fewer than every core does not), and the figure only when the
 * peer trained the same model: its first loss (initial weights, first batch) must be within
 * PEER_LOSS_RTOL of ponder's and its last within PEER_LAST_LOSS_RTOL, else the figure is an error
 * note.
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
  /** --peers: implementations that train the same cases (see the header) */
  peers?: TrainPeer[];
  /** the longest one peer run may take; default 10 minutes */
  peerTimeoutMs?: number;
}

/**
 * How far a peer's first loss may lie from ponder's, relative: float32 sums in another order differ
 * by ~1e-6. The bench's small random weights put any model's first loss near ln(vocab), so this
 * catches another head, vocabulary, batch or data, not subtler differences (a missing RoPE moves it
 * by ~1e-7 here): test/bench/torch-train-peer.test.ts holds the peer's model and optimizer to the
 * float64 reference and to ponder on weights where they show.
 */
export const PEER_LOSS_RTOL = 2e-5;

/**
 * How far a peer's loss after the last step may lie from ponder's, relative: the two drift apart by
 * float32 rounding (~5e-6 after the default model's 7 steps), while another learning rate or
 * optimizer ends much further off.
 */
export const PEER_LAST_LOSS_RTOL = 1e-3;

export async function* trainSuite(gpu: Gpu, cases: TrainBenchCase[], opts: TrainSuiteOptions = {}): AsyncGenerator<SuiteEvent> {
  const selected = cases.filter((c) => matchesFilter({ name: c.name, shape: trainCaseShape(c) }, opts.filter));
  const requested = opts.peers ?? [];
  const open = requested.length && selected.length ? yield* openPeers(requested) : [];
  try {
    for (const [index, c] of selected.entries()) {
      if (opts.signal?.aborted) return;
      const shape = trainCaseShape(c);
      yield { type: 'case', index, name: c.name, shape, suite: 'train' };
      // the peers' copy of the case (or why there is none)
      let peerCase: { dir?: string; error?: string } = {};
      try {
        const weights = randomWeightsFor(c.config);
        const rows = trainRows(c);
        if (open.length) {
          try {
            peerCase = { dir: writePeerCase(c, weights, rows) };
          } catch (e) {
            peerCase = { error: `cannot write the case for the peers: ${oneLine(e)}` };
          }
        }
        const result = await benchTrainCase(gpu, c, opts.signal, { weights, rows });
        if (requested.length) result.peers = await trainPeerFigures(requested, open, peerCase, c, result, opts);
        yield { type: 'result', index, result };
      } catch (e) {
        yield { type: 'error', index, name: c.name, shape, suite: 'train', message: oneLine(e) };
      } finally {
        if (peerCase.dir) rmSync(peerCase.dir, { recursive: true, force: true });
      }
    }
  } finally {
    for (const p of open) await p.close().catch(() => {});
  }
}

/**
 * The token rows a case trains on: per step (warm-up steps first), B rows of T + 1 ids drawn below
 * min(vocab, maxTokenId) by a fixed LCG; a row's inputs are its first T ids, its targets the last T
 * (next-token prediction). The same case always gives the same rows.
 */
export function trainRows(c: TrainBenchCase): number[][] {
  const vocab = Math.min(c.config.vocab_size, c.maxTokenId ?? Infinity);
  let seed = 0x2545f491;
  const nextId = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % vocab);
  return Array.from({ length: (c.warmup + c.steps) * c.batch }, () => Array.from({ length: c.seqLen + 1 }, nextId));
}

/** AdamW's settings with its defaults (src/train/optimizer.ts) filled in, as a peer must use them. */
function resolvedOptimizer(o: AdamWConfig) {
  return { lr: o.lr, beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.95, eps: o.eps ?? 1e-8, weight_decay: o.weightDecay ?? 0, grad_clip: o.gradClip ?? 0 };
}

/** The directory a TrainPeer reads (types.ts): the model as the model peers get it, and train.json. */
export function writePeerCase(c: TrainBenchCase, weights: Weights, rows: number[][]): string {
  const dir = writePeerModel(c.config, weights);
  try {
    const spec = { batch: c.batch, seq_len: c.seqLen, warmup: c.warmup, steps: c.steps, ...resolvedOptimizer(c.optimizer), rows };
    writeFileSync(join(dir, 'train.json'), JSON.stringify(spec));
    return dir;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Each requested peer's figure on one case: not available, the case could not be written, the run
 * failed, its first or last loss differs from ponder's, or its tokens/s (with ponder's ratio to it
 * when the run counts, else the reason it does not).
 */
async function trainPeerFigures(requested: TrainPeer[], open: TrainPeer[], peerCase: { dir?: string; error?: string }, c: TrainBenchCase, ours: TrainBenchResult, opts: TrainSuiteOptions): Promise<TrainPeerFigure[]> {
  const out: TrainPeerFigure[] = [];
  for (const p of requested) {
    const none = { peer: p.name, tokens_per_s: null, ratio: null };
    if (!open.includes(p)) out.push({ ...none, note: 'not available' });
    else if (!peerCase.dir) out.push({ ...none, note: peerCase.error ?? 'no case for the peers' });
    else {
      try {
        if (opts.signal?.aborted) throw new Error('interrupted');
        const run = await p.timeTrain(peerCase.dir, opts.peerTimeoutMs ?? 600_000);
        const theirs = run.losses[0]!;
        const first = ours.first_loss!;
        const last = run.losses[run.losses.length - 1]!;
        const fig = { peer: p.name, backend: run.backend, first_loss: theirs, loss: last };
        if (!(Math.abs(theirs - first) <= PEER_LOSS_RTOL * Math.abs(first))) {
          out.push({ ...fig, tokens_per_s: null, ratio: null, note: `its first loss ${theirs} differs from ponder's ${first}` });
          continue;
        }
        if (run.losses.length !== c.warmup + c.steps || !(Math.abs(last - ours.loss) <= PEER_LAST_LOSS_RTOL * Math.abs(ours.loss))) {
          out.push({ ...fig, tokens_per_s: null, ratio: null, note: `its loss after ${run.losses.length} steps ${last} differs from ponder's ${ours.loss}` });
          continue;
        }
        const tps = (ours.batch * ours.seq_len * run.stepMs.length) / (run.totalMs / 1000);
        out.push({ ...fig, tokens_per_s: tps, ratio: run.counts ? ours.tokens_per_s / tps : null, ...(run.counts ? {} : { note: `does not count: ${run.why}` }) });
      } catch (e) {
        out.push({ ...none, note: oneLine(e) });
      }
    }
  }
  return out;
}

/**
 * Runs one case (see the header comment). `given` are its weights (consumed: the map is cleared once
 * they are on the GPU) and rows when the caller made them. Throws when a loss is not finite.
 */
export async function benchTrainCase(gpu: Gpu, c: TrainBenchCase, signal?: AbortSignal, given: { weights?: Weights; rows?: number[][] } = {}): Promise<TrainBenchResult> {
  const { batch: B, seqLen: T } = c;
  gpu.pool.trim();
  const liveAtStart = gpu.pool.bytesLive;
  gpu.pool.bytesPeak = liveAtStart;
  const weights = given.weights ?? randomWeightsFor(c.config);
  const rows = given.rows ?? trainRows(c);
  let params = 0;
  for (const t of weights.values()) params += t.data.length;
  let model: TrainableModel | undefined;
  let opt: AdamW | undefined;
  try {
    model = TrainableModel.create(gpu, c.config, weights);
    weights.clear();
    opt = new AdamW(gpu, model.params(), c.optimizer);
    const times: number[] = [];
    let dispatches = 0;
    let submits = 0;
    let loss = NaN;
    let firstLoss = NaN;
    for (let s = 0; s < c.warmup + c.steps; s++) {
      if (signal?.aborted) throw new Error('interrupted');
      // a row of T + 1 tokens: inputs are the first T, targets the last T (next-token prediction)
      const inputs: number[] = [];
      const targets: number[] = [];
      for (const row of rows.slice(s * B, (s + 1) * B)) {
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
      if (s === 0) firstLoss = loss;
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
      first_loss: firstLoss,
    };
  } finally {
    opt?.dispose();
    model?.dispose();
    gpu.pool.trim();
  }
}

function oneLine(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}
