/**
 * Evaluation on a verifiable task with test-time scaling: generate `n` problems with a seed, draw `k`
 * answers to each (engine/sample-batch.ts: all problems' samples in one batched run), extract each
 * answer from its text and verify it exactly (tasks/types.ts), then reduce the verdicts to the figures
 * of engine/eval-metrics.ts: accuracy (greedy, or the mean over samples: avg@k) with a Wilson 95%
 * interval over problems, unbiased pass@k, maj@k (self-consistency) and best-of-N with the verifier,
 * and on request the curve of maj@j and pass@j over j = 1, 2, 4, … k. One function for the Tuner's
 * periodic evals and for `ponder eval`, so a figure from either means the same thing.
 *
 * Sampling: temperature defaults to 0 (greedy) with one sample and to 1.0 with several — the
 * distribution the model was trained on, untempered, which is what pass@k and majority voting are
 * defined over; the caller may set it (and top-p). The sampling seed is the problem seed, and problem i
 * draws from RNG stream i, so its samples do not depend on n. Greedy decoding makes the score a pure
 * function of (weights, task options, seed). With `mtp` (greedy, one sample only) each problem is
 * answered by `generate` with the model's MTP modules drafting: the same answers, fewer trunk passes,
 * and the summary reports how many drafts were accepted.
 *
 * Prompts: chat models (SFT) see the problem as a user turn in their chat format (with thinking on or
 * off when the tokenizer knows the switch); pretrained models see "prompt\n" as raw text.
 */
import { MAX_DEFAULT_ANSWER_TOKENS } from './answer-budget.js';
import { encodeMessages } from '../data/prompt.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Transformer } from '../model/transformer.js';
import { taskByName } from '../tasks/index.js';
import type { Problem, TaskOptions, VerifiableTask } from '../tasks/types.js';
import { meanAccuracy, meanBestOfNVerifier, meanMajAtK, meanPassAtK, scalingCurve, wilsonInterval, type CurvePoint } from './eval-metrics.js';
import { generate } from './generate.js';
import { sampleBatch, type BatchCompletion } from './sample-batch.js';

/** A task's options as given (a recipe's values or the command line's strings), before validation. */
export type RawTaskOptions = Record<string, unknown>;

export interface TaskEvalOptions {
  task: string;
  n: number;
  /** problems are drawn with this seed (and samples with it, problem i from stream i) */
  seed: number;
  /** the task's options (any the task declares, and cot), resolved by the task's parseOptions */
  taskOptions?: RawTaskOptions;
  /** answers drawn per problem (default 1) */
  samples?: number;
  /** default 0 with one sample, else 1.0 */
  temperature?: number;
  topP?: number;
  /** chat format (an SFT model) or raw "prompt\n" (a pretrained one) */
  chat: boolean;
  /** chat only: ask for a reasoning block or not (undefined: the template's default) */
  think?: boolean;
  /**
   * most tokens per answer; default, with cot or a chat model's reasoning, 512 (and never past the
   * context: a long multiplication's working runs to ~300 tokens), else 24
   */
  maxTokens?: number;
  /** greedy, one sample: decode with the model's MTP modules drafting (same answers): true for all, N for the first N */
  mtp?: boolean | number;
  /** also compute the test-time-scaling curve */
  curve?: boolean;
  signal?: AbortSignal;
  /** answers finished so far, of all n · samples */
  onProgress?: (done: number, total: number) => void;
}

export interface TaskEvalSample {
  /** the model's text */
  text: string;
  /** what the task's extractor read from the text */
  predicted?: string;
  correct: boolean;
  finish: BatchCompletion['finish'];
}

/** One answered problem. */
export interface TaskEvalItem {
  index: number;
  prompt: string;
  answer: string;
  samples: TaskEvalSample[];
}

export interface TaskEvalSummary {
  task: string;
  /** problems answered (fewer than asked only when interrupted) */
  n: number;
  /** samples per problem */
  samples: number;
  temperature: number;
  /** greedy accuracy (one greedy sample) or avg@k: the mean over problems of correct / samples */
  accuracy: number;
  /** Wilson 95% interval of the accuracy over problems */
  ci95: [lo: number, hi: number];
  /** unbiased pass@k with k = samples */
  pass_at_k: number;
  /** majority vote over the samples' answers */
  maj_at_k: number;
  /** best-of-N with the task's exact verifier: any correct among the N samples (pass@N, plug-in) */
  best_of_n: number;
  curve?: CurvePoint[];
  /** with mtp: drafts made and accepted over all answers */
  mtp?: { drafted: number; accepted: number; acceptance: number };
}

export interface TaskEvalResult {
  items: TaskEvalItem[];
  summary: TaskEvalSummary;
}

/** The prompt ids for one problem. */
export function taskPromptIds(tok: Tokenizer, prompt: string, chat: boolean, think?: boolean): number[] {
  if (chat) return encodeMessages(tok, [{ role: 'user', content: prompt }], think === undefined ? {} : { enableThinking: think });
  return tok.encode(`${prompt}\n`, { addSpecialTokens: true });
}

/**
 * Validates a task's options for `where` (e.g. "--option" or a recipe path) with the task's own
 * parseOptions (tasks/options.ts: numeric strings, "+,-" lists and true/false are accepted), which
 * fills the task's defaults. Throws one PonderError naming the option.
 */
