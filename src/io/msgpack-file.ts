import { readSync } from 'node:fs';
import { PonderError } from '../errors.js';
import { formatBytes } from '../format.js';

/**
 * The msgpack subset ponder's own binary files use (weights files and checkpoints): a streaming
 * reader that validates structure without reading tensor payloads, and the encoders both writers share.
 * These files need a reader that can check a multi-GiB file before allocating anything, which means
 * skipping `bin` payloads instead of materialising them; msgpackr (a dev dependency) decodes whole
 * buffers, so it serves only the tests, as an independent decoder of what these writers produce.
 */

/** A msgpack bin value left on disk: `length` bytes at absolute `offset` of the file. */
export class BinRef {
  constructor(
    readonly offset: number,
    readonly length: number,
  ) {}
}

export type MsgValue = null | boolean | number | string | BinRef | MsgValue[] | { [k: string]: MsgValue };

export function isMsgMap(v: unknown): v is { [k: string]: MsgValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof BinRef);
}

export interface MsgReaderOptions {
  /** What the file should be, for "not a <kind>" messages, e.g. 'ponder checkpoint'. */
  kind: string;
  /** Short noun for "corrupt <noun>" messages, e.g. 'msgpack' or 'checkpoint'. */
  corrupt: string;
  maxDepth: number;
  maxString: number;
  /** Hint attached to the truncation error. */
  truncatedHint?: string;
}

function bad(file: string, problem: string, hint?: string): PonderError {
  return new PonderError('BAD_INPUT', `${file}: ${problem}`, hint);
}

/**
 * Walks msgpack values from a file with small buffered reads. bin payloads are not read, only skipped
 * (returned as BinRef), so checking a multi-GiB file costs a few KiB of reads. Counts larger than the
 * bytes left are rejected at once (every element takes at least one byte), as is deep nesting.
 */
export class MsgReader {
  private buf = new Uint8Array(1 << 16);
  private bufStart = 0;
  private bufLen = 0;
  pos = 0;
  /** Byte offset of each key of the top-level map (checkpoints check their checksum is last). */
  readonly topLevelKeyAt = new Map<string, number>();

  constructor(
    private readonly fd: number,
    private readonly file: string,
    readonly size: number,
    private readonly opts: MsgReaderOptions,
  ) {}

  private truncated(what: string): PonderError {
    return bad(this.file, `the file ends at byte ${this.size} in the middle of ${what} — truncated or corrupt ${this.opts.corrupt}`, this.opts.truncatedHint);
  }

  private bytes(n: number, what: string): Uint8Array {
    if (this.pos + n > this.size) throw this.truncated(what);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.bufLen) {
      if (n > this.buf.length) this.buf = new Uint8Array(n);
      this.bufStart = this.pos;
      this.bufLen = 0;
      const want = Math.min(this.buf.length, this.size - this.pos);
      while (this.bufLen < want) {
        const got = readSync(this.fd, this.buf, this.bufLen, want - this.bufLen, this.bufStart + this.bufLen);
        if (got === 0) throw this.truncated(what);
        this.bufLen += got;
      }
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  private view(n: 1 | 2 | 4 | 8, what: string): DataView {
    const b = this.bytes(n, what);
    return new DataView(b.buffer, b.byteOffset, n);
  }

  private safe(big: bigint): number {
    if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw bad(this.file, `integer ${big} is out of range — corrupt ${this.opts.corrupt}`);
    }
    return Number(big);
  }

  private len(n: 1 | 2 | 4, what: string): number {
    const v = this.view(n, what);
    return n === 1 ? v.getUint8(0) : n === 2 ? v.getUint16(0) : v.getUint32(0);
  }

