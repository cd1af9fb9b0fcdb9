import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adapterName } from '../../gpu/device.js';
import type { Gpu } from '../../gpu/gpu.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { ModelConfig, Weights } from '../../model/config.js';
import { encodePrompt } from '../../data/prompt.js';
import { loadAnyModel, resolveModel } from '../../io/resolve-model.js';
import { writeSafetensors } from '../../io/safetensors.js';
import { configToJson, expectedWeights, isMtpWeight, withoutMtp } from '../../model/config.js';
import { argmax } from '../../ops/argmax.js';
import { ByteTokenizer } from '../../data/byte-tokenizer.js';
import type { Tokenizer } from '../../data/tokenizer.js';
import { generate } from '../generate.js';
import { sampleBatch } from '../sample-batch.js';
import { SpeculativeDecoder } from '../speculative.js';
import type { KvCache } from '../../model/kv-cache.js';
import { Transformer } from '../../model/transformer.js';
import { measureCopyBandwidth } from './bandwidth.js';
import { matchesFilter, openPeers, type SuiteEvent } from './runner.js';
import type { ModelBenchResult, ModelPeer, ModelPeerFigure, ModelPeerRun } from './types.js';

/** Timed decode passes per tg case (see below). */
const DECODE_PASSES = 3;
/** Drafting and plain passes, alternating, per MTP drafting case: their ratio moves more than either. */
const DRAFTING_PAIRS = 5;

/**
 * llama-bench-style model benchmark on random weights of a given shape. Per model shape and batch
 * size B, B sequences share one KV cache (slot b = sequence b):
 *
 *   pp  prefill: one forward of B sequences × P prompt tokens (B·P rows through every matmul), timed
 *       from record to the last-position logits read back; tokens/s = B·P ÷ that time.
 *   tg  decode: after the prefill, N greedy steps of one new token for each of the B sequences (a
 *       forward of B rows, each sequence attending to its own slot from its own length, then the
 *       argmax of each row read back and fed to the next step, as a decode loop must; the MTP rows
 *       read their tokens back the same way). ms = the median step; tokens/s = B·N ÷ the time of the
 *       N steps, the median of DECODE_PASSES passes (one pass of a small model is a few hundred ms,
 *       and on a shared CPU one slow moment moves it by tens of percent).
 *
 * Decode is held against its memory roofline: a step reads every weight byte once whatever B is, so
 * the best possible rate is B × copy bandwidth ÷ weight bytes (the KV-cache reads, small at these
 * lengths, are left out). A warm-up prefill of 2 tokens and one decode step per batch size compile
 * the pipelines before anything is timed; copy bandwidth is measured once per suite.
 *
 *   tg … mtpK  decode of one sequence with self-speculative decoding (src/engine/speculative.ts): the
 *       model's first K MTP modules draft, the trunk verifies, until N new tokens exist. ms = the
 *       median round (drafts + one verifying trunk pass); tokens/s = N ÷ the total time (the median
 *       of DRAFTING_PAIRS passes, each with its own prefill, untimed); `acceptance`
 *       = accepted ÷ drafted. Each drafting pass is followed by a plain greedy decode pass of the
 *       same length (as the tg row decodes), so the two ways alternate: `plain_tokens_per_s` is the
 *       median plain pass and `speedup` the median of the passes' drafting ÷ plain ratios (a slow
 *       moment of a shared CPU then touches both sides of a ratio, not one). Drafting pays when a
 *       round's tokens (1 + accepted drafts) outweigh its cost over a plain step. Random weights draft
 *       almost nothing right, so on them the row measures the drafting overhead (acceptance ~0); a
 *       model whose MTP modules were trained with its trunk is what shows the gain.
 *
 *   tg … PxK sampled  batched sampling (src/engine/sample-batch.ts): P prompts × K completions of N
 *       tokens each (temperature 1, no stop ids: every completion runs its full budget) made by one
 *       sampleBatch call, against the same P·K completions made one at a time by `generate` in a
 *       loop. ms = the whole sampleBatch call; tokens/s = its P·K·N tokens ÷ that time; the roofline
 *       is that of a P·K-row decode step; `completions_per_s` both ways and `speedup` (batched ÷ one
 *       at a time). Each way is warmed up untimed first (2 tokens).
 *
 * Weight bytes (and the roofline) count the trunk: plain decoding never reads the MTP modules.
 *
 * A case may name real weights instead (`model`, a --model spec such as the bundled `default`, and a
 * chat `prompt`): then the prompt is the encoded chat message, and MTP rows show the acceptance the
 * model's trained modules reach on its own greedy continuation of it.
 *
 * With `peers` (--peers), each peer (PyTorch: CUDA on a GPU machine, else its CPU path) runs the same
 * model on the same prompt: the shape's weights (the random ones ponder uses, or the real model's
 * trunk) are written once as an HF-style F32 directory under the OS temp folder, removed afterwards,
 * and the peer prefills the batch-1 prompt and greedy-decodes as many steps as the tg case. The batch-1
 * pp and plain tg rows then carry each peer's tokens/s and ponder's ratio to it. A figure is shown only
 * when the peer computed the same model: its first PEER_CHECK_TOKENS greedy tokens must equal
 * ponder's own greedy decode of that prompt, else the figure is an error note (a peer that decodes
 * something else fast proves nothing).
 */
