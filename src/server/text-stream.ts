/**
 * The two text filters between the engine's token pieces and an OpenAI choice:
 *
 * - `ReasoningRouter`: the model's <think> ... </think> ids switch the pieces between the
 *   `reasoning_content` channel and the `content` channel (the decoder skips special tokens, so the
 *   ids, not the text, carry the tags). Leading whitespace of each channel is dropped: the model
 *   writes a newline after each tag.
 * - `StopMatcher`: OpenAI `stop` strings on a stream. Text is held back while its end could still be
 *   the start of a stop string; at the first occurrence the text is cut there and the choice ends.
 *   Algorithm: buffer += piece; find the earliest complete occurrence of any stop string and the
 *   earliest position from which the rest of the buffer is a proper prefix of some stop string (a
 *   match that may still complete). An occurrence that starts no later than any such open prefix is
 *   the first in the final text too: cut there and stop. Otherwise emit the text before the open
 *   prefix and hold the rest; at the end, the held text is cut at an occurrence it holds.
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
    const cut = this.firstMatch(buf);
    const open = this.firstOpenPrefix(buf);
    // a complete match wins unless a longer stop string that starts earlier may still complete
    if (cut >= 0 && (open < 0 || cut <= open)) return this.stopAt(buf, cut);
    const keep = open < 0 ? buf.length : open;
    this.held = buf.slice(keep);
    return { text: buf.slice(0, keep), stopped: false };
  }

  /** At the end of the sequence: the held-back text, cut at a stop string it holds (none can grow now). */
  flush(): { text: string; stopped: boolean } {
    if (this.stopped) return { text: '', stopped: true };
    const buf = this.held;
    this.held = '';
    const cut = this.firstMatch(buf);
    return cut >= 0 ? this.stopAt(buf, cut) : { text: buf, stopped: false };
  }

  private stopAt(buf: string, cut: number): { text: string; stopped: boolean } {
    this.stopped = true;
    this.held = '';
    return { text: buf.slice(0, cut), stopped: true };
  }

  /** Where the earliest complete stop string starts, or -1. */
  private firstMatch(buf: string): number {
    let cut = -1;
    for (const s of this.stops) {
      const at = buf.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    return cut;
  }

  /** The earliest position whose rest of the buffer is a proper prefix of some stop string (it may still complete), or -1. */
  private firstOpenPrefix(buf: string): number {
    for (let p = 0; p < buf.length; p++) {
      const tail = buf.slice(p);
      if (this.stops.some((s) => s.length > tail.length && s.startsWith(tail))) return p;
    }
    return -1;
  }
}
