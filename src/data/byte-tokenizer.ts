/**
 * The built-in byte-level tokenizer for models ponder trains from scratch. No vocabulary file, no
 * merges: every UTF-8 byte is a token, which keeps tiny models honest (nothing is out of vocabulary)
 * at the price of longer sequences.
 *
 * Id layout (fixed; checkpoints depend on it, so never reorder):
 *
 *   0..255  the raw byte with that value
 *   256     <|pad|>       padding, never trained on
 *   257     <|bos|>       start of a document
 *   258     <|eos|>       end of a document
 *   259     <|im_start|>  start of a chat turn, followed by the role and '\n'
 *   260     <|im_end|>    end of a chat turn
 *   261     <think>       start of the reasoning block
 *   262     </think>      end of the reasoning block
 *
 *   vocabSize = 263
 *
 * Chat format (the template ponder's own models are trained on; `BYTE_CHAT_TEMPLATE` is the same thing
 * as a Jinja template for `renderChat`):
 *
 *   <|im_start|>system\n{content}<|im_end|>\n
 *   <|im_start|>user\n{content}<|im_end|>\n
 *   <|im_start|>assistant\n                      <- generation prompt
 *
 * With thinking on (the default) nothing more is added: the model writes <think>...</think> itself.
 * With thinking off the prompt ends in an empty block, `<think>\n\n</think>\n\n` (Qwen3's convention),
 * so the model answers directly.
 *
 * Reasoning in assistant turns: an assistant message whose content starts with `<think>` and holds a
 * later `</think>` is encoded with the two special ids for those markers (the rest stays bytes). This is
 * what the model itself emits, so SFT data written as text (`"<think>\n...\n</think>\nThe answer..."`)
 * trains the same ids generation produces, and a chat history that stored the reasoning as text is
 * re-encoded as the model wrote it. Only that leading block is mapped, and only in assistant turns: a
 * user can still not forge structure, and the markers elsewhere stay bytes.
 */
import { TextDecoder } from 'node:util';
import { PonderError } from '../errors.js';
import { REPLACEMENT_CHAR, type DecodeOptions, type EncodeOptions, type StreamDecoder, type Tokenizer } from './tokenizer.js';

export const BYTE_SPECIAL_TOKENS = {
  pad: 256,
  bos: 257,
  eos: 258,
  im_start: 259,
  im_end: 260,
  think: 261,
  end_think: 262,
} as const;

/** The text form of each special id, in id order starting at 256. */
export const BYTE_SPECIAL_STRINGS: readonly string[] = ['<|pad|>', '<|bos|>', '<|eos|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>'];

export const BYTE_VOCAB_SIZE = 256 + BYTE_SPECIAL_STRINGS.length; // 263

export const BYTE_CHAT_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}" +
  "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}";