export interface ModelBenchCase {
  /** model shape, e.g. "qwen2.5-0.5b-shape" */
  name: string;
  config: ModelConfig;
  test: 'pp' | 'tg';
  batch: number;
  /** prompt tokens per sequence */
  promptTokens: number;
  /** decode steps (tg) */
  decodeTokens: number;
  /** tg only: draft with this many MTP modules (self-speculative decoding, batch 1) */
  mtp?: number;
  /** tg only: batched sampling of `batch` prompts × `samples` completions each (see the header) */
  samples?: number;
  /** real weights: a --model spec (e.g. "default"); `config` must be its config */
  model?: string;
  /** with `model`: the chat message whose encoding is the prompt (its length replaces promptTokens) */
  prompt?: string;
}

/** "pp64 B1", "tg2 B32": what is measured and at which batch size (stable across runs for --compare). */
export function modelCaseShape(c: Pick<ModelBenchCase, 'test' | 'batch' | 'promptTokens' | 'decodeTokens' | 'mtp' | 'samples'>): string {
  if (c.samples) return `tg${c.decodeTokens} ${c.batch}x${c.samples} sampled`;
  return `${c.test}${c.test === 'pp' ? c.promptTokens : c.decodeTokens} B${c.batch}${c.mtp ? ` mtp${c.mtp}` : ''}`;
}

/** Deterministic pseudo-random weights (small values keep activations tame). */
export function randomWeightsFor(config: ModelConfig): Weights {
  const w: Weights = new Map();
  let s = 12345;
  for (const [name, shape] of expectedWeights(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNorm = name.endsWith('norm.weight');
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = isNorm ? 1 : ((s / 4294967296) - 0.5) * 0.04;
    }
    w.set(name, { shape, data });
  }
  return w;
}

export interface ModelSuiteOptions {
  filter?: string;
  signal?: AbortSignal;
  /** --peers: implementations that run the same model's batch-1 prefill and decode (see the header) */
  peers?: ModelPeer[];
  /** the longest one peer run (load, prefill, decode) may take; default 10 minutes */
  peerTimeoutMs?: number;
}

/** Greedy tokens a peer must agree on with ponder before its figure counts. */
export const PEER_CHECK_TOKENS = 4;

/** The rows a peer is timed beside: batch-1 prefill and plain (not drafting) decode. */
const peerRow = (c: ModelBenchCase) => c.batch === 1 && !c.mtp;

/**
 * The selected model cases, grouped so each model shape is built once and each (shape, batch) runs one
 * prefill that its decode case continues from. Yields case/result/error events in case order.
 */
