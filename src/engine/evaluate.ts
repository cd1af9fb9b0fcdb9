/**
 * Evaluation on a verifiable task: generate `n` problems with a seed, let the model answer each one
 * greedily, extract the answer from its text and verify it exactly (tasks/types.ts). One function for
 * the Tuner's periodic evals and for `ponder eval`, so a figure from either means the same thing.
 *
 * Prompts: chat models (SFT) see the problem as a user turn in their chat format (with thinking on or
 * off when the tokenizer knows the switch); pretrained models see "prompt\n" as raw text. Greedy
 * decoding (temperature 0) makes the score a pure function of (weights, task options, seed).
 */
import { encodeMessages } from '../data/prompt.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Transformer } from '../model/transformer.js';
import { taskByName } from '../tasks/index.js';
import { generate } from './generate.js';

export interface TaskEvalOptions {
  task: string;
  n: number;
  /** problems are drawn with this seed */
  seed: number;
  digits?: number;
  /** the task's chain-of-thought setting (also sets the default answer budget) */
  cot?: boolean;
  /** arithmetic: operations to draw from */
  ops?: readonly string[];
  /** chat format (an SFT model) or raw "prompt\n" (a pretrained one) */
  chat: boolean;
  /** chat only: ask for a reasoning block or not (undefined: the template's default) */
  think?: boolean;
  /** most tokens per answer; default 256 with cot or a chat model's reasoning, else 24 */
  maxTokens?: number;
  /**
   * decode with the model's MTP modules drafting (same greedy answers, fewer trunk passes); the
   * summary then reports how many drafts were accepted
   */
  mtp?: boolean;
  signal?: AbortSignal;
}

/** One answered problem. */
export interface TaskEvalItem {
  index: number;
  prompt: string;
  answer: string;
  /** the model's text */
  text: string;
  /** what the task's extractor read from the text */
  predicted?: string;
  correct: boolean;
}

export interface TaskEvalSummary {
  task: string;
  n: number;
  correct: number;
  accuracy: number;
  /** with mtp: drafts made and accepted over all answers */
  mtp?: { drafted: number; accepted: number; acceptance: number };
}

/** The prompt ids for one problem. */
export function taskPromptIds(tok: Tokenizer, prompt: string, chat: boolean, think?: boolean): number[] {
  if (chat) return encodeMessages(tok, [{ role: 'user', content: prompt }], think === undefined ? {} : { enableThinking: think });
  return tok.encode(`${prompt}\n`, { addSpecialTokens: true });
}

/**
 * Answers the problems one by one, yielding each; returns the summary. Stops early (with the items so
 * far counted) when the signal aborts.
 */
export async function* evaluateTask(gpu: Gpu, model: Transformer, tok: Tokenizer, opts: TaskEvalOptions): AsyncGenerator<TaskEvalItem, TaskEvalSummary> {
  const task = taskByName(opts.task);
  const problems = task.generate(opts.n, opts.seed, { digits: opts.digits, cot: opts.cot, ops: opts.ops });
  const ctx = model.config.max_position_embeddings;
  const budget = opts.maxTokens ?? (opts.cot || (opts.chat && opts.think !== false) ? 256 : 24);
  let correct = 0;
  let answered = 0;
  const drafts = { drafted: 0, accepted: 0 };
  for (const [index, p] of problems.entries()) {
    if (opts.signal?.aborted) break;
    const ids = taskPromptIds(tok, p.prompt, opts.chat, opts.think);
    const maxTokens = Math.min(budget, ctx - ids.length - 1);
    let text = '';
    if (maxTokens >= 1) {
      for await (const ev of generate(gpu, model, tok, ids, { maxTokens, temperature: 0, signal: opts.signal, mtp: opts.mtp || undefined })) {
        if (ev.type !== 'done') continue;
        text = ev.text;
        drafts.drafted += ev.stats.mtp?.drafted ?? 0;
        drafts.accepted += ev.stats.mtp?.accepted ?? 0;
      }
    }
    const predicted = task.extractAnswer(text);
    const ok = task.verify(p, predicted);
    if (ok) correct++;
    answered++;
    yield { index, prompt: p.prompt, answer: p.answer, text, predicted, correct: ok };
  }
  const mtp = opts.mtp ? { ...drafts, acceptance: drafts.drafted > 0 ? drafts.accepted / drafts.drafted : 0 } : undefined;
  return { task: opts.task, n: answered, correct, accuracy: answered > 0 ? correct / answered : 0, ...(mtp ? { mtp } : {}) };
}
