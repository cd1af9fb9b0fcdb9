import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ChatMessage } from '../data/chat-template.js';
import { encodeMessages } from '../data/prompt.js';
import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { readModelCard, type ModelCardSummary } from '../io/model-card.js';
import { resolveModel } from '../io/resolve-model.js';
import { answerBudget, cutMark, defaultMaxTokens, type CutMark } from './answer-budget.js';
import { generate, type GenerateEvent, type GenerateOptions, type GenerateStats } from './generate.js';
import { openModel } from './open-model.js';
import { READ_LIMITS, readTextFile } from '../io/read-file.js';

/**
 * A chat conversation with one model: the API the chat views (and the headless `ponder chat
 * --prompt`) talk to. The session keeps the messages and the sampling settings, turns each `send`
 * into a stream of events (notice / token / done), can be stopped mid-answer, and saves and loads
 * conversations as one JSONL line in the SFT format `{"messages":[...]}`.
 *
 * Context accounting: before each answer the whole conversation is encoded; if the prompt plus a
 * reserve for the answer would not fit the model's context, the oldest turns (a user message and the
 * replies up to the next user message) are dropped — the system message is kept — and a notice says
 * how many. The conversation then really forgets them, so the next prompt is the same one the user saw
 * being answered.
 *
 * Turns and the conversation: an answer belongs to the conversation it was asked in. `reset` and
 * `load` start a new one (they stop the answer being generated); that answer then ends with a `done`
 * event marked `discarded` and is never added to the new conversation, and neither is its user
 * message. `switchModel` keeps the conversation: it stops the answer (kept, as stopped) and waits for
 * it to end before freeing the old model. `save` writes only finished turns (never a user message
 * still being answered) and refuses a conversation without a user turn.
 *
 * The session talks to the model through a `ChatBackend` (encode + generate), so its logic is tested
 * without a GPU; `ChatSession.open` builds the real backend from a `--model` spec.
 */

export interface ChatSettings {
  /** system message (not part of `messages`; prepended to every prompt) */
  system?: string;
  temperature: number;
  topP?: number;
  topK?: number;
  minP?: number;
  /** longest answer in tokens; unset: the default rule (half the context, at most 512; answer-budget.ts) */
  maxTokens?: number;
  seed: number;
  /** ask the chat template for a reasoning block (Qwen3's enable_thinking) */
  think: boolean;
  /** draft with the model's MTP modules (used when the model has them): all of them, the first N, none, or all when greedy ('greedy') */
  mtp: boolean | number | 'greedy';
}

// mtp drafts greedy answers: it only acts for a model with MTP layers, and then changes nothing but
// speed (greedy answers are the same text, sampled ones have the same distribution); sampled
// drafting is slower than plain sampling on a software adapter (cli/mtp-flag.ts)
export const DEFAULT_CHAT_SETTINGS: ChatSettings = { temperature: 0.7, seed: 0, think: true, mtp: 'greedy' };

export interface ChatInfo {
  /** the --model spec the session was opened with */
  model: string;
  /** the GPU adapter, in words */
  adapter: string;
  /** the model's context length in tokens */
  contextLimit: number;
  /** the model's MTP modules (0: none, so /mtp has nothing to draft with) */
  mtpLayers: number;
  /** what the model is for and a prompt to try, from its card (README.md) */
  card?: ModelCardSummary;
}

export type ChatEvent =
  | { type: 'notice'; text: string }
  /** budget: the most new tokens this answer may have (min(max tokens, context − prompt)) */
  | { type: 'start'; promptTokens: number; budget: number }
  | { type: 'token'; text: string }
  /** discarded: the conversation was reset (or replaced) while this answer streamed; it was not kept */
  /** cut: the answer hit its budget (max tokens, or the end of the context) instead of ending by itself */
  | { type: 'done'; text: string; stats: GenerateStats; discarded?: boolean; cut?: CutMark };

