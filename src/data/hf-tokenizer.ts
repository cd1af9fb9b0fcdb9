/**
 * Hugging Face tokenizers (`tokenizer.json` + `tokenizer_config.json`) through @huggingface/tokenizers,
 * the pure-JS implementation transformers.js uses (BPE / WordPiece / Unigram, byte-level and
 * SentencePiece-style pre-tokenizers and decoders). Everything is read from a local directory; nothing
 * is ever downloaded.
 *
 * Files read from the model directory:
 *   tokenizer.json          required: vocabulary, merges, added tokens, pipeline
 *   tokenizer_config.json   required: bos/eos/pad tokens, chat_template, extra added tokens
 *   chat_template.jinja     optional: the chat template, when tokenizer_config.json has none (newer exports)
 *   chat_template.json      optional: `{ "chat_template": ... }`, same purpose (older processor exports)
 *   generation_config.json  optional: `eos_token_id` (number or list) — instruct models often stop on
 *                           more than the tokenizer's eos_token (e.g. Llama 3: <|end_of_text|> and <|eot_id|>)
 *
 * Decoding is lossless: `clean_up_tokenization_spaces` from the config is ignored. It is a BERT-era
 * fix-up (' .' -> '.', " n't" -> "n't") that corrupts text a generative model wrote (Llama 3 ships it
 * on) and makes streamed text disagree with the whole-sequence decode.
 *
 * Special tokens: `parseSpecialTokens: false` (the default, see tokenizer.ts) applies to added tokens
 * marked `special: true`, like transformers' `split_special_tokens=True`. Added tokens marked
 * `special: false` (Qwen3's <think>, </think>) are always recognised, as in every HF tokenizer.
 */
import { join } from 'node:path';
import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { PonderError } from '../errors.js';
import { READ_LIMITS, readTextFile } from '../io/read-file.js';
import { renderChat, type ChatMessage, type RenderChatOptions } from './chat-template.js';
import { REPLACEMENT_CHAR, windowedStreamDecoder, type DecodeOptions, type EncodeOptions, type StreamDecoder, type Tokenizer } from './tokenizer.js';

type Json = Record<string, unknown>;

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  [key: string]: unknown;
}

export interface HfTokenizerSources {
  /** Parsed tokenizer.json. */
  tokenizer: Json;
  /** Parsed tokenizer_config.json. */
  config: Json;
  /** Parsed generation_config.json, if there is one. */
  generationConfig?: Json;
  /** A chat template from chat_template.jinja / chat_template.json, used when the config has none. */
  chatTemplate?: string;
  /** Where the files came from, for error messages. */
  source?: string;
}

/** Well-known special tokens, by the short names `specialTokens` uses. */
const KNOWN_TOKENS: ReadonlyArray<[string, string]> = [
  ['im_start', '<|im_start|>'],
  ['im_end', '<|im_end|>'],
  ['think', '<think>'],
  ['end_think', '</think>'],
  ['endoftext', '<|endoftext|>'],
  ['begin_of_text', '<|begin_of_text|>'],
  ['end_of_text', '<|end_of_text|>'],
  ['start_header', '<|start_header_id|>'],
  ['end_header', '<|end_header_id|>'],
  ['eot', '<|eot_id|>'],
  ['end', '<|end|>'],
  ['start_of_turn', '<start_of_turn>'],
  ['end_of_turn', '<end_of_turn>'],
];
/** Tokens that end an assistant turn in the common chat formats; generation stops on them too. */
const END_OF_TURN = ['<|im_end|>', '<|eot_id|>', '<|end|>', '<end_of_turn>'];

const SENTINEL = '\u0000ponder:sequence\u0000';

/** `eos_token` and friends are either a string or an AddedToken dict `{ content, ... }` (or null). */
function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return null;
}

