/**
 * An answer's reasoning block and its content, split by token ids (not by text: the stream decoder
 * skips special tokens, so `<think>` / `</think>` may not be in the decoded text at all). The block
 * runs from the `<think>` id to the `</think>` id; a prompt that ends inside an open block (a template
 * that opens it for the model, DeepSeek-R1 style) makes the answer start in it. Without a `<think>` id
 * in the vocabulary, or when the answer has no block, everything is content.
 */
import type { Tokenizer } from '../data/tokenizer.js';

export interface ReasoningAndContent {
  /** the text inside the reasoning block (undefined when there is none) */
  reasoning?: string;
  /** the text after the block (all of it when there is no block) */
  content: string;
}

/** True when the prompt's last few ids open a reasoning block that they do not close. */
export function promptOpensReasoning(promptIds: readonly number[], tokenizer: Tokenizer): boolean {
  const open = tokenizer.specialTokens.think;
  const close = tokenizer.specialTokens.end_think;
  if (open === undefined) return false;
  const tail = promptIds.slice(-4);
  const at = tail.lastIndexOf(open);
  return at >= 0 && (close === undefined || !tail.slice(at).includes(close));
}

export function splitReasoningIds(ids: readonly number[], tokenizer: Tokenizer, opts: { startsInReasoning?: boolean } = {}): ReasoningAndContent {
  const open = tokenizer.specialTokens.think;
  const close = tokenizer.specialTokens.end_think;
  const decode = (part: readonly number[]) => tokenizer.decode([...part], { skipSpecialTokens: true });
  let start = -1; // first id inside the block
  if (opts.startsInReasoning) start = 0;
  else if (open !== undefined) {
    const at = ids.indexOf(open);
    if (at >= 0) start = at + 1;
  }
  if (start < 0) return { content: decode(ids) };
  const end = close === undefined ? -1 : ids.indexOf(close, start);
  if (end < 0) return { reasoning: decode(ids.slice(start)).trim(), content: '' }; // cut inside the block
  return { reasoning: decode(ids.slice(start, end)).trim(), content: decode(ids.slice(end + 1)).replace(/^\s+/, '') };
}