/** What a chat view needs from a session. `ChatSession` is one; tests pass a fake. */
export interface ChatSessionLike {
  readonly info: ChatInfo;
  readonly settings: Readonly<ChatSettings>;
  readonly messages: readonly ChatMessage[];
  /** tokens of the last prompt plus its answer (0 before the first answer) */
  readonly contextUsed: number;
  readonly lastStats: GenerateStats | undefined;
  /** milliseconds from sending the last message to its answer's first token (prompt encoding and prefill) */
  readonly lastTimeToFirstTokenMs: number | undefined;
  /** the answer limit in force: settings.maxTokens, else the default rule for this model's context */
  readonly maxTokens: number;
  readonly busy: boolean;
  /**
   * Adds `text` as a user message and streams the answer; the answer is added when done (also when
   * stopped), unless the conversation was reset meanwhile (then `done` has `discarded: true`).
   */
  send(text: string): AsyncGenerator<ChatEvent>;
  /** Stops the answer being generated (no-op when idle). */
  stop(): void;
  /** Starts an empty conversation; an answer being generated is stopped and discarded. */
  reset(): void;
  setSettings(patch: Partial<ChatSettings>): void;
  /**
   * Appends the finished turns of the conversation as one JSONL line (never a turn still being
   * answered); returns the number of messages written. Throws when there is no user turn to save.
   */
  save(file: string): number;
  /** Replaces the conversation with the last JSONL line of `file`; returns the number of messages read. */
  load(file: string): number;
  /** Opens another model (the conversation is kept). */
  switchModel(spec: string): Promise<void>;
}

/** What a session needs from a model. */
export interface ChatBackend {
  readonly info: ChatInfo;
  encode(messages: ChatMessage[], opts: { enableThinking?: boolean }): number[];
  generate(promptIds: number[], opts: GenerateOptions): AsyncGenerator<GenerateEvent>;
  /** ids of <think> / </think> when the vocabulary has them (decoded text may skip special tokens) */
  readonly thinkIds?: { open?: number; close?: number };
  /** the model's own sampling defaults (generation_config.json); settings given to the session win */
  readonly sampling?: Partial<Pick<ChatSettings, 'temperature' | 'topK' | 'topP' | 'minP'>>;
  dispose(): void;
}

export type BackendOpener = (spec: string) => Promise<ChatBackend>;

export class ChatSession implements ChatSessionLike {
  private backend: ChatBackend;
  private readonly openBackend?: BackendOpener;
  private history: ChatMessage[] = [];
  private current: AbortController | undefined;
  /** resolves when the answer being generated has ended (undefined when idle) */
  private currentEnded: Promise<void> | undefined;
  /** bumped by reset/load/switchModel: a turn asked in an older conversation is not recorded */
  private conversationId = 0;
  settings: ChatSettings;
  contextUsed = 0;
  lastStats: GenerateStats | undefined;
  lastTimeToFirstTokenMs: number | undefined;

  constructor(backend: ChatBackend, opts: { settings?: Partial<ChatSettings>; openBackend?: BackendOpener } = {}) {
    this.backend = backend;
    this.openBackend = opts.openBackend;
    // ponder's defaults < the model's generation_config.json < what the caller set (unset keys skipped)
    this.settings = { ...DEFAULT_CHAT_SETTINGS, ...definedOnly(backend.sampling ?? {}), ...definedOnly(opts.settings ?? {}) };
  }

  /** A session on a real model: `spec` as `--model` takes it. Throws NOT_FOUND (one line) when there is none. */
  static async open(gpu: Gpu, spec: string, settings: Partial<ChatSettings> = {}): Promise<ChatSession> {
    const opener: BackendOpener = (s) => openModelBackend(gpu, s);
    return new ChatSession(await opener(spec), { settings, openBackend: opener });
  }

  get info(): ChatInfo {
    return this.backend.info;
  }
  get messages(): readonly ChatMessage[] {
    return this.history;
  }
  get busy(): boolean {
    return this.current !== undefined;
  }

  setSettings(patch: Partial<ChatSettings>): void {
    this.settings = { ...this.settings, ...patch };
  }

  reset(): void {
    this.stop();
    this.conversationId++;
    this.history = [];
    this.contextUsed = 0;
    this.lastStats = undefined;
    this.lastTimeToFirstTokenMs = undefined;
  }

  /** The answer limit in force: --max-tokens / /max-tokens, else the default rule for this model's context. */
  get maxTokens(): number {
    return this.settings.maxTokens ?? defaultMaxTokens(this.info.contextLimit);
  }

