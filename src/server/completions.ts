import { randomBytes, randomInt } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { encodeMessages } from '../data/prompt.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { DecodeEvent, DecodeScheduler } from '../engine/decode-scheduler.js';
import { isPonderError } from '../errors.js';
import type { SamplingDefaults } from '../io/generation-config.js';
import { ApiError, badParam } from './api-error.js';
import type { ChatRequest, CompletionRequest, GenerationParams } from './request.js';
import { ReasoningRouter, StopMatcher, type Channel } from './text-stream.js';
import { defaultMaxTokens } from '../engine/answer-budget.js';

/**
 * The two generation endpoints: a validated request becomes n sequences in the decode scheduler
 * (choice i: the request's seed, RNG stream i — so choice 0 is what `ponder generate --seed` gives),
 * and their token events become OpenAI objects: one `chat.completion` / `text_completion`, or a
 * stream of `chat.completion.chunk` / `text_completion` chunks as server-sent events ending in
 * `data: [DONE]`. The choices decode concurrently (they share the batch) and their chunks interleave,
 * each tagged with its index, as OpenAI's do.
 */

/** What the server serves: one model behind one scheduler. */
export interface ServedModel {
  /** the name clients pass as `model` (and /v1/models lists) */
  id: string;
  scheduler: DecodeScheduler;
  tokenizer: Tokenizer;
  /** the model's generation_config.json sampling defaults (request fields win) */
  sampling: SamplingDefaults;
  /** serve's --think / --no-think: ask the chat template for a reasoning block when a request does not say (undefined: the template's default) */
  think?: boolean;
}

export type OpenAIFinish = 'stop' | 'length';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What a finished request reports to the access log. */
export interface RunResult {
  usage: Usage;
}

interface ChoiceResult {
  content: string;
  reasoning: string;
  finish: OpenAIFinish;
  tokens: number;
}

type Kind = 'chat' | 'text';

export async function handleChat(model: ServedModel, req: ChatRequest, res: ServerResponse, signal: AbortSignal): Promise<RunResult> {
  checkModel(model, req);
  const ids = encodeMessages(model.tokenizer, req.messages, { enableThinking: req.enableThinking ?? model.think });
  const think = { open: model.tokenizer.specialTokens.think, close: model.tokenizer.specialTokens.end_think };
  return run(model, 'chat', ids, req, res, signal, () => new ReasoningRouter(think, opensReasoning(ids, think)));
}

export async function handleCompletion(model: ServedModel, req: CompletionRequest, res: ServerResponse, signal: AbortSignal): Promise<RunResult> {
  checkModel(model, req);
  if (req.prompt === '') throw badParam('prompt', 'the prompt is empty');
  const ids = model.tokenizer.encode(req.prompt, { addSpecialTokens: true });
  return run(model, 'text', ids, req, res, signal, undefined);
}

function checkModel(model: ServedModel, req: GenerationParams): void {
  if (req.model !== undefined && req.model !== model.id) {
    throw new ApiError(404, `the model '${req.model}' does not exist; this server serves '${model.id}'`, 'invalid_request_error', 'model', 'model_not_found');
  }
}

/** A template that ends the prompt inside an open <think> (DeepSeek-R1 style) starts the answer in reasoning. */
function opensReasoning(ids: number[], think: { open?: number; close?: number }): boolean {
  if (think.open === undefined) return false;
  const tail = ids.slice(-4);
  const at = tail.lastIndexOf(think.open);
  return at >= 0 && (think.close === undefined || !tail.slice(at).includes(think.close));
}

