import { ByteTokenizer } from './byte-tokenizer.js';
import type { ChatMessage } from './chat-template.js';
import { HfTokenizer } from './hf-tokenizer.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * Turns a conversation or a raw prompt into token ids for generation.
 * - chat: the byte tokenizer's own format (structure from ids, contents always bytes), or the model's
 *   Jinja chat template with the generation prompt appended. A tokenizer without a template falls back
 *   to raw text.
 * - raw: the text as is (plus BOS for tokenizers that add one).
 */
export interface PromptOptions {
  chat: boolean;
  system?: string;
  enableThinking?: boolean;
}

export function encodeMessages(tokenizer: Tokenizer, messages: ChatMessage[], opts: { enableThinking?: boolean } = {}): number[] {
  if (tokenizer instanceof ByteTokenizer) {
    return tokenizer.encodeChat(
      messages.map((m) => ({ role: m.role, content: m.content ?? '' })),
      { addGenerationPrompt: true, enableThinking: opts.enableThinking },
    );
  }
  if (tokenizer instanceof HfTokenizer && tokenizer.chatTemplate !== undefined) {
    const text = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true, enableThinking: opts.enableThinking });
    return tokenizer.encode(text, { parseSpecialTokens: true });
  }
  return tokenizer.encode(messages.map((m) => m.content ?? '').join('\n'), { addSpecialTokens: true });
}

export function encodePrompt(tokenizer: Tokenizer, prompt: string, opts: PromptOptions): number[] {
  if (!opts.chat) return tokenizer.encode(prompt, { addSpecialTokens: true });
  const messages: ChatMessage[] = [];
  if (opts.system) messages.push({ role: 'system', content: opts.system });
  messages.push({ role: 'user', content: prompt });
  return encodeMessages(tokenizer, messages, { enableThinking: opts.enableThinking });
}