  private str(n: number): string {
    if (n > this.opts.maxString) throw bad(this.file, `a ${n}-byte string at byte ${this.pos} — corrupt ${this.opts.corrupt}?`);
    const b = this.bytes(n, 'a string');
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      throw bad(this.file, `a string at byte ${this.pos - n} is not valid UTF-8 — corrupt ${this.opts.corrupt}`);
    }
  }

  private array(n: number, depth: number): MsgValue[] {
    if (n > this.size - this.pos) throw this.truncated(`an array of ${n} elements`);
    const out: MsgValue[] = [];
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }

  private map(n: number, depth: number): { [k: string]: MsgValue } {
    if (2 * n > this.size - this.pos) throw this.truncated(`a map of ${n} entries`);
    const out: { [k: string]: MsgValue } = Object.create(null);
    for (let i = 0; i < n; i++) {
      const at = this.pos;
      const k = this.value(depth + 1);
      if (typeof k !== 'string') throw bad(this.file, `a map key at byte ${at} is not a string — not a ${this.opts.kind}`);
      if (depth === 0) this.topLevelKeyAt.set(k, at);
      out[k] = this.value(depth + 1);
    }
    return out;
  }

  private bin(n: number): BinRef {
    if (this.pos + n > this.size) throw this.truncated(`a ${n}-byte data block`);
    const ref = new BinRef(this.pos, n);
    this.pos += n;
    return ref;
  }

  value(depth = 0): MsgValue {
    if (depth > this.opts.maxDepth) throw bad(this.file, `values nested more than ${this.opts.maxDepth} deep — not a ${this.opts.kind}`);
    const at = this.pos;
    const t = this.bytes(1, 'a value')[0]!;
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t >= 0x80 && t <= 0x8f) return this.map(t & 0x0f, depth);
    if (t >= 0x90 && t <= 0x9f) return this.array(t & 0x0f, depth);
    if (t >= 0xa0 && t <= 0xbf) return this.str(t & 0x1f);
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bin(this.len(1, 'a bin length'));
      case 0xc5: return this.bin(this.len(2, 'a bin length'));
      case 0xc6: return this.bin(this.len(4, 'a bin length'));
      case 0xca: return this.view(4, 'a float').getFloat32(0);
      case 0xcb: return this.view(8, 'a float').getFloat64(0);
      case 0xcc: return this.view(1, 'an integer').getUint8(0);
      case 0xcd: return this.view(2, 'an integer').getUint16(0);
      case 0xce: return this.view(4, 'an integer').getUint32(0);
      case 0xcf: return this.safe(this.view(8, 'an integer').getBigUint64(0));
      case 0xd0: return this.view(1, 'an integer').getInt8(0);
      case 0xd1: return this.view(2, 'an integer').getInt16(0);
      case 0xd2: return this.view(4, 'an integer').getInt32(0);
      case 0xd3: return this.safe(this.view(8, 'an integer').getBigInt64(0));
      case 0xd9: return this.str(this.len(1, 'a string length'));
      case 0xda: return this.str(this.len(2, 'a string length'));
      case 0xdb: return this.str(this.len(4, 'a string length'));
      case 0xdc: return this.array(this.len(2, 'an array length'), depth);
      case 0xdd: return this.array(this.len(4, 'an array length'), depth);
      case 0xde: return this.map(this.len(2, 'a map length'), depth);
      case 0xdf: return this.map(this.len(4, 'a map length'), depth);
      default:
        throw bad(this.file, `unexpected msgpack type byte 0x${t.toString(16)} at byte ${at} — not a ${this.opts.kind}, or corrupt`);
    }
  }
}

// ---- encoding ----------------------------------------------------------------------------------

export function encStr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  let h: Buffer;
  if (b.length < 32) h = Buffer.from([0xa0 | b.length]);
  else if (b.length < 0x100) h = Buffer.from([0xd9, b.length]);
  else if (b.length < 0x10000) { h = Buffer.alloc(3); h[0] = 0xda; h.writeUInt16BE(b.length, 1); }
  else { h = Buffer.alloc(5); h[0] = 0xdb; h.writeUInt32BE(b.length, 1); }
  return Buffer.concat([h, b]);
}

export function encHeader(kind: 'map' | 'array', n: number): Buffer {
  if (n < 16) return Buffer.from([(kind === 'map' ? 0x80 : 0x90) | n]);
  if (n < 0x10000) { const b = Buffer.alloc(3); b[0] = kind === 'map' ? 0xde : 0xdc; b.writeUInt16BE(n, 1); return b; }
  const b = Buffer.alloc(5);
  b[0] = kind === 'map' ? 0xdf : 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

/** The header of a bin of n bytes; one bin holds at most 4 GiB (the format's limit). */
export function encBinHeader(n: number, file: string): Buffer {
  if (n < 0x100) return Buffer.from([0xc4, n]);
  if (n < 0x10000) { const b = Buffer.alloc(3); b[0] = 0xc5; b.writeUInt16BE(n, 1); return b; }
  if (n < 0x100000000) { const b = Buffer.alloc(5); b[0] = 0xc6; b.writeUInt32BE(n, 1); return b; }
  throw bad(file, `a tensor of ${formatBytes(n)} does not fit one msgpack bin (4 GiB at most)`);
}
