import type { ChatMessage } from '../data/chat-template.js';
import { ApiError, badParam } from './api-error.js';

/**
 * Validation of the OpenAI request bodies ponder serves: every field ponder honours is checked and
 * turned into typed parameters; a bad value is a 400 naming the field. Fields ponder does not act on
 * (penalties, logit_bias, user, ...) are accepted and ignored, as llama.cpp and vLLM do, so existing
 * clients keep working.
 */

export interface GenerationParams {
  model: string | undefined;
  /** undefined: as many as the context leaves */
  maxTokens: number | undefined;
  temperature: number | undefined;
  topP: number | undefined;
  /** undefined: a random seed per request (OpenAI's default is non-deterministic) */
  seed: number | undefined;
  stop: string[];
  n: number;
  stream: boolean;
  includeUsage: boolean;
}

export interface ChatRequest extends GenerationParams {
  messages: ChatMessage[];
  /** `chat_template_kwargs.enable_thinking` (vLLM's field): false asks the template for no reasoning block */
  enableThinking: boolean | undefined;
}

export interface CompletionRequest extends GenerationParams {
  prompt: string;
}

/** The most choices one request may ask for. */
export const MAX_N = 16;
const MAX_STOPS = 4;
const ROLES = new Set(['system', 'developer', 'user', 'assistant']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseJsonBody(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'the request body is not valid JSON', 'invalid_request_error', null, 'invalid_json');
  }
  if (!isObject(body)) throw new ApiError(400, 'the request body must be a JSON object', 'invalid_request_error', null, 'invalid_json');
  return body;
}

function optionalNumber(body: Record<string, unknown>, key: string, lo: number, hi: number, opts: { integer?: boolean; openLo?: boolean } = {}): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  const inRange = typeof v === 'number' && Number.isFinite(v) && (opts.openLo ? v > lo : v >= lo) && v <= hi;
  if (!inRange || (opts.integer && !Number.isInteger(v))) {
    const kind = opts.integer ? 'an integer' : 'a number';
    throw badParam(key, `${key} must be ${kind} in ${opts.openLo ? '(' : '['}${lo}, ${hi}], got ${JSON.stringify(v)}`);
  }
  return v;
}

function optionalBoolean(body: Record<string, unknown>, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badParam(key, `${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function parseGeneration(body: Record<string, unknown>): GenerationParams {
  const model = body.model;
  if (model !== undefined && typeof model !== 'string') throw badParam('model', 'model must be a string');
  const maxTokens = optionalNumber(body, 'max_completion_tokens', 1, Number.MAX_SAFE_INTEGER, { integer: true }) ?? optionalNumber(body, 'max_tokens', 1, Number.MAX_SAFE_INTEGER, { integer: true });
  const temperature = optionalNumber(body, 'temperature', 0, 2);
  const topP = optionalNumber(body, 'top_p', 0, 1, { openLo: true });
  const seed = optionalNumber(body, 'seed', 0, Number.MAX_SAFE_INTEGER, { integer: true });
  const n = optionalNumber(body, 'n', 1, MAX_N, { integer: true }) ?? 1;
  let stop: string[] = [];
  const s = body.stop;
  if (typeof s === 'string') stop = [s];
  else if (Array.isArray(s)) stop = s as string[];
  else if (s !== undefined && s !== null) throw badParam('stop', 'stop must be a string or an array of strings');
  if (stop.length > MAX_STOPS || stop.some((x) => typeof x !== 'string' || x === '')) {
    throw badParam('stop', `stop must be at most ${MAX_STOPS} non-empty strings`);
  }
  const stream = optionalBoolean(body, 'stream') ?? false;
  const so = body.stream_options;
  if (so !== undefined && so !== null && !isObject(so)) throw badParam('stream_options', 'stream_options must be an object');
  const includeUsage = isObject(so) ? (optionalBoolean(so, 'include_usage') ?? false) : false;
  return { model, maxTokens, temperature, topP, seed, stop, n, stream, includeUsage };
}

/** Message content: a string, or OpenAI's array of parts of which only text parts are supported. */
function messageText(content: unknown, i: number): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) => {
        if (isObject(part) && part.type === 'text' && typeof part.text === 'string') return part.text;
        throw badParam(`messages[${i}].content`, 'only text content parts are supported');
      })
      .join('');
  }
  throw badParam(`messages[${i}].content`, 'content must be a string or an array of text parts');
}

export function parseChatRequest(body: Record<string, unknown>): ChatRequest {
  const raw = body.messages;
  if (!Array.isArray(raw) || raw.length === 0) throw badParam('messages', 'messages must be a non-empty array', raw === undefined ? 'missing_required_parameter' : 'invalid_value');
  const messages = raw.map((m: unknown, i): ChatMessage => {
    if (!isObject(m) || typeof m.role !== 'string' || !ROLES.has(m.role)) {
      throw badParam(`messages[${i}].role`, `messages[${i}].role must be one of ${[...ROLES].join(', ')}`);
    }
    // developer is OpenAI's newer name for the system role
    return { role: m.role === 'developer' ? 'system' : m.role, content: messageText(m.content, i) };
  });
  const kwargs = body.chat_template_kwargs;
  if (kwargs !== undefined && kwargs !== null && !isObject(kwargs)) throw badParam('chat_template_kwargs', 'chat_template_kwargs must be an object');
  const enableThinking = isObject(kwargs) ? optionalBoolean(kwargs, 'enable_thinking') : undefined;
  return { ...parseGeneration(body), messages, enableThinking };
}

export function parseCompletionRequest(body: Record<string, unknown>): CompletionRequest {
  let prompt = body.prompt;
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (typeof prompt !== 'string') {
    throw badParam('prompt', 'prompt must be a string (or an array of one string)', prompt === undefined ? 'missing_required_parameter' : 'invalid_value');
  }
  return { ...parseGeneration(body), prompt };
}
