/**
 * Preference pairs: TRL's JSONL format for DPO, one pair per line, in one of two shapes,
 *
 *   {"prompt": "2+3=", "chosen": "5", "rejected": "6"}                                  plain text
 *   {"prompt": [{"role": "user", "content": "2+3="}],
 *    "chosen": [{"role": "assistant", "content": "5"}],
 *    "rejected": [{"role": "assistant", "content": "6"}]}                               conversational
 *
 * Plain-text pairs are token sequences as they are (BOS where the tokenizer adds one, the prompt,
 * then the completion and EOS); conversational pairs go through the chat format, the completion
 * being the assistant turn(s) after the prompt's messages. Each line must have all three fields in
 * one shape, and non-empty completions. Every problem is ONE line naming `file:line` (1-based,
 * blank lines counted); lines are decoded with a fatal UTF-8 decoder, as data/jsonl.ts does. The file
 * is read only when it is a regular file of at most MAX_PAIRS_FILE_BYTES.
 *
 * Tokenizing (`tokenizePair`) gives per side the prompt+completion tokens with `train` flags on the
 * completion only (its sequence log-prob is the sum over those tokens); a prompt that leaves no room
 * for a completion token in a row of T tokens is an error naming the pair's line.
 */
import { readRegularFile } from '../io/read-file.js';
import { PonderError } from '../errors.js';
import { eosId, tokenizeExample, type TokenizedExample } from './batches.js';
import { jsonlLines, SFT_ROLES, type SftMessage, type SftRole } from './jsonl.js';
import type { Tokenizer } from './tokenizer.js';

/** Larger pair files are refused (they are read whole). */
export const MAX_PAIRS_FILE_BYTES = 1 << 30;

export interface PreferencePair {
  /** text, or the conversation so far */
  prompt: string | SftMessage[];
  chosen: string | SftMessage[];
  rejected: string | SftMessage[];
  /** 1-based line in its file (for errors at tokenizing time) */
  line: number;
}

export interface TokenizedPair {
  chosen: TokenizedExample;
  rejected: TokenizedExample;
  /** tokens before the completion */
  promptTokens: number;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/** A field that is a message list: its messages, or the problem. */
function messagesOf(field: string, v: unknown[], completion: boolean): SftMessage[] | string {
  const out: SftMessage[] = [];
  for (const [i, m] of v.entries()) {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return `${field}[${i}] must be an object {"role", "content"}, got ${typeName(m)}`;
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !(SFT_ROLES as readonly string[]).includes(role)) return `${field}[${i}].role must be one of ${SFT_ROLES.join(', ')}, got ${JSON.stringify(role) ?? 'nothing'}`;
    if (typeof content !== 'string') return `${field}[${i}].content must be a string, got ${typeName(content)}`;
    if (completion && role !== 'assistant') return `${field}[${i}] is a ${role} message; a completion is assistant messages`;
    out.push({ role: role as SftRole, content });
  }
  if (v.length === 0) return `"${field}" is empty`;
  if (completion && out.every((m) => m.content === '')) return `"${field}" is empty`;
  return out;
}

/** Parses one decoded line into a pair, or returns the problem (without the file:line prefix). */
function parsePairLine(line: string, lineNo: number): PreferencePair | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return `invalid JSON (${(e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ')})`;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return `expected a JSON object {"prompt", "chosen", "rejected"}, got ${typeName(v)}`;
  const o = v as Record<string, unknown>;
  const missing = ['prompt', 'chosen', 'rejected'].filter((k) => !Object.hasOwn(o, k));
  if (missing.length > 0) return `missing ${missing.map((k) => `"${k}"`).join(', ')} (a pair has "prompt", "chosen" and "rejected")`;
  const text = typeof o.prompt === 'string';
  if (!text && !Array.isArray(o.prompt)) return `"prompt" must be a string or a list of messages, got ${typeName(o.prompt)}`;
  const fields: Record<string, string | SftMessage[]> = {};
  for (const k of ['prompt', 'chosen', 'rejected'] as const) {
    const x = o[k];
    if (text) {
      if (typeof x !== 'string') return `"${k}" must be a string like "prompt" (got ${typeName(x)})`;
      if (k !== 'prompt' && x.length === 0) return `"${k}" is empty`;
      fields[k] = x;
    } else {
      if (!Array.isArray(x)) return `"${k}" must be a list of messages like "prompt" (got ${typeName(x)})`;
      const m = messagesOf(k, x, k !== 'prompt');
      if (typeof m === 'string') return m;
      fields[k] = m;
    }
  }
  return { prompt: fields.prompt!, chosen: fields.chosen!, rejected: fields.rejected!, line: lineNo };
}

/** Parses pairs JSONL bytes; `file` names the source in errors. */
export function parsePairs(bytes: Uint8Array, file: string): PreferencePair[] {
  const out: PreferencePair[] = [];
  for (const { line, lineNo } of jsonlLines(bytes, file)) {
    const r = parsePairLine(line, lineNo);
    if (typeof r === 'string') throw new PonderError('BAD_INPUT', `${file}:${lineNo}: ${r}`);
    out.push(r);
  }
  if (out.length === 0) throw new PonderError('BAD_INPUT', `${file}: empty (no pairs)`, 'write one {"prompt", "chosen", "rejected"} object per line');
  return out;
}

/** Reads a pairs file: a regular file within MAX_PAIRS_FILE_BYTES, then parsePairs. */
export function readPairs(path: string): PreferencePair[] {
  // a regular file only (a FIFO or /dev/zero must not hang the loader), within the data-file limit
  return parsePairs(readRegularFile(path, { what: 'pairs file', maxBytes: MAX_PAIRS_FILE_BYTES }), path);
}

/** One side of a pair: prompt + completion tokens, trained on the completion only. */
function tokenizeSide(tok: Tokenizer, prompt: string | SftMessage[], completion: string | SftMessage[]): { ex: TokenizedExample; promptTokens: number } {
  if (typeof prompt === 'string') {
    const p = tok.encode(prompt, { addSpecialTokens: true });
    const c = [...tok.encode(completion as string, { addSpecialTokens: false }), eosId(tok)];
    const train = new Uint8Array(p.length + c.length);
    train.fill(1, p.length);
    return { ex: { tokens: [...p, ...c], train }, promptTokens: p.length };
  }
  // the chat format renders conversations as prefixes of each other (tokenizeExample checks it for
  // templates), so the prompt's own rendering is where the completion starts
  const promptTokens = tokenizeExample(tok, { kind: 'sft', messages: prompt }).tokens.length;
  const ex = tokenizeExample(tok, { kind: 'sft', messages: [...prompt, ...(completion as SftMessage[])] });
  ex.train.fill(0, 0, promptTokens);
  return { ex, promptTokens };
}

/**
 * A pair's two sides for rows of T tokens. The prompt must leave at least one completion token in
 * the row (one line naming the file and the pair's line otherwise); longer completions are cut by
 * the row (data/batches.ts toRow).
 */
export function tokenizePair(tok: Tokenizer, pair: PreferencePair, T: number, file: string): TokenizedPair {
  const c = tokenizeSide(tok, pair.prompt, pair.chosen);
  const r = tokenizeSide(tok, pair.prompt, pair.rejected);
  if (c.promptTokens >= T) {
    throw new PonderError('BAD_INPUT', `${file}:${pair.line}: the prompt is ${c.promptTokens} tokens, longer than the stage's rows of ${T} (seq_len) leave room for`, 'shorten the prompt or raise seq_len');
  }
  return { chosen: c.ex, rejected: r.ex, promptTokens: c.promptTokens };
}