  stop(): void {
    this.current?.abort();
  }

  async *send(text: string): AsyncGenerator<ChatEvent> {
    if (this.current) throw new PonderError('BAD_INPUT', 'an answer is still being generated');
    if (text.trim() === '') throw new PonderError('BAD_INPUT', 'the message is empty');
    const abort = new AbortController();
    this.current = abort;
    let ended!: () => void;
    this.currentEnded = new Promise<void>((r) => (ended = r));
    const conversation = this.conversationId;
    const stillOurs = () => this.conversationId === conversation;
    const sentAt = performance.now();
    let firstTokenMs: number | undefined;
    this.history.push({ role: 'user', content: text });
    try {
      const fitted = this.fitContext();
      if (fitted.dropped > 0) {
        yield { type: 'notice', text: `context full: dropped the oldest ${fitted.dropped} message${fitted.dropped > 1 ? 's' : ''} (limit ${this.info.contextLimit} tokens)` };
      }
      const ids = fitted.ids;
      const maxTokens = this.maxTokens;
      yield { type: 'start', promptTokens: ids.length, budget: answerBudget(maxTokens, this.info.contextLimit, ids.length) };
      // A template that opens the reasoning block itself (DeepSeek-R1 style) leaves the answer inside it.
      let answer = this.opensThinking(ids) ? '<think>' : '';
      if (answer) yield { type: 'token', text: answer };
      const s = this.settings;
      // MTP drafting needs MTP layers; otherwise answers decode plainly
      const mtp = s.mtp === false || this.info.mtpLayers === 0 ? undefined : s.mtp === true || s.mtp === 'greedy' ? s.mtp : Math.min(s.mtp, this.info.mtpLayers);
      // generate caps the answer at the context's end itself (and then reports stop_reason 'context')
      const opts: GenerateOptions = { maxTokens, temperature: s.temperature, topP: s.topP, topK: s.topK, minP: s.minP, seed: s.seed, signal: abort.signal, mtp };
      for await (const ev of this.backend.generate(ids, opts)) {
        if (ev.type === 'token') {
          firstTokenMs ??= performance.now() - sentAt;
          const piece = this.withThinkTags(ev.id, ev.text);
          if (piece === '') continue;
          answer += piece;
          yield { type: 'token', text: piece };
        } else if (!stillOurs()) {
          yield { type: 'done', text: answer, stats: ev.stats, discarded: true };
        } else {
          this.history.push({ role: 'assistant', content: answer });
          this.contextUsed = ids.length + ev.ids.length;
          this.lastStats = ev.stats;
          this.lastTimeToFirstTokenMs = firstTokenMs;
          yield { type: 'done', text: answer, stats: ev.stats, cut: cutMark(ev.stats.stop_reason) };
        }
      }
    } catch (e) {
      // a failed turn leaves no half conversation behind: drop the unanswered user message
      const last = this.history[this.history.length - 1];
      if (stillOurs() && last?.role === 'user' && last.content === text) this.history.pop();
      throw e;
    } finally {
      this.current = undefined;
      this.currentEnded = undefined;
      ended();
    }
  }

