import type { Gpu } from '../../gpu/gpu.js';

/**
 * One kernel benchmark: an op at one shape. `setup` allocates inputs once; `run` records one
 * invocation of the op (no sync — the runner batches and times). `flops` and `bytes` are per
 * invocation: bytes is the minimum traffic (each input read once, each output written once), which
 * is what GB/s and the roofline column are computed from.
 */
export interface KernelBenchCase {
  /** kernel family, e.g. "matmul", "attention.decode", "rmsnorm" */
  name: string;
  /** e.g. "1024x1024x1024" (M×N×K for matmul); free-form but stable across runs for --compare */
  shape: string;
  flops: number;
  bytes: number;
  setup(gpu: Gpu): KernelBenchInstance;
}

export interface KernelBenchInstance {
  run(): void;
  dispose(): void;
}

/** One measured row, as printed by `ponder bench kernels` and emitted as JSON. */
export interface KernelBenchResult {
  suite?: 'kernels';
  name: string;
  shape: string;
  ms_median: number;
  ms_p10: number;
  ms_p90: number;
  gflops: number;
  gbps: number;
  samples: number;
  adapter: string;
  /**
   * Percent of the roofline ceiling that applies (see ceilings.ts): max(gflops / peak_gflops,
   * gbps / peak_gbps) × 100. Present when the run measured ceilings; null when neither is known.
   */
  pct_of_peak?: number | null;
  /** with --peers, on matmul cases: each peer's figure for the same shape */
  peers?: PeerFigure[];
}

/**
 * The suites of `ponder bench`: kernels (one op at one shape), model (prefill and decode tokens/s of
 * whole models on random weights) and train (optimizer steps of the real training path). Every row
 * carries `name`, `shape` and `ms_median` (the time of the unit it measures: one kernel invocation,
 * one prefill, one decode step, one optimizer step), so --save/--compare treat all suites alike.
 */
export const BENCH_SUITES = ['kernels', 'model', 'train'] as const;
export type BenchSuite = (typeof BENCH_SUITES)[number];

/** A kernel row's figure for one peer library on the same matmul (see --peers). */
export interface PeerFigure {
  peer: string;
  /** the peer's GFLOP/s; null when it could not run this shape */
  gflops: number | null;
  /** ponder's GFLOP/s ÷ the peer's: > 1 means ponder is faster */
  ratio: number | null;
  /** why there is no figure, when there is none */
  note?: string;
}

/** A matmul a peer library can run: C[M,N] = A[M,K]·B (B stored [K,N], or [N,K] with transB). */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  transB: boolean;
}

/**
 * Another library that times the same matmul in the same run (numpy's BLAS, tfjs's WebGPU backend).
 * `open` throws (any error; its first line is shown) when the peer is not available here.
 */
export interface MatmulPeer {
  name: string;
  /** Checks the peer is usable; returns a one-line description (version, backend). */
  open(): Promise<string>;
  /** Median ms of one matmul at this shape, timed within about `budgetMs`. */
  timeMatmul(shape: MatmulShape, budgetMs: number): Promise<number>;
  close(): Promise<void>;
}

