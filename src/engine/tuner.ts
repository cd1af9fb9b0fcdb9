/**
 * The Tuner: the shell that runs a recipe's stages on the GPU and reports progress as a stream of
 * typed events (tuner-events.ts). Each stage kind is a runner of its own (engine/stages/: the
 * interface in types.ts, the kind -> runner registry in index.ts); the shell drives any runner the
 * same way and never asks which kind it runs. It owns no numerics:
 *
 *   model init   scratch: normal(0, 0.02) weights, ones for norms, zeros for biases, drawn from
 *                Philox(recipe seed) per tensor, so the same seed gives the same bits; or the weights
 *                of a model directory (loadAnyModel).
 *   per stage    runner = STAGE_RUNNERS[kind](ctx) (with its saved state when resuming mid-stage), a
 *                fresh AdamW over runner.params() with the stage's optimizer settings, then per
 *                optimizer step: runner.step(k, opt, lr from the schedule at the step within the stage),
 *                which does everything up to and including opt.step(lr) and reports the step's metrics
 *                (loss, and whatever else its kind measures) for metrics.jsonl and the step event.
 *   evaluation   every `eval.every` steps and at the end of a stage: greedy generation on n problems
 *                of the eval task with a Transformer built from the current weights; accuracy =
 *                verified answers / n. Evaluation reads the weights only, so it never changes the
 *                trajectory.
 *   controls     between optimizer steps the Tuner acts on TunerControl requests (tuner-control.ts):
 *                evaluate now, checkpoint now, quit (as the abort signal), and pause, which awaits the
 *                next control call without running anything. Evaluation and checkpoints only read
 *                state, so controls never change the trajectory.
 *   checkpoints  every `checkpoint_every` steps (counted over the whole recipe), at the end of each
 *                stage, when asked and when stopped early: weights, AdamW m/v/applied-step count, the
 *                runner's state() (as `data_cursor`: for pretrain/SFT the batch cursor), stage index,
 *                global step, recipe hash and seed.
 *   final        <output>/final: a ponder model directory (byte tokenizer, or the init model's tokenizer
 *                files copied) usable with `ponder generate --model <output>/final`; then a `run` line
 *                in metrics.jsonl (wall time, adapter, parameters) and <output>/report.md, the report
 *                card (engine/report.ts), both rebuilt by `ponder report` from the run directory alone.
 *
 * Resume exactness: everything the trajectory depends on is either a pure function of the recipe
 * (data, shuffle order given the epoch, the lr at a step) or in the checkpoint (weights, optimizer
 * moments and applied-step count, the runner's state, the step). The kernels are deterministic (no
 * float atomics), so a resumed run's final weights are bit-identical to an uninterrupted run's.
 *
 * A stage's optimizer starts fresh (its own settings and zero moments); a checkpoint at the end of a
 * stage therefore resumes into the next stage with a new optimizer, as the uninterrupted run does.
 */
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { ByteTokenizer } from '../data/byte-tokenizer.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { saveModelDir } from '../io/model-dir.js';
import { loadAnyModel } from '../io/resolve-model.js';
import { configToJson, expectedWeights, isMtpWeight, withoutMtp, type ModelConfig, type Weights } from '../model/config.js';
import { Transformer } from '../model/transformer.js';
import { taskOptionsOf, type EvalSpec, type LoadedRecipe, type RecipeStage } from '../recipe/load.js';
import { drawU32 } from '../sample/rng.js';
import { adapterName } from '../gpu/device.js';
import { loadLatestCheckpoint, writeCheckpoint, type Checkpoint, type CheckpointTensor, type Json } from '../train/checkpoint.js';
import { AdamW } from '../train/optimizer.js';
import { createRunDir, MetricsWriter, writeFileAtomic } from '../train/run-dir.js';
import { learningRate } from '../train/schedule.js';
import { TrainableModel } from '../train/trainable.js';
import { evaluateTask } from './evaluate.js';
import { formatReport, lastRunTime, readRunReport, REPORT_FILE } from './report.js';
import { STAGE_RUNNERS, type RunnerFactory, type StageRunner } from './stages/index.js';
import type { TunerControl } from './tuner-control.js';
import type { StopReason, TuneEvent } from './tuner-events.js';