export async function* modelSuite(gpu: Gpu, cases: ModelBenchCase[], opts: ModelSuiteOptions = {}): AsyncGenerator<SuiteEvent> {
  const selected = cases.filter((c) => matchesFilter({ name: c.name, shape: modelCaseShape(c) }, opts.filter));
  const adapter = adapterName(gpu.info);
  const requested = opts.peers ?? [];
  const open = requested.length && selected.some(peerRow) ? yield* openPeers(requested) : [];
  try {
    yield* runModels(gpu, selected, adapter, requested, open, opts);
  } finally {
    for (const p of open) await p.close().catch(() => {});
  }
}

async function* runModels(gpu: Gpu, selected: ModelBenchCase[], adapter: string, requested: ModelPeer[], open: ModelPeer[], opts: ModelSuiteOptions): AsyncGenerator<SuiteEvent> {
  let copyGbps: number | undefined;
  let index = 0;
  for (const name of [...new Set(selected.map((c) => c.name))]) {
    const ofModel = selected.filter((c) => c.name === name);
    if (opts.signal?.aborted) return;
    let model: Transformer | undefined;
    let params = 0;
    let prompt: number[] | undefined;
    // the peers' copy of the weights (or why there is none)
    let peerModel: { dir?: string; error?: string } = {};
    try {
      const first = ofModel[0]!;
      let weights: Weights;
      let config: ModelConfig;
      if (first.model) {
        const { config: c, weights: w, tokenizer } = await loadAnyModel(resolveModel(first.model).dir);
        prompt = encodePrompt(tokenizer, first.prompt ?? 'Hello', { chat: true });
        model = Transformer.load(gpu, c, w);
        weights = w;
        config = c;
      } else {
        weights = randomWeightsFor(first.config);
        model = Transformer.load(gpu, first.config, weights);
        config = first.config;
      }
      for (const [n, t] of weights) if (!isMtpWeight(n)) params += t.data.length;
      copyGbps ??= await measureCopyBandwidth(gpu);
      if (open.length && ofModel.some(peerRow)) {
        try {
          peerModel = { dir: writePeerModel(config, weights) };
        } catch (e) {
          peerModel = { error: `cannot write the model for the peers: ${oneLine(e)}` };
        }
      }
      weights.clear();
    } catch (e) {
      // the model cannot be built here: every case of it fails with the same line
      for (const c of ofModel) {
        yield { type: 'case', index, name: c.name, shape: modelCaseShape(c), suite: 'model' };
        yield { type: 'error', index: index++, name: c.name, shape: modelCaseShape(c), suite: 'model', message: oneLine(e) };
      }
      model?.dispose();
      if (peerModel.dir) rmSync(peerModel.dir, { recursive: true, force: true });
      continue;
    }
    // per model shape: each peer's run (or why it has none), made at the first batch-1 row that shows it
    let peerRuns: Map<ModelPeer, { run?: ModelPeerRun; note?: string }> | undefined;
    try {
      for (const batch of [...new Set(ofModel.map((c) => c.batch))]) {
        const pp = ofModel.find((c) => c.batch === batch && c.test === 'pp');
        const tg = ofModel.find((c) => c.batch === batch && c.test === 'tg' && !c.mtp && !c.samples);
        const drafting = ofModel.filter((c) => c.batch === batch && c.test === 'tg' && c.mtp);
        const sampled = ofModel.filter((c) => c.batch === batch && c.samples);
        // a real-weights case decodes after its encoded chat prompt (plain decode times the same length)
        const promptTokens = prompt?.length ?? (pp ?? tg ?? drafting[0] ?? sampled[0])!.promptTokens;
        const gbps = copyGbps!;
        const base = { name, batch, params, weight_bytes: params * 4, copy_gbps: gbps, adapter };
        let cache: { cache: KvCache; prefillMs: number } | undefined;
        /** the peers' figures for a batch-1 pp/tg row whose ponder tokens/s is `tps` (undefined without peers) */
        const peerFigures = async (c: ModelBenchCase, tps: number): Promise<ModelPeerFigure[] | undefined> => {
          if (!requested.length || !peerRow(c)) return undefined;
          // random weights: sequence 0's prompt in prefilled(), the one ponder's batch-1 rows time
          const peerPrompt = prompt ?? syntheticPrompt(promptTokens, model.config.vocab_size);
          const steps = Math.max(tg?.decodeTokens ?? 0, PEER_CHECK_TOKENS - 1);
          peerRuns ??= await runPeers(gpu, model, requested, open, peerModel, peerPrompt, steps, opts.peerTimeoutMs ?? 600_000);
          return requested.map((p): ModelPeerFigure => {
            const { run, note } = peerRuns!.get(p)!;
            if (!run) return { peer: p.name, tokens_per_s: null, ratio: null, note };
            const peerTps = c.test === 'pp' ? peerPrompt.length / (run.prefillMs / 1000) : run.steps / (run.decodeMsTotal / 1000);
            return { peer: p.name, tokens_per_s: peerTps, ratio: tps / peerTps };
          });
        };
        try {
          for (const c of [pp, tg]) {
            if (!c || opts.signal?.aborted) continue;
            const shape = modelCaseShape(c);
            yield { type: 'case', index, name, shape, suite: 'model' };
            try {
              cache ??= await prefilled(gpu, model, batch, promptTokens, tg?.decodeTokens ?? 0, c.test === 'pp');
              if (c.test === 'pp') {
                const ms = cache.prefillMs;
                const tps = (batch * promptTokens) / (ms / 1000);
                const peers = await peerFigures(c, tps);
                const result: ModelBenchResult = { suite: 'model', ...base, shape, test: 'pp', ms_median: ms, tokens_per_s: tps, roofline_tokens_per_s: null, pct_of_roofline: null, ...(peers ? { peers } : {}) };
                yield { type: 'result', index: index++, result };
              } else {
                const passes: Awaited<ReturnType<typeof decodeSteps>>[] = [];
                for (let i = 0; i < DECODE_PASSES; i++) passes.push(await decodeSteps(gpu, model, cache.cache, batch, promptTokens, c.decodeTokens));
                const steps = passes.flatMap((p) => p.times);
                const { dispatches, submits } = passes[0]!;
                const tps = median(passes.map((p) => (batch * c.decodeTokens) / (p.times.reduce((a, b) => a + b, 0) / 1000)));
                const roofline = (batch * gbps * 1e9) / (params * 4);
                const peers = await peerFigures(c, tps);
                const result: ModelBenchResult = { suite: 'model', ...base, shape, test: 'tg', ms_median: median(steps), tokens_per_s: tps, roofline_tokens_per_s: roofline, pct_of_roofline: (100 * tps) / roofline, dispatches_per_step: dispatches, submits_per_step: submits, ...(peers ? { peers } : {}) };
                yield { type: 'result', index: index++, result };
              }
            } catch (e) {
              yield { type: 'error', index: index++, name, shape, suite: 'model', message: oneLine(e) };
            }
          }
        } finally {
          cache?.cache.dispose();
        }
        for (const c of drafting) {
          if (opts.signal?.aborted) break;
          const shape = modelCaseShape(c);
          yield { type: 'case', index, name, shape, suite: 'model' };
          try {
            if (batch !== 1) throw new Error('MTP drafting decodes one sequence: use batch 1');
            const draftPrompt = prompt ?? syntheticPrompt(c.promptTokens, model.config.vocab_size);
            const runs: Awaited<ReturnType<typeof speculativeRun>>[] = [];
            const plainTps: number[] = [];
            // plain passes from a prompt of the same length, alternating with the drafting ones (header)
            const plainCache = await prefilled(gpu, model, 1, draftPrompt.length, c.decodeTokens, false);
            try {
              for (let i = 0; i < DRAFTING_PAIRS; i++) {
                runs.push(await speculativeRun(gpu, model, draftPrompt, c.decodeTokens, c.mtp!));
                // one token fewer: a drafting pass times the tokens after the prefill's first
                const { times } = await decodeSteps(gpu, model, plainCache.cache, 1, draftPrompt.length, Math.max(1, c.decodeTokens - 1));
                plainTps.push(times.length / (times.reduce((a, b) => a + b, 0) / 1000));
              }
            } finally {
              plainCache.cache.dispose();
            }
            const tps = median(runs.map((r) => r.tokensPerS));
            const roofline = (gbps * 1e9) / (params * 4);
            const result: ModelBenchResult = {
              suite: 'model', ...base, shape, test: 'tg', ms_median: median(runs.flatMap((r) => r.roundMs)), tokens_per_s: tps, roofline_tokens_per_s: roofline, pct_of_roofline: (100 * tps) / roofline,
              mtp: c.mtp, acceptance: runs[0]!.acceptance, plain_tokens_per_s: median(plainTps), speedup: median(runs.map((r, i) => r.tokensPerS / plainTps[i]!)),
            };
            yield { type: 'result', index: index++, result };
          } catch (e) {
            yield { type: 'error', index: index++, name, shape, suite: 'model', message: oneLine(e) };
          }
        }
        for (const c of sampled) {
          if (opts.signal?.aborted) break;
          const shape = modelCaseShape(c);
          yield { type: 'case', index, name, shape, suite: 'model' };
          try {
            const V = model.config.vocab_size;
            const prompts = Array.from({ length: batch }, (_, p) => prompt ?? syntheticPrompt(c.promptTokens, V, p));
            const run = await batchedSamplingRun(gpu, model, prompts, c.samples!, c.decodeTokens);
            const roofline = (batch * c.samples! * gbps * 1e9) / (params * 4);
            const result: ModelBenchResult = {
              suite: 'model', ...base, shape, test: 'tg', ms_median: run.batchedMs, tokens_per_s: run.tokensPerS, roofline_tokens_per_s: roofline, pct_of_roofline: (100 * run.tokensPerS) / roofline,
              samples: c.samples, completions_per_s: run.batchedCps, sequential_completions_per_s: run.sequentialCps, speedup: run.batchedCps / run.sequentialCps,
            };
            yield { type: 'result', index: index++, result };
          } catch (e) {
            yield { type: 'error', index: index++, name, shape, suite: 'model', message: oneLine(e) };
          }
        }
      }
    } finally {
      model.dispose();
      gpu.pool.trim();
      if (peerModel.dir) rmSync(peerModel.dir, { recursive: true, force: true });
    }
  }
}