/** One `ponder bench model` row: a prefill (pp) or decode (tg) test of one model shape at one batch size. */
export interface ModelBenchResult {
  suite: 'model';
  /** the model shape, e.g. "qwen2.5-0.5b-shape" */
  name: string;
  /** test and batch, e.g. "pp64 B1" (prefill 64 tokens) or "tg2 B32" (2 decode steps of 32 sequences) */
  shape: string;
  test: 'pp' | 'tg';
  batch: number;
  /** ms of the whole prefill (pp) or of one decode step (tg, median) */
  ms_median: number;
  /** tokens per second over all sequences of the batch */
  tokens_per_s: number;
  params: number;
  weight_bytes: number;
  /** decode only: batch × copy bandwidth ÷ weight bytes (each step reads every weight once) */
  roofline_tokens_per_s: number | null;
  pct_of_roofline: number | null;
  copy_gbps: number;
  adapter: string;
  /** MTP drafting rows: the modules drafting, and accepted ÷ drafted drafts */
  mtp?: number;
  acceptance?: number;
  /** MTP drafting rows: plain greedy decoding's tokens/s in passes alternating with the drafting ones */
  plain_tokens_per_s?: number;
  /** with --peers, on batch-1 prefill and plain decode rows: each peer's figure for the same model and prompt */
  peers?: ModelPeerFigure[];
  /** batched-sampling rows ("tg… PxK sampled", batch = P prompts): completions per prompt */
  samples?: number;
  /** batched-sampling rows: completions per second of one sampleBatch call */
  completions_per_s?: number;
  /** batched-sampling rows: completions per second made one at a time by generate */
  sequential_completions_per_s?: number;
  /**
   * batched-sampling rows: completions_per_s ÷ sequential_completions_per_s; MTP drafting rows: the
   * median of the alternating passes' drafting ÷ plain tokens/s
   */
  speedup?: number;
  /**
   * Plain decode rows: GPU compute dispatches and queue submits of one decode step (one forward of
   * the batch's new tokens, the wait for it included), counted by Gpu.dispatchCount / submitCount.
   */
  dispatches_per_step?: number;
  submits_per_step?: number;
}

/** A model row's figure for one peer (see --peers): the same test of the same weights and prompt. */
export interface ModelPeerFigure {
  peer: string;
  /** the peer's tokens/s on this test; null when it could not run it or did not decode what ponder does */
  tokens_per_s: number | null;
  /** ponder's tokens/s ÷ the peer's: > 1 means ponder is faster */
  ratio: number | null;
  /** why there is no figure, when there is none */
  note?: string;
}

/** What a model peer measured on one model: a prefill of the prompt, then greedy decode steps. */
export interface ModelPeerRun {
  /** the prefill of the whole prompt, its last-position logits read back as its first token */
  prefillMs: number;
  /** per decode step (one token in, its greedy successor read back to the CPU) */
  decodeMsMedian: number;
  decodeMsTotal: number;
  /** timed decode steps */
  steps: number;
  /** the greedy tokens: the prefill's, then one per step (steps + 1 in all) */
  tokens: number[];
  /** the prefill's last-position logits, when asked for */
  logits?: number[];
}

/**
 * Another implementation that runs the same model's prefill and decode in the same run (PyTorch: CUDA
 * on a GPU machine, else its CPU path). It reads the model from an HF-style directory (config.json and
 * an F32 model.safetensors) that the model suite writes. `open` throws (any error; its first line is
 * shown) when the peer is not available here.
 */
export interface ModelPeer {
  name: string;
  /** Checks the peer is usable; returns a one-line description (version, backend). */
  open(): Promise<string>;
  /**
   * Prefills `prompt` and greedy-decodes `decodeTokens` steps after it, timed; fails (one line) when
   * it cannot within `timeoutMs`. With `logits`, the run also returns the prefill's last logits.
   */
  timeDecode(dir: string, prompt: number[], decodeTokens: number, timeoutMs: number, opts?: { logits?: boolean }): Promise<ModelPeerRun>;
  close(): Promise<void>;
}

/** One `ponder bench train` row: optimizer steps of one recipe stage or bench config. */
export interface TrainBenchResult {
  suite: 'train';
  /** recipe name or bench config, e.g. "tiny-arithmetic-sft" */
  name: string;
  /** stage and batch shape, e.g. "sft B16 T48" */
  shape: string;
  batch: number;
  seq_len: number;
  params: number;
  /** timed steps (warm-up steps excluded) */
  steps: number;
  /** median ms of one optimizer step (forward, backward, AdamW, loss readback) */
  ms_median: number;
  ms_p10: number;
  ms_p90: number;
  /** B·T tokens per step ÷ mean step time */
  tokens_per_s: number;
  /** pool peak bytes during the case, above what was live when it started */
  peak_bytes: number;
  /** src/train/memory-floor.ts: weights + grads + AdamW moments + planned activations + rope tables */
  floor_bytes: number;
  peak_over_floor: number;
  /** last step's mean loss (finite, or the case fails) */
  loss: number;
  /**
   * GPU compute dispatches and queue submits of one timed step (zeroGrads to the readbacks), the mean
   * over the timed steps (absent in rows saved before they were counted)
   */
  dispatches_per_step?: number;
  submits_per_step?: number;
  adapter: string;
  /** the first (warm-up) step's mean loss: the initial weights' loss, which a peer's must equal */
  first_loss?: number;
  /** with --peers: each training peer's figure for the same model, batches and optimizer */
  peers?: TrainPeerFigure[];
}