function pickChatTemplate(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  // A list of named templates: [{ name: 'default', template: '...' }, { name: 'tool_use', ... }]
  if (Array.isArray(v)) {
    const named = v.filter((x): x is { name: string; template: string } => !!x && typeof x.template === 'string');
    return (named.find((x) => x.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly specialTokens: Record<string, number>;
  readonly eosIds: number[];
  readonly chatTemplate: string | undefined;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly unkToken: string | null;
  /** Text of every special token (what `parseSpecialTokens` and `skipSpecialTokens` act on). */
  readonly specialTokenStrings: readonly string[];

  private readonly lib: HfLibTokenizer;
  private readonly tokenizerJson: Json;
  private readonly config: Json;
  private plainLib: HfLibTokenizer | undefined; // same tokenizer with special added tokens not matched
  private wrapIds: { prefix: number[]; suffix: number[] } | undefined;

  constructor(src: HfTokenizerSources) {
    const where = src.source ?? 'tokenizer.json';
    const tok = { ...src.tokenizer };
    const config = src.config;
    // tokenizer_config.json's added_tokens_decoder normally repeats tokenizer.json's added_tokens; keep
    // any it has on top (same id wins from tokenizer.json).
    const added: AddedTokenJson[] = Array.isArray(tok.added_tokens) ? [...(tok.added_tokens as AddedTokenJson[])] : [];
    const decoderMap = config.added_tokens_decoder;
    if (decoderMap && typeof decoderMap === 'object') {
      const have = new Set(added.map((t) => t.id));
      for (const [idStr, t] of Object.entries(decoderMap as Record<string, Json>)) {
        const id = Number(idStr);
        if (!Number.isInteger(id) || have.has(id) || !t || typeof t.content !== 'string') continue;
        added.push({ single_word: false, lstrip: false, rstrip: false, normalized: false, special: false, ...t, id, content: t.content });
      }
    }
    tok.added_tokens = added;
    this.tokenizerJson = tok;
    this.config = config;
    try {
      this.lib = new HfLibTokenizer(tok, config);
    } catch (e) {
      throw new PonderError('BAD_INPUT', `${where}: unsupported or malformed tokenizer (${e instanceof Error ? e.message : String(e)})`);
    }

    const vocab = this.lib.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    const specialSet = new Set<string>();
    for (const t of this.lib.get_added_tokens_decoder().values()) if (t.special) specialSet.add(t.content);
    const extra = config.additional_special_tokens;
    if (Array.isArray(extra)) for (const s of extra) {
      const str = tokenString(s);
      if (str !== null && this.lib.token_to_id(str) !== undefined) specialSet.add(str);
    }
    this.bosToken = tokenString(config.bos_token);
    this.eosToken = tokenString(config.eos_token);
    this.padToken = tokenString(config.pad_token);
    this.unkToken = tokenString(config.unk_token);
    for (const s of [this.bosToken, this.eosToken, this.padToken, this.unkToken]) {
      if (s !== null && this.lib.token_to_id(s) !== undefined) specialSet.add(s);
    }
    this.specialTokenStrings = [...specialSet];

    const specials: Record<string, number> = {};
    const put = (name: string, token: string | null) => {
      const id = token === null ? undefined : this.lib.token_to_id(token);
      if (id !== undefined && !(name in specials)) specials[name] = id;
    };
    put('bos', this.bosToken);
    put('eos', this.eosToken);
    put('pad', this.padToken);
    put('unk', this.unkToken);
    for (const [name, token] of KNOWN_TOKENS) put(name, token);
    this.specialTokens = specials;

    const eos: number[] = [];
    const addEos = (id: unknown) => {
      if (typeof id === 'number' && Number.isInteger(id) && id >= 0 && !eos.includes(id)) eos.push(id);
    };
    addEos(specials.eos);
    const genEos = src.generationConfig?.eos_token_id;
    for (const id of Array.isArray(genEos) ? genEos : [genEos]) addEos(id);
    for (const t of END_OF_TURN) if (specialSet.has(t)) addEos(this.lib.token_to_id(t));
    this.eosIds = eos;

    this.chatTemplate = pickChatTemplate(config.chat_template) ?? src.chatTemplate;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const add = opts.addSpecialTokens ?? false;
    if (opts.parseSpecialTokens || !this.specialTokenStrings.some((s) => text.includes(s))) {
      return this.lib.encode(text, { add_special_tokens: add }).ids;
    }
    const body = this.plain().encode(text, { add_special_tokens: false }).ids;
    if (!add) return body;
    const { prefix, suffix } = this.wrap();
    return [...prefix, ...body, ...suffix];
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    let out = '';
    let run: number[] = [];
    const flush = () => {
      if (run.length > 0) out += this.lib.decode(run, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
      run = [];
    };
    for (const id of ids) {
      if (Number.isInteger(id) && id >= 0 && this.lib.id_to_token(id) !== undefined) {
        run.push(id);
      } else {
        flush();
        out += REPLACEMENT_CHAR; // not in the vocabulary (e.g. a padded output layer): never throw
      }
    }
    flush();
    return out;
  }

  createStreamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    return windowedStreamDecoder((ids) => this.decode(ids, opts));
  }

  tokenToId(token: string): number | undefined {
    return this.lib.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.lib.id_to_token(id);
  }

  /** Renders the model's own chat template with its bos/eos/pad/unk tokens. */
  applyChatTemplate(messages: readonly ChatMessage[], opts: Omit<RenderChatOptions, 'bosToken' | 'eosToken' | 'padToken' | 'unkToken'>): string {
    if (this.chatTemplate === undefined) {
      throw new PonderError('BAD_INPUT', 'this tokenizer has no chat template', 'add chat_template to tokenizer_config.json or a chat_template.jinja file');
    }
    return renderChat(this.chatTemplate, messages, {
      ...opts,
      bosToken: this.bosToken,
      eosToken: this.eosToken,
      padToken: this.padToken,
      unkToken: this.unkToken,
    });
  }

  /** The same tokenizer with special added tokens left out of matching, built on first use. */
  private plain(): HfLibTokenizer {
    if (!this.plainLib) {
      const added = (this.tokenizerJson.added_tokens as AddedTokenJson[]).filter((t) => !t.special && !this.specialTokenStrings.includes(t.content));
      this.plainLib = new HfLibTokenizer({ ...this.tokenizerJson, added_tokens: added }, this.config);
    }
    return this.plainLib;
  }

  /** Ids the post-processor puts before and after a single sequence (e.g. Llama's BOS). */
  private wrap(): { prefix: number[]; suffix: number[] } {
    if (!this.wrapIds) {
      let prefix: number[] = [];
      let suffix: number[] = [];
      const pp = this.lib.post_processor;
      if (pp) {
        const tokens = pp([SENTINEL], null, true).tokens;
        const at = tokens.indexOf(SENTINEL);
        if (at >= 0) {
          const ids = (ts: string[]) => ts.map((t) => this.lib.token_to_id(t)).filter((id): id is number => id !== undefined);
          prefix = ids(tokens.slice(0, at));
          suffix = ids(tokens.slice(at + 1));
        }
      }
      this.wrapIds = { prefix, suffix };
    }
    return this.wrapIds;
  }
}

async function readText(path: string, required: boolean): Promise<string | undefined> {
  try {
    // regular files only, size-limited (a FIFO or a device would hang the read)
    return readTextFile(path, { what: 'tokenizer file', maxBytes: READ_LIMITS.tokenizer });
  } catch (e) {
    if (e instanceof PonderError && e.code === 'NOT_FOUND') {
      if (!required) return undefined;
      throw new PonderError('NOT_FOUND', `${path} not found`, 'a Hugging Face model directory needs tokenizer.json and tokenizer_config.json');
    }
    throw e;
  }
}

function parseJsonObject(path: string, text: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new PonderError('BAD_INPUT', `${path}: invalid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new PonderError('BAD_INPUT', `${path}: expected a JSON object`);
  return v as Json;
}

async function readJson(path: string, required: true): Promise<Json>;
async function readJson(path: string, required: false): Promise<Json | undefined>;
async function readJson(path: string, required: boolean): Promise<Json | undefined> {
  const text = await readText(path, required);
  return text === undefined ? undefined : parseJsonObject(path, text);
}

/** Loads a Hugging Face tokenizer from a local model directory (see the file list at the top). */
export async function loadHfTokenizer(dir: string): Promise<HfTokenizer> {
  const tokenizerPath = join(dir, 'tokenizer.json');
  const tokenizer = await readJson(tokenizerPath, true);
  const config = await readJson(join(dir, 'tokenizer_config.json'), true);
  const generationConfig = await readJson(join(dir, 'generation_config.json'), false);
  let chatTemplate: string | undefined;
  if (pickChatTemplate(config.chat_template) === undefined) {
    chatTemplate = await readText(join(dir, 'chat_template.jinja'), false);
    if (chatTemplate === undefined) {
      const ct = await readJson(join(dir, 'chat_template.json'), false);
      chatTemplate = pickChatTemplate(ct?.chat_template);
    }
  }
  return new HfTokenizer({ tokenizer, config, generationConfig, chatTemplate, source: tokenizerPath });
}