async function run(
  model: ServedModel,
  kind: Kind,
  ids: number[],
  req: GenerationParams,
  res: ServerResponse,
  signal: AbortSignal,
  router: (() => ReasoningRouter) | undefined,
): Promise<RunResult> {
  const { scheduler, tokenizer } = model;
  const limit = scheduler.contextLimit;
  if (ids.length >= limit) {
    throw new ApiError(400, `the prompt is ${ids.length} tokens; the context is ${limit}`, 'invalid_request_error', kind === 'chat' ? 'messages' : 'prompt', 'context_length_exceeded');
  }
  const d = model.sampling;
  const seed = req.seed ?? randomInt(0, 2 ** 31);
  // the request's own signal: the client's disconnect, or the request ending for any reason, makes
  // every choice still queued or decoding leave
  const request = new AbortController();
  const onClientGone = () => request.abort();
  signal.addEventListener('abort', onClientGone, { once: true });
  if (signal.aborted) request.abort();
  const opts = {
    // chat's and generate's rule (engine/answer-budget.ts): half the context, at most 512; the
    // scheduler keeps any budget within what the context leaves after the prompt
    maxTokens: req.maxTokens ?? defaultMaxTokens(limit),
    temperature: req.temperature ?? d.temperature ?? 1,
    topP: req.topP ?? d.topP,
    topK: d.topK,
    minP: d.minP,
    seed,
    signal: request.signal,
  };
  const think = { open: tokenizer.specialTokens.think, close: tokenizer.specialTokens.end_think };
  let streams: AsyncGenerator<DecodeEvent>[];
  try {
    streams = Array.from({ length: req.n }, (_, i) => scheduler.submit(ids, { ...opts, stream: i }));
  } catch (e) {
    request.abort(); // choices queued before the one that failed leave
    signal.removeEventListener('abort', onClientGone);
    if (isPonderError(e) && e.code === 'BAD_INPUT') throw new ApiError(400, e.message, 'invalid_request_error');
    throw e;
  }

  const id = (kind === 'chat' ? 'chatcmpl-' : 'cmpl-') + randomBytes(12).toString('hex');
  const created = Math.floor(Date.now() / 1000);
  const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const send = (chunk: object) => {
    if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify({ id, object, created, model: model.id, ...chunk })}\n\n`);
  };
  const usageNull = req.includeUsage ? { usage: null } : {};
  if (req.stream) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    if (kind === 'chat') for (let i = 0; i < req.n; i++) send({ choices: [{ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], ...usageNull });
  }
  const delta = (index: number, channel: Channel, text: string) => {
    if (!req.stream || text === '') return;
    if (kind === 'chat') {
      const field = channel === 'reasoning' ? 'reasoning_content' : 'content';
      send({ choices: [{ index, delta: { [field]: text }, logprobs: null, finish_reason: null }], ...usageNull });
    } else send({ choices: [{ index, text, logprobs: null, finish_reason: null }], ...usageNull });
  };

  let results: ChoiceResult[];
  try {
    results = await Promise.all(
      streams.map(async (events, index) => {
        const r = await runChoice(events, req.stop, router?.(), think, (channel, text) => delta(index, channel, text));
        if (req.stream) {
          if (kind === 'chat') send({ choices: [{ index, delta: {}, logprobs: null, finish_reason: r.finish }], ...usageNull });
          else send({ choices: [{ index, text: '', logprobs: null, finish_reason: r.finish }], ...usageNull });
        }
        return r;
      }),
    );
  } finally {
    request.abort();
    signal.removeEventListener('abort', onClientGone);
  }
  const completionTokens = results.reduce((a, r) => a + r.tokens, 0);
  const usage: Usage = { prompt_tokens: ids.length, completion_tokens: completionTokens, total_tokens: ids.length + completionTokens };

  if (req.stream) {
    if (req.includeUsage) send({ choices: [], usage });
    if (!res.writableEnded) res.end('data: [DONE]\n\n');
    return { usage };
  }
  const choices = results.map((r, index) =>
    kind === 'chat'
      ? {
          index,
          message: { role: 'assistant', content: r.content, ...(r.reasoning !== '' ? { reasoning_content: r.reasoning } : {}), refusal: null },
          logprobs: null,
          finish_reason: r.finish,
        }
      : { index, text: r.content, logprobs: null, finish_reason: r.finish },
  );
  const body = { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: model.id, choices, usage };
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
  return { usage };
}

/**
 * Consumes one sequence's events: routes text to its channel (chat) or keeps the think tags in the
 * text (completions), applies the stop strings to the answer text, reports each safe piece.
 * A stop string ends the choice early: leaving the loop cancels the sequence in the scheduler.
 */
async function runChoice(
  events: AsyncGenerator<DecodeEvent>,
  stops: string[],
  router: ReasoningRouter | undefined,
  think: { open?: number; close?: number },
  onDelta: (channel: Channel, text: string) => void,
): Promise<ChoiceResult> {
  const matcher = new StopMatcher(stops);
  const out = { content: '', reasoning: '' };
  let tokens = 0;
  let finish: OpenAIFinish = 'stop';
  const emit = (channel: Channel, text: string) => {
    if (text === '') return;
    if (channel === 'reasoning') out.reasoning += text;
    else out.content += text;
    onDelta(channel, text);
  };
  for await (const ev of events) {
    if (ev.type === 'done') {
      // 'aborted' (the server is shutting down) ends the choice as a stop: OpenAI has no other reason
      finish = ev.finishReason === 'length' ? 'length' : 'stop';
      break;
    }
    if (ev.id >= 0) tokens++;
    let channel: Channel = 'content';
    let text = ev.text;
    if (router) ({ channel, text } = router.route(ev.id, ev.text));
    else if (ev.id === think.open && ev.id !== undefined) text = '<think>' + text;
    else if (ev.id === think.close && ev.id !== undefined) text = '</think>' + text;
    if (channel === 'reasoning') {
      emit('reasoning', text);
      continue;
    }
    const r = matcher.push(text);
    emit('content', r.text);
    if (r.stopped) {
      finish = 'stop';
      return { ...out, finish, tokens };
    }
  }
  const tail = matcher.flush();
  emit('content', tail.text);
  return { ...out, finish: tail.stopped ? 'stop' : finish, tokens };
}
