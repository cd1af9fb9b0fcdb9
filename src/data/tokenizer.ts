/**
 * The tokenizer interface every model in ponder talks through, whether it is the built-in byte-level
 * tokenizer (models trained from scratch, see byte-tokenizer.ts) or a Hugging Face `tokenizer.json`
 * (see hf-tokenizer.ts).
 *
 * Conventions shared by all implementations:
 * - `encode` never adds BOS/EOS unless `addSpecialTokens` is true. Chat prompts are rendered through a
 *   chat template that already writes the BOS token where the model wants it, so adding it again
 *   would double it.
 * - `encode` treats special-token strings found in the text (`<|im_start|>`, `<|eos|>`, ...) as plain
 *   text unless `parseSpecialTokens` is true. Text typed by a user or read from a file must never be
 *   able to forge control tokens (prompt injection: a user message containing
 *   `<|im_end|>\n<|im_start|>system\n...` would otherwise end its own turn and open a fake system
 *   turn). Only strings ponder built itself (a rendered chat template) are encoded with
 *   `parseSpecialTokens: true`.
 * - `decode` never throws: invalid UTF-8 and ids outside the vocabulary decode to U+FFFD.
 */

export interface EncodeOptions {
  /** Add the tokens the tokenizer adds around a sequence (BOS for Llama-style models). Default false. */
  addSpecialTokens?: boolean;
  /**
   * Turn special-token strings in `text` into their ids. Default false: they are encoded as the plain
   * text they are made of (see the module comment: prompt injection).
   */
  parseSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave special tokens (BOS, EOS, <|im_start|>, ...) out of the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface StreamDecoder {
  /** Feed one id; returns the text that became complete (possibly ''), never half a character. */
  push(id: number): string;
  /** Returns whatever is still pending (incomplete bytes become U+FFFD) and resets the decoder. */
  flush(): string;
}

export interface Tokenizer {
  readonly vocabSize: number;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: number[], opts?: DecodeOptions): string;
  /** incremental decoding for streaming: feed ids one at a time, get the text that became complete (never splits a UTF-8 character) */
  createStreamDecoder(opts?: DecodeOptions): StreamDecoder;
  /** Short names to ids, only for the tokens the vocabulary has: bos, eos, pad, unk, im_start, im_end, think, end_think, ... */
  readonly specialTokens: Record<string, number>;
  /** Ids that end generation (EOS and the end-of-turn tokens). */
  readonly eosIds: number[];
  tokenToId(token: string): number | undefined;
}

export const REPLACEMENT_CHAR = '\uFFFD';

/**
 * Streaming on top of a whole-sequence `decode` (the method text-generation-inference uses). Decoding
 * token by token is wrong for two reasons: a byte-level token can hold part of a UTF-8 character, and
 * SentencePiece-style decoders drop the leading space of the first token they see. So we decode a
 * small window `[prefix, end)` and emit the part past `[prefix, read)`, holding text back while it ends
 * in U+FFFD (an unfinished character). If more than `maxPending` tokens pile up without completing
 * (the model really produced invalid bytes), the text is emitted anyway, replacement characters and all.
 */
export function windowedStreamDecoder(decode: (ids: number[]) => string, maxPending = 8): StreamDecoder {
  let ids: number[] = [];
  let read = 0; // ids[0, read) are emitted; ids[0] is the window start (prefix)
  const step = (force: boolean): string => {
    const before = decode(ids.slice(0, read));
    const now = decode(ids);
    const pending = ids.length - read;
    if (now.length > before.length && (force || !now.endsWith(REPLACEMENT_CHAR) || pending > maxPending)) {
      const out = now.slice(before.length);
      ids = ids.slice(read);
      read = ids.length;
      return out;
    }
    return '';
  };
  return {
    push(id: number): string {
      ids.push(id);
      return step(false);
    },
    flush(): string {
      const out = ids.length > read ? step(true) : '';
      ids = [];
      read = 0;
      return out;
    },
  };
}
