/**
 * JSONL training data: one JSON object per line, in one of two shapes,
 *
 *   {"text": "..."}                                               pretraining (one document per line)
 *   {"messages": [{"role": "user", "content": "..."}, ...]}       SFT (one conversation per line)
 *
 * A file holds one shape only. Every problem is reported as ONE line naming `file:line` (1-based,
 * counting every line, blank ones included, so editors jump to it), because a bad line in a 100k-line
 * file is otherwise hopeless to find. Lines are decoded separately with a fatal UTF-8 decoder: invalid
 * bytes are an error on their line rather than silent U+FFFD in the training data.
 *
 * Blank lines are skipped; a UTF-8 BOM at the start of the file and a '\r' before each '\n' are
 * tolerated. Keys other than `text` / `messages` (ids, sources, ...) and other message fields are
 * ignored, so common dataset dumps load as they are.
 */
import { TextDecoder } from 'node:util';
import { PonderError } from '../errors.js';
import { READ_LIMITS, readRegularFile } from '../io/read-file.js';

export const SFT_ROLES = ['system', 'user', 'assistant'] as const;
export type SftRole = (typeof SFT_ROLES)[number];

export interface SftMessage {
  role: SftRole;
  content: string;
}

export interface PretrainExample {
  kind: 'pretrain';
  text: string;
}

export interface SftExample {
  kind: 'sft';
  messages: SftMessage[];
}

export type Example = PretrainExample | SftExample;
export type ExampleKind = Example['kind'];

export interface JsonlOptions {
  /** The shape the caller needs (a pretrain or an SFT stage); default: whatever the first line is. */
  kind?: ExampleKind;
}

const MAX_SHOWN = 60;

function show(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}...` : s;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function shapeName(kind: ExampleKind): string {
  return kind === 'pretrain' ? '{"text": ...}' : '{"messages": [...]}';
}

/** Parses one decoded line into an example, or returns the problem (without the file:line prefix). */
function parseLine(line: string, want: ExampleKind | undefined): Example | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return `invalid JSON (${oneLine(e instanceof Error ? e.message : String(e))})`;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return `expected a JSON object ${want ? shapeName(want) : '{"text": ...} or {"messages": [...]}'}, got ${typeName(v)}`;
  }
  const o = v as Record<string, unknown>;
  const hasText = Object.hasOwn(o, 'text');
  const hasMessages = Object.hasOwn(o, 'messages');
  if (hasText && hasMessages) return 'has both "text" and "messages"; a line is either a document or a conversation';
  if (!hasText && !hasMessages) {
    const keys = Object.keys(o);
    return `expected ${want ? shapeName(want) : '{"text": ...} or {"messages": [...]}'}, got keys ${keys.length ? keys.map((k) => JSON.stringify(k)).join(', ') : '(none)'}`;
  }
  const kind: ExampleKind = hasText ? 'pretrain' : 'sft';
  if (want && kind !== want) {
    return `expected ${shapeName(want)} (${want === 'sft' ? 'an SFT conversation' : 'a pretraining document'}, like the lines before it), got ${shapeName(kind)}`;
  }
  if (kind === 'pretrain') {
    if (typeof o.text !== 'string') return `"text" must be a string, got ${typeName(o.text)}`;
    if (o.text.length === 0) return '"text" is empty';
    return { kind, text: o.text };
  }
  const msgs = o.messages;
  if (!Array.isArray(msgs)) return `"messages" must be an array, got ${typeName(msgs)}`;
  if (msgs.length === 0) return '"messages" is empty';
  const messages: SftMessage[] = [];
  for (const [i, m] of msgs.entries()) {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return `messages[${i}] must be an object {"role", "content"}, got ${typeName(m)}`;
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string') return `messages[${i}].role must be a string, got ${typeName(role)}`;
    if (!(SFT_ROLES as readonly string[]).includes(role)) return `messages[${i}].role ${show(role)} is not one of ${SFT_ROLES.join(', ')}`;
    if (typeof content !== 'string') return `messages[${i}].content must be a string, got ${typeName(content)}`;
    messages.push({ role: role as SftRole, content });
  }
  if (!messages.some((m) => m.role === 'assistant')) return 'conversation has no assistant message (nothing to train on)';
  return { kind, messages };
}

/** 0-based offset of the first byte at which `bytes` stops being valid UTF-8 (only called on invalid lines). */
function firstInvalidByte(bytes: Uint8Array): number {
  const d = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < bytes.length; i++) {
    try {
      d.decode(bytes.subarray(i, i + 1), { stream: true });
    } catch {
      return i;
    }
  }
  return bytes.length; // a sequence cut off by the end of the line
}

/**
 * The non-blank lines of JSONL bytes with their 1-based numbers: split on \n (a \r before it is
 * dropped), each line decoded as strict UTF-8 (a leading BOM is dropped) so a bad byte is reported as
 * `file:line` instead of being turned into U+FFFD.
 */
export function* jsonlLines(bytes: Uint8Array, file: string): Generator<{ line: string; lineNo: number }> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  let lineNo = 0;
  let start = 0;
  while (start < bytes.length) {
    lineNo++;
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    let stop = end;
    if (stop > start && bytes[stop - 1] === 0x0d) stop--;
    const raw = bytes.subarray(start, stop);
    start = end + 1;
    let line: string;
    try {
      line = decoder.decode(raw);
    } catch {
      throw new PonderError('BAD_INPUT', `${file}:${lineNo}: invalid UTF-8 (near byte ${firstInvalidByte(raw) + 1} of the line)`, 'save the file as UTF-8');
    }
    if (line.trim() !== '') yield { line, lineNo };
  }
}

/** Parses JSONL bytes; `file` names the source in errors. */
export function parseJsonl(bytes: Uint8Array, file: string, opts: JsonlOptions = {}): Example[] {
  const out: Example[] = [];
  let want = opts.kind;
  for (const { line, lineNo } of jsonlLines(bytes, file)) {
    const r = parseLine(line, want);
    if (typeof r === 'string') throw new PonderError('BAD_INPUT', `${file}:${lineNo}: ${r}`);
    want ??= r.kind;
    out.push(r);
  }
  if (out.length === 0) {
    throw new PonderError('BAD_INPUT', `${file}: empty (no examples)`, `write one ${opts.kind ? shapeName(opts.kind) : '{"text": ...} or {"messages": [...]}'} object per line`);
  }
  return out;
}

/** Reads a .jsonl file; missing files are NOT_FOUND, everything else as parseJsonl. */
export function readJsonl(path: string, opts: JsonlOptions = {}): Example[] {
  const bytes = readRegularFile(path, { what: 'data file', maxBytes: READ_LIMITS.data });
  return parseJsonl(bytes, path, opts);
}