/**
 * The model as a peer reads it: an HF-style directory (config.json, one F32 model.safetensors) of the
 * trunk, in a fresh folder under the OS temp folder. The MTP modules are left out: plain decoding,
 * the only thing a peer runs, never reads them (and the train suite trains the trunk only).
 */
export function writePeerModel(config: ModelConfig, weights: Weights): string {
  const dir = mkdtempSync(join(tmpdir(), 'ponder-bench-peer-'));
  try {
    const trunk = withoutMtp(config, weights);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(configToJson(trunk.config), null, 2) + '\n');
    writeSafetensors(join(dir, 'model.safetensors'), [...trunk.weights].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data })), { format: 'pt' });
    return dir;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Each requested peer's run on one model (prefill of `prompt`, then `steps` greedy decode steps), or
 * the note that replaces its figure: not available, the model could not be written, the run failed,
 * or its first greedy tokens differ from ponder's own greedy decode of the same prompt.
 */
async function runPeers(
  gpu: Gpu,
  model: Transformer,
  requested: ModelPeer[],
  open: ModelPeer[],
  peerModel: { dir?: string; error?: string },
  prompt: number[],
  steps: number,
  timeoutMs: number,
): Promise<Map<ModelPeer, { run?: ModelPeerRun; note?: string }>> {
  const out = new Map<ModelPeer, { run?: ModelPeerRun; note?: string }>();
  let ours: number[] | undefined;
  for (const p of requested) {
    if (!open.includes(p)) out.set(p, { note: 'not available' });
    else if (!peerModel.dir) out.set(p, { note: peerModel.error ?? 'no model for the peers' });
    else {
      try {
        const run = await p.timeDecode(peerModel.dir, prompt, steps, timeoutMs);
        ours ??= await greedyTokens(gpu, model, prompt, PEER_CHECK_TOKENS);
        const theirs = run.tokens.slice(0, PEER_CHECK_TOKENS);
        if (theirs.length === ours.length && theirs.every((t, i) => t === ours![i])) out.set(p, { run });
        else out.set(p, { note: `its greedy tokens differ from ponder's: ${theirs.join(' ')} vs ${ours.join(' ')}` });
      } catch (e) {
        out.set(p, { note: oneLine(e) });
      }
    }
  }
  return out;
}