/** A train row's figure for one peer (see --peers). */
export interface TrainPeerFigure {
  peer: string;
  /** the peer's tokens/s; null when it could not run the case or did not train the same model */
  tokens_per_s: number | null;
  /** ponder's tokens/s ÷ the peer's (> 1: ponder is faster); null also when the figure does not count */
  ratio: number | null;
  /** where the peer ran: library version, device, BLAS and threads */
  backend?: string;
  /** the peer's first-step loss (the initial weights' loss on the same first batch) */
  first_loss?: number;
  /** the peer's last step's loss, beside the row's `loss` (equal up to float32 drift when it trains alike) */
  loss?: number;
  /** why there is no figure or no ratio, when there is none */
  note?: string;
}

/** What a training peer measured on one case (see TrainPeer). */
export interface TrainPeerRun {
  /** every step's mean loss, warm-up steps included: [0] is the initial weights' */
  losses: number[];
  /** the timed steps' ms, and their median and total */
  stepMs: number[];
  msMedian: number;
  totalMs: number;
  /** where it ran, in words (version, device, BLAS, threads) */
  backend: string;
  /** false when the run is not a fair comparison (a CPU peer on a reference BLAS, or not on every core) */
  counts: boolean;
  /** why it does not count */
  why?: string;
}

/**
 * Another implementation that trains the same model in the same run (PyTorch: CUDA on a GPU machine,
 * else its CPU path). The train suite hands it a directory holding:
 *   config.json, model.safetensors  the initial weights, F32, HF names (the trunk: no MTP modules)
 *   train.json  { batch, seq_len, warmup, steps, lr, beta1, beta2, eps, weight_decay, grad_clip,
 *                 rows: (warmup + steps)·batch token rows of seq_len + 1 ids, step by step }
 * Each step trains on its batch rows (inputs the first seq_len ids, targets the last seq_len): mean
 * cross-entropy, backward, global grad-norm clipping at grad_clip (0: none), AdamW (decoupled decay on
 * all but `*norm.weight` and `*.bias`). The warm-up steps are not timed. `open` throws (any error; its
 * first line is shown) when the peer is not available here.
 */
export interface TrainPeer {
  name: string;
  /** Checks the peer is usable; returns a one-line description (version, device, BLAS, threads). */
  open(): Promise<string>;
  /** Trains the case in `dir` (see above); fails (one line) when it cannot within `timeoutMs`. */
  timeTrain(dir: string, timeoutMs: number): Promise<TrainPeerRun>;
  close(): Promise<void>;
}

export type BenchResult = KernelBenchResult | ModelBenchResult | TrainBenchResult;

/** The suite of a row; rows without one (saved by older versions) are kernel rows. */
export function suiteOf(r: { suite?: string }): BenchSuite {
  return r.suite === 'model' || r.suite === 'train' ? r.suite : 'kernels';
}

/**
 * The matmul a kernel case measures, read from its name and shape by the contract of
 * bench/kernels/matmul.ts: "matmul" is A·B and "matmul.ABt" is A·Bᵀ, shape "MxNxK". Other cases
 * (attention, norms, ...) have no peer figure: undefined.
 */
export function matmulShapeOf(c: { name: string; shape: string }): MatmulShape | undefined {
  if (c.name !== 'matmul' && c.name !== 'matmul.ABt') return undefined;
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(c.shape);
  if (!m) return undefined;
  return { M: Number(m[1]), N: Number(m[2]), K: Number(m[3]), transB: c.name === 'matmul.ABt' };
}