export type { TuneEvent } from './tuner-events.js';
export { TunerControl, type TuneControls } from './tuner-control.js';

export interface TunerOptions {
  /** continue the run in the recipe's output directory from its newest valid checkpoint */
  resume?: boolean;
  /** with resume: accept a changed recipe */
  force?: boolean;
  /** stop after the current step: checkpoint, yield `interrupted`, return */
  signal?: AbortSignal;
  /** live controls (pause, checkpoint now, evaluate now, quit), acted on between optimizer steps */
  control?: TunerControl;
  /** (tests) stop as on a signal once this global step is done */
  stopAfterStep?: number;
  /** override the eval problem count cap (default: the recipe's n) */
  maxEvalProblems?: number;
  /** runners by stage kind, over (and beside) the built-in STAGE_RUNNERS (tests, experiments) */
  runners?: Record<string, RunnerFactory>;
}

/** Philox counter word 3 for weight init (ASCII "init"). */
export const INIT_DOMAIN = 0x696e6974;
/** Eval problems are drawn with seed + this, away from the training problems' seed. */
export const EVAL_SEED_OFFSET = 1_000_003;
export const FINAL_DIR = 'final';
/**
 * Fields of metrics.jsonl lines that the shell writes itself (step, eval and run lines): a runner's
 * metric named like one would overwrite it, or make its step line read as another kind of line.
 */
export const SHELL_METRIC_FIELDS: ReadonlySet<string> = new Set(['stage', 'step', 'stage_name', 'global_step', 'lr', 'grad_norm', 'skipped', 'tokens_per_s', 'gpu_mem_bytes', 'time_s', 'run', 'eval_task', 'eval_n']);
const INIT_STD = 0.02;

/**
 * Scratch weights: normal(0, 0.02) (Box-Muller on Philox(seed, tensor index) words), ones for
 * `*norm.weight`, zeros for biases. A pure function of (config, seed).
 */
export function initScratchWeights(config: ModelConfig, seed: number): Weights {
  const weights: Weights = new Map();
  let stream = 0;
  for (const [name, shape] of expectedWeights(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('norm.weight')) data.fill(1);
    else if (!name.endsWith('.bias')) {
      for (let i = 0, block = 0; i < n; block++) {
        const u = drawU32(seed, stream, 0, block, INIT_DOMAIN);
        for (let j = 0; j < 4 && i < n; j += 2) {
          const u1 = (u[j]! + 1) / 4294967296; // (0, 1]: log is finite
          const u2 = u[j + 1]! / 4294967296;
          const r = Math.sqrt(-2 * Math.log(u1)) * INIT_STD;
          data[i++] = r * Math.cos(2 * Math.PI * u2);
          if (i < n) data[i++] = r * Math.sin(2 * Math.PI * u2);
        }
      }
    }
    weights.set(name, { shape: [...shape], data });
    stream++;
  }
  return weights;
}

interface EvalResult {
  correct: number;
  n: number;
  /** with samples > 1: the test-time-scaling figures (metrics.jsonl names) */
  sampled?: { samples: number; 'pass@k': number; 'maj@k': number };
  sample?: { prompt: string; text: string };
  /** with MTP modules: accepted ÷ drafted drafts over the eval's answers */
  mtpAcceptance?: number;
}

/**
 * Greedy answers to `n` problems of the eval task (engine/evaluate.ts) by a Transformer built from the
 * current weights: the runner's prompt format (chat, or raw text for pretraining).
 */