/**
 * ponder's greedy decode of one sequence: the argmax after the prompt, then after each token fed
 * back, `n` tokens in all (what a peer's greedy tokens are checked against).
 */
export async function greedyTokens(gpu: Gpu, model: Transformer, prompt: number[], n: number): Promise<number[]> {
  const V = model.config.vocab_size;
  const cache = model.createCache(1, prompt.length + n);
  try {
    const out: number[] = [];
    let logits = model.forward([prompt], cache, [0], [0], { lastOnly: true });
    for (;;) {
      const ids = argmax(gpu, logits.reshape([1, V]));
      logits.release();
      const token = (await gpu.readU32(ids))[0]!;
      ids.release();
      out.push(token);
      if (out.length >= n) return out;
      logits = model.forward([[token]], cache, [0], [prompt.length + out.length - 1], { lastOnly: true });
    }
  } finally {
    cache.dispose();
  }
}

/**
 * A KV cache of `batch` slots with `promptTokens` positions prefilled (room for the decode steps and
 * a warm-up step after them). The warm-up prefill of 2 tokens compiles the prefill pipelines first;
 * with `timed`, the real prefill's ms is returned.
 */
async function prefilled(gpu: Gpu, model: Transformer, batch: number, promptTokens: number, decodeTokens: number, timed: boolean): Promise<{ cache: KvCache; prefillMs: number }> {
  const V = model.config.vocab_size;
  const cache = model.createCache(batch, promptTokens + decodeTokens + 2);
  const slots = Array.from({ length: batch }, (_, b) => b);
  try {
    if (timed) {
      const warm = model.forward(slots.map((b) => [b % V, (b + 1) % V]), cache, slots, slots.map(() => 0), { lastOnly: true });
      await gpu.readF32(warm);
      warm.release();
    }
    const prompts = slots.map((b) => Array.from({ length: promptTokens }, (_, i) => (i * 7919 + b * 104729) % V));
    const t0 = performance.now();
    const logits = model.forward(prompts, cache, slots, slots.map(() => 0), { lastOnly: true });
    await gpu.readF32(logits);
    const prefillMs = performance.now() - t0;
    logits.release();
    return { cache, prefillMs };
  } catch (e) {
    cache.dispose();
    throw e;
  }
}

