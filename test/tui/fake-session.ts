import type { ChatMessage } from '../../src/data/chat-template.js';
import { DEFAULT_CHAT_SETTINGS, type ChatEvent, type ChatInfo, type ChatSessionLike, type ChatSettings } from '../../src/engine/chat.js';
import { cutMark } from '../../src/engine/answer-budget.js';
import type { GenerateStats } from '../../src/engine/generate.js';

/**
 * A ChatSession stand-in for view tests (no GPU): the test decides when each token arrives with
 * `token(text)` and ends the answer with `finish()`; `stop()` ends it as 'aborted', like the engine;
 * `reset()` / `load()` during an answer discard it, as ChatSession does.
 */
export class FakeSession implements ChatSessionLike {
  info: ChatInfo = { model: 'fake-model', adapter: 'fake adapter', contextLimit: 128, mtpLayers: 0 };
  settings: ChatSettings = { ...DEFAULT_CHAT_SETTINGS };
  messages: ChatMessage[] = [];
  contextUsed = 0;
  lastStats: GenerateStats | undefined;
  lastTimeToFirstTokenMs: number | undefined;
  busy = false;
  sent: string[] = [];
  stopCalls = 0;
  savedTo: string[] = [];
  private pending: ChatEvent[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private endReason: GenerateStats['stop_reason'] = 'stop';
  private aborted = false;
  private conversationId = 0;

  token(text: string): void {
    this.pending.push({ type: 'token', text });
    this.wake?.();
  }
  notice(text: string): void {
    this.pending.push({ type: 'notice', text });
    this.wake?.();
  }
  /** ends the answer; 'length' / 'context' mark it cut, as the engine's budget does */
  finish(reason: 'stop' | 'length' | 'context' = 'stop'): void {
    this.ended = true;
    this.endReason = reason;
    this.wake?.();
  }

  async *send(text: string): AsyncGenerator<ChatEvent> {
    this.sent.push(text);
    const conversation = this.conversationId;
    this.messages.push({ role: 'user', content: text });
    this.busy = true;
    this.ended = false;
    this.endReason = 'stop';
    this.aborted = false;
    let answer = '';
    try {
      yield { type: 'start', promptTokens: 10, budget: Math.min(this.maxTokens, this.info.contextLimit - 10) };
      for (;;) {
        while (this.pending.length > 0) {
          const ev = this.pending.shift()!;
          if (ev.type === 'token') answer += ev.text;
          yield ev;
        }
        if (this.ended || this.aborted) break;
        await new Promise<void>((r) => (this.wake = r));
      }
      const stats: GenerateStats = {
        prompt_tokens: 10,
        new_tokens: answer.length,
        prefill_ms: 1,
        decode_ms: 1,
        prefill_tokens_per_s: 1000,
        tokens_per_s: 42,
        stop_reason: this.aborted ? 'aborted' : this.endReason,
      };
      if (conversation !== this.conversationId) {
        yield { type: 'done', text: answer, stats, discarded: true };
        return;
      }
      this.messages.push({ role: 'assistant', content: answer });
      this.lastStats = stats;
      this.lastTimeToFirstTokenMs = 12;
      this.contextUsed = 10 + answer.length;
      yield { type: 'done', text: answer, stats, cut: cutMark(stats.stop_reason) };
    } finally {
      this.busy = false;
    }
  }
  get maxTokens(): number {
    return this.settings.maxTokens ?? 64;
  }
  stop(): void {
    this.stopCalls++;
    this.aborted = true;
    this.wake?.();
  }
  reset(): void {
    if (this.busy) this.stop();
    this.conversationId++;
    this.messages = [];
    this.contextUsed = 0;
  }
  setSettings(patch: Partial<ChatSettings>): void {
    this.settings = { ...this.settings, ...patch };
  }
  /** what each save wrote (like ChatSession: finished turns only, and never without a user turn) */
  saved: ChatMessage[][] = [];
  save(file: string): number {
    const finished = this.busy ? this.messages.slice(0, -1) : this.messages;
    if (!finished.some((m) => m.role === 'user')) throw new Error('nothing to save: the conversation has no finished turn');
    this.savedTo.push(file);
    this.saved.push(finished.map((m) => ({ ...m })));
    return finished.length;
  }
  load(_file: string): number {
    if (this.busy) this.stop();
    this.conversationId++;
    this.messages = [
      { role: 'user', content: 'loaded question' },
      { role: 'assistant', content: 'loaded answer' },
    ];
    return 2;
  }
  async switchModel(spec: string): Promise<void> {
    this.info = { ...this.info, model: spec };
  }
}
