/**
 * The two text filters between the engine's token pieces and an OpenAI choice:
 *
 * - `ReasoningRouter`: the model's <think> ... </think> ids switch the pieces between the
 *   `reasoning_content` channel and the `content` channel (the decoder skips special tokens, so the
 *   ids, not the text, carry the tags). Leading whitespace of each channel is dropped: the model
 *   writes a newline after each tag.
 * - `StopMatcher`: OpenAI `stop` strings on a stream. Text is held back while its end could still be
 *   the start of a stop string; at the first occurrence the text is cut there and the choice ends.
 *   Algorithm: buffer += piece; if a stop string occurs, emit up to its earliest start and stop;
 *   otherwise emit all but the longest buffer suffix that is a proper prefix of some stop string.
 */

export type Channel = 'content' | 'reasoning';

export class ReasoningRouter {
  private channel: Channel;
  private started: Record<Channel, boolean> = { content: false, reasoning: false };

  constructor(
    private readonly thinkIds: { open?: number; close?: number },
    /** the prompt already opened the reasoning block (a template ending in <think>) */
    startsInReasoning = false,
  ) {
    this.channel = startsInReasoning ? 'reasoning' : 'content';
  }

  /** The channel a token's text goes to ('' text for the tags themselves). */
  route(id: number, text: string): { channel: Channel; text: string } {
    if (id === this.thinkIds.open && id !== undefined) this.channel = 'reasoning';
    else if (id === this.thinkIds.close && id !== undefined) this.channel = 'content';
    let out = text;
    if (!this.started[this.channel]) {
      out = out.replace(/^\s+/, '');
      if (out !== '') this.started[this.channel] = true;
    }
    return { channel: this.channel, text: out };
  }
}

export class StopMatcher {
  private held = '';
  private stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  get hasStopped(): boolean {
    return this.stopped;
  }

  /** Feeds a piece; returns the text now safe to emit and whether a stop string was reached. */
  push(piece: string): { text: string; stopped: boolean } {
    if (this.stopped) return { text: '', stopped: true };
    const buf = this.held + piece;
    let cut = -1;
    for (const s of this.stops) {
      const at = buf.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.held = '';
      return { text: buf.slice(0, cut), stopped: true };
    }
    let keep = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, buf.length); k > keep; k--) {
        if (buf.endsWith(s.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** At the end of the sequence: the held-back text (it never became a stop string). */
  flush(): string {
    const out = this.held;
    this.held = '';
    return out;
  }
}