async function evaluate(gpu: Gpu, model: TrainableModel, tok: Tokenizer, spec: EvalSpec, chat: boolean, seed: number, n: number, signal?: AbortSignal): Promise<EvalResult> {
  // a view of the training weights: no copy through the CPU
  const tf = Transformer.fromGpuWeights(gpu, model.config, model.inferenceWeights(), { owned: false });
  try {
    const { items, summary } = await evaluateTask(gpu, tf, tok, {
      task: spec.task,
      n,
      seed: seed + EVAL_SEED_OFFSET,
      taskOptions: taskOptionsOf(spec),
      samples: spec.samples,
      temperature: spec.temperature,
      chat,
      maxTokens: spec.max_tokens ?? (spec.cot ? 256 : 64),
      // MTP drafting applies to greedy answers (the same text, fewer trunk passes)
      mtp: model.config.num_nextn_predict_layers > 0 && (spec.samples ?? 1) === 1 && (spec.temperature ?? 0) === 0,
      signal,
    });
    // correct answers: greedy, or the mean over samples (avg@k) times n
    const correct = summary.accuracy * summary.n;
    const sampled = summary.samples > 1 ? { samples: summary.samples, 'pass@k': summary.pass_at_k, 'maj@k': summary.maj_at_k } : undefined;
    const first = items[0];
    const sample = first ? { prompt: first.prompt, text: first.samples[0]!.text } : undefined;
    return { correct, n: summary.n, sample, ...(sampled ? { sampled } : {}), ...(summary.mtp ? { mtpAcceptance: summary.mtp.acceptance } : {}) };
  } finally {
    tf.dispose();
  }
}

async function readCheckpointState(gpu: Gpu, model: TrainableModel, opt: AdamW): Promise<{ tensors: CheckpointTensor[]; m: CheckpointTensor[]; v: CheckpointTensor[]; step: number }> {
  const weights = await model.toWeights();
  const tensors = [...weights].map(([name, t]) => ({ name, shape: [...t.shape], data: t.data }));
  const st = opt.state();
  const m: CheckpointTensor[] = [];
  const v: CheckpointTensor[] = [];
  for (let i = 0; i < opt.params.length; i++) {
    const p = opt.params[i]!;
    m.push({ name: p.name, shape: [...p.value.shape], data: new Float32Array(await gpu.readF32(st.m[i]!)) });
    v.push({ name: p.name, shape: [...p.value.shape], data: new Float32Array(await gpu.readF32(st.v[i]!)) });
  }
  const step = (await gpu.readU32(st.step))[0]!;
  return { tensors, m, v, step };
}

/** The stage's optimizer over the runner's params, with the stage's settings and zero moments. */
function adamwFor(gpu: Gpu, params: ReturnType<StageRunner['params']>, stage: RecipeStage): AdamW {
  const o = stage.optimizer;
  return new AdamW(gpu, params, { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weight_decay, gradClip: o.grad_clip });
}

