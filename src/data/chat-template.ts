/**
 * Chat templates: the Jinja templates Hugging Face models ship in `tokenizer_config.json`
 * (`chat_template`) or `chat_template.jinja`, rendered with @huggingface/jinja, the interpreter
 * written for exactly these templates (it enables `trim_blocks`/`lstrip_blocks` like transformers does
 * and provides `raise_exception`, `strftime_now`, `tojson`, `namespace`, ...).
 *
 * The variables passed are the ones transformers' `apply_chat_template` passes: `messages`,
 * `add_generation_prompt`, `bos_token`, `eos_token` (+ `pad_token`/`unk_token` when given), `tools`
 * when given, and `enable_thinking` only when set (Qwen3-style templates test
 * `enable_thinking is defined and enable_thinking is false`).
 *
 * The output is a string that contains special-token text; encode it with
 * `{ parseSpecialTokens: true }`. Message contents are pasted into it as they are, so a content that
 * contains special-token text will be parsed too — check contents first (`findSpecialTokenText`) or,
 * for the byte tokenizer, use `ByteTokenizer.encodeChat`.
 */
import { Template } from '@huggingface/jinja';
import { PonderError } from '../errors.js';

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole | (string & {});
  content: string;
  /** Anything else a template may read (tool_calls, name, reasoning_content, ...). */
  [key: string]: unknown;
}

export interface RenderChatOptions {
  addGenerationPrompt: boolean;
  bosToken?: string | null;
  eosToken?: string | null;
  padToken?: string | null;
  unkToken?: string | null;
  /** Qwen3-style switch; left undefined it is not passed at all (templates then use their default). */
  enableThinking?: boolean;
  /** JSON-schema tool descriptions, passed as `tools`. */
  tools?: readonly Record<string, unknown>[];
  /** Extra template variables (e.g. `date_string`). They cannot override the ones above. */
  extra?: Record<string, unknown>;
}

const cache = new Map<string, Template>();
const CACHE_MAX = 16;

function compile(template: string): Template {
  let t = cache.get(template);
  if (t) return t;
  try {
    t = new Template(template);
  } catch (e) {
    throw new PonderError('BAD_INPUT', `chat template: ${errorMessage(e)}`, 'the chat_template in tokenizer_config.json could not be parsed');
  }
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(template, t);
  return t;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function renderChat(template: string, messages: readonly ChatMessage[], opts: RenderChatOptions): string {
  if (typeof template !== 'string' || template.length === 0) {
    throw new PonderError('BAD_INPUT', 'chat template: empty template', 'this model has no chat_template; use a plain prompt instead');
  }
  const compiled = compile(template);
  const vars: Record<string, unknown> = {
    ...opts.extra,
    // Plain copies: the interpreter must not see (or mutate) the caller's objects.
    messages: messages.map((m) => structuredClone(m)),
    add_generation_prompt: opts.addGenerationPrompt,
    bos_token: opts.bosToken ?? '',
    eos_token: opts.eosToken ?? '',
  };
  if (opts.padToken != null) vars.pad_token = opts.padToken;
  if (opts.unkToken != null) vars.unk_token = opts.unkToken;
  if (opts.enableThinking !== undefined) vars.enable_thinking = opts.enableThinking;
  if (opts.tools !== undefined) vars.tools = opts.tools.map((t) => structuredClone(t));
  try {
    return compiled.render(vars);
  } catch (e) {
    throw new PonderError('BAD_INPUT', `chat template: ${errorMessage(e)}`);
  }
}

/**
 * The first special-token string found in `text`, or undefined. Use it to refuse (or escape) message
 * contents before rendering them into a template, since the rendered prompt is encoded with special
 * tokens parsed.
 */
export function findSpecialTokenText(text: string, specialStrings: Iterable<string>): string | undefined {
  for (const s of specialStrings) if (s.length > 0 && text.includes(s)) return s;
  return undefined;
}