/**
 * One untimed warm-up step, then `steps` timed decode steps of every sequence: ms per step, and the
 * GPU dispatches and submits of one step (the mean over the timed steps). As generate decodes
 * (engine/generate.ts), one step ahead: step i+1 is recorded and submitted, reading step i's tokens
 * where they lie on the GPU, before step i's tokens are read back (Gpu.stage); a step's time is the
 * interval between two steps' tokens arriving.
 */
async function decodeSteps(gpu: Gpu, model: Transformer, cache: KvCache, batch: number, promptTokens: number, steps: number): Promise<{ times: number[]; dispatches: number; submits: number }> {
  const V = model.config.vocab_size;
  const slots = Array.from({ length: batch }, (_, b) => b);
  const times: number[] = [];
  let dispatches = 0;
  let submits = 0;
  const launch = (input: number[][] | Tensor, i: number) => {
    const d0 = gpu.dispatchCount;
    const s0 = gpu.submitCount;
    const logits = model.forward(input, cache, slots, slots.map(() => promptTokens + i), { lastOnly: true });
    const ids = argmax(gpu, logits.reshape([batch, V]));
    logits.release();
    const read = gpu.stage(ids);
    gpu.flush();
    if (i > 0) {
      dispatches += gpu.dispatchCount - d0;
      submits += gpu.submitCount - s0;
    }
    return { ids, read };
  };
  let cur = launch(slots.map((b) => [(b * 31) % V]), 0);
  let arrived = 0;
  for (let i = 0; i <= steps; i++) {
    const ahead = i < steps ? launch(cur.ids, i + 1) : undefined;
    cur.ids.release(); // recorded and submitted with the step that reads it
    await cur.read.result();
    const now = performance.now();
    if (i > 0) times.push(now - arrived);
    arrived = now;
    if (ahead) cur = ahead;
  }
  return { times, dispatches: dispatches / Math.max(steps, 1), submits: submits / Math.max(steps, 1) };
}