/** Runs (or resumes) a recipe, yielding events; see the header comment. */
export async function* runTuner(gpu: Gpu, loaded: LoadedRecipe, opts: TunerOptions = {}): AsyncGenerator<TuneEvent> {
  const { recipe, hash } = loaded;
  const control = opts.control;
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const resume = opts.resume ?? false;
  const run = createRunDir(recipe.output, { recipeText: toYaml({ recipe_hash: hash, ...recipe }), recipeHash: hash, resume, force: opts.force });
  for (const w of run.warnings) yield { type: 'warning', message: w };

  const stageOffsets: number[] = [];
  let totalSteps = 0;
  for (const s of recipe.stages) {
    stageOffsets.push(totalSteps);
    totalSteps += s.steps;
  }

  // the starting point: a checkpoint, or the init model
  let ckpt: Checkpoint | undefined;
  let resumedFrom: string | undefined;
  if (resume) {
    const latest = loadLatestCheckpoint(run.dir);
    for (const w of latest.warnings) yield { type: 'warning', message: w };
    ckpt = latest.ckpt;
    if (ckpt.recipe_hash !== hash && !opts.force) {
      throw new PonderError('BAD_INPUT', `${latest.path}: was written by a different recipe (hash ${ckpt.recipe_hash.slice(0, 12)} != ${hash.slice(0, 12)}); pass --force to resume anyway`);
    }
    if (ckpt.stage >= recipe.stages.length) throw new PonderError('BAD_INPUT', `${latest.path}: stage ${ckpt.stage} is not in this recipe (${recipe.stages.length} stages)`);
    resumedFrom = latest.path;
  }

  let config: ModelConfig = recipe.model.config;
  let weights: Weights;
  let tok: Tokenizer;
  let tokenizerFrom: string | undefined;
  if (recipe.model.source === 'scratch') {
    tok = new ByteTokenizer();
    weights = ckpt ? new Map() : initScratchWeights(config, recipe.seed);
  } else {
    const any = await loadAnyModel(recipe.model.dir!);
    config = any.config;
    tok = any.tokenizer;
    weights = any.weights;
    if (recipe.model.tokenizer !== 'bytes') tokenizerFrom = any.dir;
    // MTP modules as the recipe resolved them: the model's own, dropped, or fresh
    const K = recipe.model.config.num_nextn_predict_layers;
    if (K === 0) ({ config, weights } = withoutMtp(config, weights));
    else if (recipe.model.freshMtp && !ckpt) {
      config = { ...config, num_nextn_predict_layers: K };
      for (const [name, t] of initScratchWeights(config, recipe.seed)) if (isMtpWeight(name)) weights.set(name, t);
    } else config = { ...config, num_nextn_predict_layers: K };
  }
  if (config.num_nextn_predict_layers > 0 && !recipe.stages.some((s) => s.mtp)) {
    yield { type: 'warning', message: `no stage trains the model's ${config.num_nextn_predict_layers} MTP layers: they are kept as they are and will draft for the trunk they were trained with (add mtp: to a stage, or model.mtp_layers: 0 to drop them)` };
  }
  if (ckpt) {
    weights = new Map();
    for (const t of ckpt.tensors) weights.set(t.name, { shape: [...t.shape], data: t.data as Float32Array });
  }

  const model = TrainableModel.create(gpu, config, weights);
  weights = new Map(); // the CPU copies are not needed any more
  let opt: AdamW | undefined;
  let runner: StageRunner | undefined;
  const runners: Record<string, RunnerFactory> = { ...STAGE_RUNNERS, ...opts.runners };
  try {
    const parameters = model.params().reduce((a, p) => a + p.value.size, 0);
    let firstStage = 0;
    let firstStep = 0;
    if (ckpt) {
      firstStage = ckpt.stage;
      firstStep = ckpt.step - stageOffsets[ckpt.stage]!;
      if (firstStep >= recipe.stages[firstStage]!.steps) {
        firstStage++;
        firstStep = 0;
      }
    }
    const metrics = new MetricsWriter(run, ckpt ? { stage: ckpt.stage, step: ckpt.step - stageOffsets[ckpt.stage]! } : undefined);
    // wall time over sessions: a resumed run goes on from the time of the last line it keeps
    const priorS = ckpt ? lastRunTime(run.metricsPath) : 0;
    const runTime = () => priorS + elapsed();
    yield {
      type: 'start',
      output: run.dir,
      recipe_hash: hash,
      resumed: ckpt !== undefined,
      resumed_from: resumedFrom,
      total_steps: totalSteps,
      start_step: ckpt?.step ?? 0,
      parameters,
      stages: recipe.stages.map((s) => ({ name: s.name, kind: s.kind, steps: s.steps })),
    };

    for (let si = firstStage; si < recipe.stages.length; si++) {
      const stage = recipe.stages[si]!;
      const fromStep = si === firstStage ? firstStep : 0;

      const factory = runners[stage.kind];
      if (!factory) throw new PonderError('BAD_INPUT', `stage "${stage.name}": no runner for stage kind "${stage.kind}" (known: ${Object.keys(runners).join(', ')})`);
      const resumedHere = ckpt !== undefined && si === ckpt.stage && fromStep > 0;
      runner = await factory({ gpu, model, tok, recipe, stage, stageIndex: si, runDir: run.dir, resume: resumedHere ? ckpt!.data_cursor : undefined, signal: opts.signal });
      const stageRunner = runner;
      opt?.dispose();
      opt = undefined; // not disposed twice (finally) if building the next one throws
      opt = adamwFor(gpu, runner.params(), stage);
      if (resumedHere) {
        const o = ckpt!.optimizer;
        opt.loadState({ m: o.m.map((t) => t.data as Float32Array), v: o.v.map((t) => t.data as Float32Array), step: o.step });
      }
      ckpt = undefined; // free the host copies
      yield { type: 'stage', index: si, name: stage.name, kind: stage.kind, steps: stage.steps, from_step: fromStep, batch_size: stage.batch_size, grad_accum: stage.grad_accum, seq_len: stage.seq_len, ...(runner.headline ? { headline: runner.headline } : {}) };
      for (const message of runner.warnings ?? []) yield { type: 'warning', message };

      const save = async (k: number): Promise<TuneEvent> => {
        const st = await readCheckpointState(gpu, model, opt!);
        const path = writeCheckpoint(run.dir, {
          config: configToJson(config) as Record<string, Json>,
          tensors: st.tensors,
          optimizer: { m: st.m, v: st.v, step: st.step },
          rng: [recipe.seed],
          data_cursor: stageRunner.state(),
          stage: si,
          step: stageOffsets[si]! + k,
          recipe_hash: hash,
        });
        return { type: 'checkpoint', path, step: stageOffsets[si]! + k, stage: si };
      };

      // evaluation (scheduled or asked for) at stage-local step `at`: reads the weights only
      const runEval = async function* (spec: EvalSpec, at: number): AsyncGenerator<TuneEvent> {
        const n = Math.min(spec.n, opts.maxEvalProblems ?? spec.n);
        const r = await evaluate(gpu, model, tok, spec, stageRunner.promptFormat !== 'raw', recipe.seed, n, opts.signal);
        const accuracy = r.n > 0 ? r.correct / r.n : 0;
        const acc = { ...(r.mtpAcceptance !== undefined ? { mtp_acceptance: r.mtpAcceptance } : {}), ...(r.sampled ?? {}) };
        metrics.append({ stage: si, step: at, eval_task: spec.task, accuracy, eval_n: r.n, ...acc });
        yield { type: 'eval', stage: si, step: at, task: spec.task, accuracy, n: r.n, correct: Math.round(r.correct), ...acc };
        if (r.sample) yield { type: 'sample', stage: si, step: at, prompt: r.sample.prompt, text: r.sample.text };
      };

      for (let k = fromStep; k < stage.steps; k++) {
        const lr = learningRate(k, { lr: stage.optimizer.lr, warmup: stage.optimizer.warmup, total: stage.steps, schedule: stage.optimizer.schedule });
        const ts = performance.now();
        const r = await stageRunner.step(k, opt, lr);
        const stepMs = performance.now() - ts;
        for (const name of Object.keys(r.metrics)) if (SHELL_METRIC_FIELDS.has(name)) throw new Error(`stage "${stage.name}" (${stage.kind}): its runner reports a metric named "${name}", a field the shell writes itself`);
        const done = k + 1;
        const global = stageOffsets[si]! + done;
        const tokensPerS = r.tokens / (stepMs / 1000);
        const memBytes = gpu.pool.bytesLive;
        metrics.append({ stage: si, step: done, stage_name: stage.name, global_step: global, ...r.metrics, lr, grad_norm: r.grad_norm, skipped: r.skipped, tokens_per_s: tokensPerS, gpu_mem_bytes: memBytes, time_s: runTime() });
        yield {
          type: 'step',
          stage: si,
          stage_name: stage.name,
          step: done,
          total: stage.steps,
          global_step: global,
          total_steps: totalSteps,
          loss: r.metrics.loss,
          ...(r.metrics.mtp_loss !== undefined ? { mtp_loss: r.metrics.mtp_loss } : {}),
          metrics: { ...r.metrics },
          lr,
          grad_norm: r.grad_norm,
          skipped: r.skipped,
          tokens_per_s: tokensPerS,
          gpu_mem_bytes: memBytes,
          step_ms: stepMs,
          elapsed_s: elapsed(),
          ...(r.detail ? { detail: r.detail } : {}),
          ...(r.completions ? { completions: r.completions } : {}),
        };

        const ev = stage.eval;
        let evaluated = false;
        if (ev && (done % ev.every === 0 || done === stage.steps)) {
          yield* runEval(ev, done);
          evaluated = true;
        }

        let saved: TuneEvent | undefined;
        const every = recipe.checkpoint_every;
        if ((every > 0 && global % every === 0) || done === stage.steps) {
          saved = await save(done);
          yield saved;
        }

        // the step boundary: act on the controls (and wait here while paused), then maybe stop
        let pausedAt: number | undefined;
        let reason: StopReason | undefined;
        for (;;) {
          const req = control?.take();
          if (req?.evaluate) {
            if (!ev) yield { type: 'warning', message: `stage "${stage.name}" has no eval: section; nothing to evaluate`, request: 'evaluate' };
            else if (evaluated) yield { type: 'notice', message: `already evaluated at step ${done}`, request: 'evaluate' };
            else {
              yield* runEval(ev, done);
              evaluated = true;
            }
          }
          if (req?.checkpoint) {
            if (saved) yield { type: 'notice', message: `checkpoint for step ${global} already written: ${(saved as { path: string }).path}`, request: 'checkpoint' };
            else {
              saved = await save(done);
              yield saved;
            }
          }
          if (opts.signal?.aborted) reason = 'signal';
          else if (req?.quit) reason = 'quit';
          else if (opts.stopAfterStep !== undefined && global >= opts.stopAfterStep) reason = 'stop_after_step';
          if (reason !== undefined || !control?.paused) break;
          if (pausedAt === undefined) {
            pausedAt = performance.now();
            yield { type: 'paused', step: global, stage: si };
          }
          await control.changed(opts.signal);
        }
        if (pausedAt !== undefined) yield { type: 'resumed', step: global, paused_s: (performance.now() - pausedAt) / 1000 };

        if (reason !== undefined && global < totalSteps) {
          if (!saved) {
            saved = await save(done);
            yield saved;
          }
          yield { type: 'interrupted', step: global, checkpoint: (saved as { path: string }).path, reason };
          return;
        }
      }
      runner.dispose();
      runner = undefined;
    }

    const finalDir = join(run.dir, FINAL_DIR);
    saveModelDir(
      finalDir,
      // the starting model's sampling defaults come along (a greedy model stays greedy)
      { config, weights: await model.toWeights(), tokenizerFrom, generationConfigFrom: recipe.model.dir, card: { source: `trained with ponder tune from ${recipe.file} (recipe ${hash.slice(0, 12)})` } },
      { overwrite: true },
    );
    // the report card: a `run` line closes metrics.jsonl (what the report needs beyond the recipe and
    // the eval lines), then report.md is built from the run directory alone, as `ponder report` does
    const last = recipe.stages.length - 1;
    metrics.append({ stage: last, step: recipe.stages[last]!.steps, run: 'done', elapsed_s: runTime(), adapter: adapterName(gpu.info), parameters });
    const reportPath = join(run.dir, REPORT_FILE);
    writeFileAtomic(reportPath, formatReport(readRunReport(run.dir)));
    yield { type: 'done', final_dir: finalDir, report: reportPath, steps: totalSteps, elapsed_s: elapsed() };
  } finally {
    runner?.dispose();
    opt?.dispose();
    model.dispose();
  }
}