export interface ByteChatMessage {
  role: string;
  content: string;
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';
const SPECIAL_BY_STRING = new Map<string, number>(BYTE_SPECIAL_STRINGS.map((s, i) => [s, 256 + i]));
// Longest first so that no special string can shadow a longer one sharing its prefix.
const SPECIAL_RE = new RegExp(
  [...BYTE_SPECIAL_STRINGS].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'),
  'g',
);

const utf8 = new TextEncoder();

function newDecoder(): TextDecoder {
  // fatal: false -> invalid sequences become U+FFFD; ignoreBOM: a leading U+FEFF is content, keep it.
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
}

function pushBytes(out: number[], text: string): void {
  for (const b of utf8.encode(text)) out.push(b);
}

export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = BYTE_VOCAB_SIZE;
  readonly specialTokens: Record<string, number> = { ...BYTE_SPECIAL_TOKENS };
  /** Generation stops at the end of a document or at the end of the assistant's turn. */
  readonly eosIds: number[] = [BYTE_SPECIAL_TOKENS.eos, BYTE_SPECIAL_TOKENS.im_end];
  readonly chatTemplate = BYTE_CHAT_TEMPLATE;
  readonly bosToken = '<|bos|>';
  readonly eosToken = '<|eos|>';

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.addSpecialTokens) out.push(BYTE_SPECIAL_TOKENS.bos);
    if (!opts.parseSpecialTokens) {
      pushBytes(out, text);
      return out;
    }
    let last = 0;
    for (const m of text.matchAll(SPECIAL_RE)) {
      pushBytes(out, text.slice(last, m.index));
      out.push(SPECIAL_BY_STRING.get(m[0])!);
      last = m.index + m[0].length;
    }
    pushBytes(out, text.slice(last));
    return out;
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    const dec = newDecoder();
    let text = '';
    let bytes: number[] = [];
    const flushBytes = () => {
      if (bytes.length > 0) text += dec.decode(Uint8Array.from(bytes));
      bytes = [];
    };
    for (const id of ids) {
      if (Number.isInteger(id) && id >= 0 && id < 256) {
        bytes.push(id);
        continue;
      }
      flushBytes();
      text += this.specialText(id, opts.skipSpecialTokens ?? false);
    }
    flushBytes();
    return text;
  }

  createStreamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    let dec = newDecoder();
    const skip = opts.skipSpecialTokens ?? false;
    return {
      push: (id: number): string => {
        if (Number.isInteger(id) && id >= 0 && id < 256) return dec.decode(Uint8Array.of(id), { stream: true });
        // A special token ends any unfinished character: flush it (as U+FFFD) before the token's text.
        const pending = dec.decode();
        return pending + this.specialText(id, skip);
      },
      flush: (): string => {
        const pending = dec.decode();
        dec = newDecoder();
        return pending;
      },
    };
  }

  tokenToId(token: string): number | undefined {
    const special = SPECIAL_BY_STRING.get(token);
    if (special !== undefined) return special;
    const bytes = utf8.encode(token);
    return bytes.length === 1 ? bytes[0] : undefined;
  }

  /**
   * Encodes a conversation in the chat format above without ever parsing special tokens inside message
   * contents: the structure comes from ids, the contents are bytes. Prefer this to
   * `encode(renderChat(...), { parseSpecialTokens: true })`, which would let a message forge turns.
   */
  encodeChat(messages: readonly ByteChatMessage[], opts: { addGenerationPrompt?: boolean; enableThinking?: boolean } = {}): number[] {
    const { im_start, im_end, think, end_think } = BYTE_SPECIAL_TOKENS;
    const out: number[] = [];
    for (const m of messages) {
      if (typeof m.role !== 'string' || typeof m.content !== 'string') {
        throw new PonderError('BAD_INPUT', 'chat message needs a string role and content');
      }
      out.push(im_start);
      pushBytes(out, `${m.role}\n`);
      const close = m.role === 'assistant' && m.content.startsWith(THINK_OPEN) ? m.content.indexOf(THINK_CLOSE, THINK_OPEN.length) : -1;
      if (close >= 0) {
        out.push(think);
        pushBytes(out, m.content.slice(THINK_OPEN.length, close));
        out.push(end_think);
        pushBytes(out, m.content.slice(close + THINK_CLOSE.length));
      } else pushBytes(out, m.content);
      out.push(im_end);
      pushBytes(out, '\n');
    }
    if (opts.addGenerationPrompt) {
      out.push(im_start);
      pushBytes(out, 'assistant\n');
      if (opts.enableThinking === false) {
        out.push(think);
        pushBytes(out, '\n\n');
        out.push(end_think);
        pushBytes(out, '\n\n');
      }
    }
    return out;
  }

  private specialText(id: number, skip: boolean): string {
    if (Number.isInteger(id) && id >= 256 && id < BYTE_VOCAB_SIZE) return skip ? '' : BYTE_SPECIAL_STRINGS[id - 256]!;
    return REPLACEMENT_CHAR; // outside the vocabulary (e.g. a padded output layer): never throw while decoding
  }
}

/**
 * The byte tokenizer as Hugging Face tokenizer files, for `ponder export`: a `tokenizer.json` that
 * @huggingface/tokenizers (and transformers' fast tokenizers) load and that gives the same ids, and a
 * `tokenizer_config.json` with the chat template and the bos/eos/pad tokens.
 *
 * How the ids come out the same: HF's ByteLevel pre-tokenizer writes every byte of the text as one
 * printable character (GPT-2's byte-to-unicode table: the printable Latin-1 bytes stand for
 * themselves, the other 68 bytes are mapped to U+0100 upwards, in byte order); a BPE model whose
 * vocabulary is exactly those 256 characters, each with its byte's id, and which has no merges, turns
 * each of them back into one token: id = byte, as here. The special strings are added tokens with ids
 * 256..262, all `special: true`; `<|bos|>` is prepended by a TemplateProcessing post-processor when
 * special tokens are added (as `encode(text, { addSpecialTokens: true })` does here). The ByteLevel
 * decoder maps the characters back to bytes.
 *
 * One difference stays: HF tokenizers match added tokens in any text they are asked to parse, while
 * `encodeChat` takes structure only from ids (a `<think>` inside a user message stays bytes here). A
 * conversation rendered with the chat template and encoded with special tokens parsed gives the same
 * ids as `encodeChat` unless a message's content itself contains one of the special strings.
 */
export function byteTokenizerHfFiles(): { tokenizer: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const vocab: Record<string, number> = {};
  const chars = byteLevelChars();
  for (let b = 0; b < 256; b++) vocab[chars[b]!] = b;
  const added = BYTE_SPECIAL_STRINGS.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|bos|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<|bos|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|bos|>': { id: '<|bos|>', ids: [BYTE_SPECIAL_TOKENS.bos], tokens: ['<|bos|>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: '<|bos|>',
    eos_token: '<|eos|>',
    pad_token: '<|pad|>',
    add_bos_token: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 1_000_000,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...t }) => [String(id), t])),
    chat_template: BYTE_CHAT_TEMPLATE,
  };
  return { tokenizer, tokenizerConfig };
}

/** GPT-2's byte-to-unicode table: printable bytes stand for themselves, the rest map to U+0100.. in order. */
function byteLevelChars(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let next = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + next++));
  return out;
}