  save(file: string): number {
    // a turn still being answered is not saved: its user message would go without its answer
    const finished = this.busy ? this.history.slice(0, this.history.length - 1) : this.history;
    if (!finished.some((m) => m.role === 'user')) throw new PonderError('BAD_INPUT', 'nothing to save: the conversation has no finished turn');
    const sys = this.settings.system;
    const messages = sys ? [{ role: 'system', content: sys }, ...finished] : [...finished];
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, JSON.stringify({ messages }) + '\n');
    return messages.length;
  }

  load(file: string): number {
    // a regular file of bounded size only: /load of a FIFO or /dev/zero must not hang the app
    const text = readTextFile(file, { what: 'conversation file', maxBytes: READ_LIMITS.document, fatal: true });
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) throw new PonderError('BAD_INPUT', `${file} is empty`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(lines[lines.length - 1]!);
    } catch {
      throw new PonderError('BAD_INPUT', `${file}:${lines.length}: not valid JSON`);
    }
    const messages = (parsed as { messages?: unknown })?.messages;
    if (!Array.isArray(messages) || !messages.every((m) => typeof m?.role === 'string' && typeof m?.content === 'string')) {
      throw new PonderError('BAD_INPUT', `${file}:${lines.length}: expected {"messages":[{"role":..., "content":...}, ...]}`);
    }
    this.stop();
    this.conversationId++;
    const system = messages[0]?.role === 'system' ? (messages[0].content as string) : undefined;
    this.history = (system !== undefined ? messages.slice(1) : messages).map((m) => ({ role: m.role as string, content: m.content as string }));
    this.settings = { ...this.settings, system };
    this.contextUsed = 0;
    return messages.length;
  }

  async switchModel(spec: string): Promise<void> {
    if (!this.openBackend) throw new PonderError('BAD_INPUT', 'this session cannot open other models');
    const next = await this.openBackend(spec);
    // the answer being generated still runs on the old model: stop it (it is kept, as stopped) and let
    // it end before the old model is freed
    this.stop();
    await this.currentEnded;
    this.backend.dispose();
    this.backend = next;
    this.contextUsed = 0;
  }

  /** Frees the model (the session is unusable afterwards). */
  dispose(): void {
    this.stop();
    this.backend.dispose();
  }

  /** The conversation as the model sees it: system message first (if any). */
  conversation(): ChatMessage[] {
    const sys = this.settings.system;
    return sys ? [{ role: 'system', content: sys }, ...this.history] : [...this.history];
  }

  /**
   * Encodes the conversation, dropping the oldest turns until the prompt leaves room for the answer
   * (the answer's reserve is max-tokens, capped at half the context so long answers do not evict a
   * whole conversation). Throws when the last user message alone does not fit.
   */
  private fitContext(): { ids: number[]; dropped: number } {
    const limit = this.info.contextLimit;
    const reserve = Math.max(1, Math.min(this.maxTokens, Math.floor(limit / 2)));
    let dropped = 0;
    for (;;) {
      const ids = this.backend.encode(this.conversation(), { enableThinking: this.settings.think });
      if (ids.length + reserve <= limit) return { ids, dropped };
      // drop the oldest turn: the first message and everything up to the next user message
      let cut = 1;
      while (cut < this.history.length && this.history[cut]!.role !== 'user') cut++;
      if (cut >= this.history.length) {
        if (ids.length < limit) return { ids, dropped }; // only the new message left: answer in what remains
        throw new PonderError('BAD_INPUT', `the message is ${ids.length} tokens; this model's context is ${limit}`);
      }
      this.history.splice(0, cut);
      dropped += cut;
    }
  }

  private opensThinking(ids: number[]): boolean {
    const { open, close } = this.backend.thinkIds ?? {};
    if (open === undefined) return false;
    const tail = ids.slice(-4);
    const at = tail.lastIndexOf(open);
    return at >= 0 && (close === undefined || !tail.slice(at).includes(close));
  }

  /** The stream decoder skips special tokens; <think> / </think> are kept so the views can fold reasoning. */
  private withThinkTags(id: number, text: string): string {
    const t = this.backend.thinkIds;
    if (t?.open === id && !text.includes('<think>')) return '<think>' + text;
    if (t?.close === id && !text.includes('</think>')) return '</think>' + text;
    return text;
  }
}

/** The real backend: a model opened on `gpu` with its tokenizer and chat template. */
export async function openModelBackend(gpu: Gpu, spec: string): Promise<ChatBackend> {
  const { model, tokenizer, config, sampling } = await openModel(gpu, spec);
  const card = readModelCard(resolveModel(spec).dir);
  const info: ChatInfo = { model: spec, adapter: adapterName(gpu), contextLimit: config.max_position_embeddings, mtpLayers: config.num_nextn_predict_layers, card };
  return {
    info,
    thinkIds: { open: tokenizer.specialTokens.think, close: tokenizer.specialTokens.end_think },
    sampling,
    encode: (messages, opts) => encodeMessages(tokenizer, messages, opts),
    generate: (ids, opts) => generate(gpu, model, tokenizer, ids, opts),
    dispose: () => model.dispose(),
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function adapterName(gpu: Gpu): string {
  const i = gpu.info;
  return i.description || i.device || i.vendor || i.backend || 'unknown adapter';
}