export function resolveTaskOptions(taskName: string, raw: RawTaskOptions, where: string): TaskOptions {
  const defined = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  return taskByName(taskName).parseOptions(defined, where);
}

/** The task and its `n` problems for (seed, options): the one place evaluation meets the task registry. */
export function problemsFor(taskName: string, n: number, seed: number, options: RawTaskOptions): { task: VerifiableTask; problems: Problem[]; options: TaskOptions } {
  const task = taskByName(taskName);
  const resolved = resolveTaskOptions(taskName, options, 'eval');
  return { task, problems: task.generate(n, seed, resolved), options: resolved };
}

/**
 * Answers every problem `samples` times and scores them. When the signal aborts, the problems whose
 * samples all finished are scored and the rest left out (summary.n says how many were).
 */
export async function evaluateTask(gpu: Gpu, model: Transformer, tok: Tokenizer, opts: TaskEvalOptions): Promise<TaskEvalResult> {
  const k = opts.samples ?? 1;
  if (!Number.isInteger(k) || k < 1) throw new PonderError('BAD_INPUT', `eval: samples must be an integer >= 1, got ${k}`);
  const temperature = opts.temperature ?? (k === 1 ? 0 : 1);
  if (opts.mtp && (k > 1 || temperature !== 0)) throw new PonderError('BAD_INPUT', 'eval: MTP drafting applies to greedy evaluation with one sample');
  const { task, problems, options } = problemsFor(opts.task, opts.n, opts.seed, opts.taskOptions ?? {});
  const reasons = options.cot || (opts.chat && opts.think !== false);
  const budget = opts.maxTokens ?? (reasons ? Math.min(MAX_DEFAULT_ANSWER_TOKENS, model.config.max_position_embeddings) : 24);
  const prompts = problems.map((p) => taskPromptIds(tok, p.prompt, opts.chat, opts.think));

  const drafts = { drafted: 0, accepted: 0 };
  const completions = opts.mtp
    ? await draftedGreedy(gpu, model, tok, prompts, budget, drafts, opts)
    : await sampleBatch(gpu, model, tok, prompts, { samples: k, maxTokens: budget, temperature, topP: opts.topP, seed: opts.seed, signal: opts.signal, onProgress: opts.onProgress });

  const items: TaskEvalItem[] = [];
  for (const [index, p] of problems.entries()) {
    const rows = completions.slice(index * k, (index + 1) * k);
    if (rows.length < k || rows.some((c) => c.finish === 'aborted')) continue;
    const samples = rows.map((c): TaskEvalSample => {
      const predicted = task.extractAnswer(c.text);
      return { text: c.text, predicted, correct: task.verify(p, predicted), finish: c.finish };
    });
    items.push({ index, prompt: p.prompt, answer: p.answer, samples });
  }
  return { items, summary: summarize(opts.task, items, k, temperature, opts.curve === true, opts.mtp ? drafts : undefined) };
}

/** The figures of a set of answered problems (each with `k` samples). */
export function summarize(taskName: string, items: readonly TaskEvalItem[], k: number, temperature: number, curve: boolean, drafts?: { drafted: number; accepted: number }): TaskEvalSummary {
  const scored = items.map((i) => i.samples);
  const accuracy = meanAccuracy(scored);
  return {
    task: taskName,
    n: items.length,
    samples: k,
    temperature,
    accuracy,
    ci95: wilsonInterval(accuracy, items.length),
    pass_at_k: meanPassAtK(scored, k),
    maj_at_k: meanMajAtK(scored, k),
    best_of_n: meanBestOfNVerifier(scored, k),
    ...(curve ? { curve: scalingCurve(scored, k) } : {}),
    ...(drafts ? { mtp: { ...drafts, acceptance: drafts.drafted > 0 ? drafts.accepted / drafts.drafted : 0 } } : {}),
  };
}

/** Greedy answers one problem at a time with MTP drafting (generate's speculative path), counting drafts. */
async function draftedGreedy(
  gpu: Gpu,
  model: Transformer,
  tok: Tokenizer,
  prompts: number[][],
  maxTokens: number,
  drafts: { drafted: number; accepted: number },
  opts: TaskEvalOptions,
): Promise<BatchCompletion[]> {
  const ctx = model.config.max_position_embeddings;
  const out: BatchCompletion[] = [];
  for (const [prompt, ids] of prompts.entries()) {
    if (opts.signal?.aborted) break;
    let done: BatchCompletion = { prompt, sample: 0, ids: [], text: '', finish: 'context' };
    if (ids.length < ctx) {
      for await (const ev of generate(gpu, model, tok, ids, { maxTokens, temperature: 0, signal: opts.signal, mtp: opts.mtp })) {
        if (ev.type !== 'done') continue;
        done = { prompt, sample: 0, ids: ev.ids, text: ev.text, finish: ev.stats.stop_reason };
        drafts.drafted += ev.stats.mtp?.drafted ?? 0;
        drafts.accepted += ev.stats.mtp?.accepted ?? 0;
      }
    }
    out.push(done);
    opts.onProgress?.(out.length, prompts.length);
  }
  return out;
}
