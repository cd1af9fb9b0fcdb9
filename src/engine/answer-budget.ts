/**
 * How long an answer may be, the same rule for `chat` and `generate`: at most --max-tokens new tokens
 * and never past the model's context (budget = min(max-tokens, context − prompt)). Without
 * --max-tokens the limit is half the context, at most 512: a derailed answer on a small model stops
 * long before it has filled the whole context, and a conversation keeps room for its history. An
 * answer that hit the limit is marked so the user knows it was cut, not finished.
 */
import type { GenerateStats } from './generate.js';

export const MAX_DEFAULT_ANSWER_TOKENS = 512;

/** --max-tokens when none is given, for a model with this context length. */
export function defaultMaxTokens(contextLimit: number): number {
  return Math.max(1, Math.min(MAX_DEFAULT_ANSWER_TOKENS, Math.floor(contextLimit / 2)));
}

/** New tokens an answer may have after a prompt of `promptTokens` (0 when the prompt fills the context). */
export function answerBudget(maxTokens: number, contextLimit: number, promptTokens: number): number {
  return Math.max(0, Math.min(maxTokens, contextLimit - promptTokens));
}

export type CutMark = '[max tokens]' | '[context full]';

/** The mark for an answer that was cut, from its stop reason (undefined when it ended by itself or was stopped). */
export function cutMark(stopReason: GenerateStats['stop_reason']): CutMark | undefined {
  if (stopReason === 'length') return '[max tokens]';
  if (stopReason === 'context') return '[context full]';
  return undefined;
}