/**
 * Self-speculative greedy decoding of `tokens` new tokens after `prompt`, drafting with `depth` MTP
 * modules. An untimed warm-up first compiles every pipeline the rounds can use (each draft and verify
 * shape), so a round that meets a new shape mid-run is not timed with a shader compile in it.
 */
async function speculativeRun(gpu: Gpu, model: Transformer, prompt: number[], tokens: number, depth: number): Promise<{ roundMs: number[]; tokensPerS: number; acceptance: number }> {
  const promptTokens = prompt.length;
  const spec = new SpeculativeDecoder(gpu, model, promptTokens + tokens, depth);
  try {
    await spec.warmUp();
    await spec.prefill(prompt);
    let made = 1; // the prefill gives the first token
    const roundMs: number[] = [];
    const t0 = performance.now();
    while (made < tokens) {
      const r0 = performance.now();
      made += (await spec.step()).length;
      roundMs.push(performance.now() - r0);
    }
    const total = performance.now() - t0;
    const { drafted, accepted } = spec.stats;
    return { roundMs, tokensPerS: (made - 1) / (total / 1000), acceptance: drafted > 0 ? accepted / drafted : 0 };
  } finally {
    spec.dispose();
  }
}

/** A fixed pseudo-random prompt for random-weight models (`variant` k gives the k-th of several). */
function syntheticPrompt(n: number, V: number, variant = 0): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + variant * 104729) % V);
}

/** One batched-sampling case: the sampleBatch call's ms and tokens/s, and completions/s both ways. */
interface BatchedSamplingRun {
  batchedMs: number;
  tokensPerS: number;
  batchedCps: number;
  sequentialCps: number;
}

/**
 * `prompts` × `samples` completions of `tokens` tokens: once by sampleBatch, once by generate one
 * completion at a time; each way warmed up untimed first. A byte tokenizer without stop ids, so every
 * completion runs its whole budget and both ways make the same number of tokens (random-weight
 * vocabularies need not match it: ids outside it decode to U+FFFD, which costs the same).
 */
async function batchedSamplingRun(gpu: Gpu, model: Transformer, prompts: number[][], samples: number, tokens: number): Promise<BatchedSamplingRun> {
  const tok: Tokenizer = Object.create(new ByteTokenizer(), { eosIds: { value: [] } });
  const opts = { temperature: 1, seed: 1, samples, maxTokens: tokens };
  await sampleBatch(gpu, model, tok, prompts, { ...opts, maxTokens: 2 });
  let t0 = performance.now();
  const out = await sampleBatch(gpu, model, tok, prompts, opts);
  const batchedMs = performance.now() - t0;
  const made = out.reduce((a, c) => a + c.ids.length, 0);
  const one = async (ids: number[], seed: number, maxTokens: number) => {
    for await (const ev of generate(gpu, model, tok, ids, { temperature: 1, seed, maxTokens })) void ev;
  };
  await one(prompts[0]!, 0, 2);
  t0 = performance.now();
  for (const ids of prompts) for (let j = 0; j < samples; j++) await one(ids, j, tokens);
  const sequentialMs = performance.now() - t0;
  const n = prompts.length * samples;
  return { batchedMs, tokensPerS: made / (batchedMs / 1000), batchedCps: n / (batchedMs / 1000), sequentialCps: n / (sequentialMs / 1000) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function oneLine(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}
