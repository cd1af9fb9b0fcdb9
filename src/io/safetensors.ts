/**
 * Hugging Face safetensors: read (one file, or a sharded directory with model.safetensors.index.json)
 * and write, for model import/export.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
 *   {"__metadata__": {str: str}?, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
 * then the data section; offsets are relative to its start (byte 8 + N of the file).
 *
 * Everything in a header is validated before any tensor memory is allocated; each problem is one
 * PonderError('BAD_INPUT') line that names the file (and tensor) and says what is wrong. Missing
 * files and directories are PonderError('NOT_FOUND'). See docs/safetensors.md.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { PonderError } from '../errors.js';
import { openRegularFile } from './read-file.js';
import { bf16ToF32Array, f16ToF32Array, f32ToBf16Array, f32ToF16Array } from './bf16.js';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16';

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute position of the tensor's first byte in the file. */
  byteOffset: number;
  byteLength: number;
  file: string;
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  metadata: Record<string, string>;
  /** In the order of their data in the file. */
  tensors: TensorEntry[];
}

export interface ShardedIndex {
  /** Tensor name → absolute path of the shard that holds it. */
  weightMap: Map<string, string>;
  /** The distinct shard files (absolute paths), in order of first appearance in weight_map. */
  files: string[];
  metadata: Record<string, unknown>;
}

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array;
}

export const SUPPORTED_DTYPES: readonly SafetensorsDType[] = ['F32', 'F16', 'BF16'];
const DTYPE_SIZE: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2 };
/** dtypes the safetensors format defines that ponder refuses (to say "unsupported" rather than "unknown"). */
const KNOWN_OTHER_DTYPES = new Set([
  'BOOL', 'U8', 'I8', 'U16', 'I16', 'U32', 'I32', 'U64', 'I64', 'F64',
  'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64',
]);

/** The largest header accepted (HF's own reader refuses more than 100 MB too). */
export const MAX_HEADER_BYTES = 100_000_000;
const MAX_INDEX_BYTES = 100_000_000;
const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---- small helpers ------------------------------------------------------------------------------

function bad(file: string, problem: string, hint?: string): PonderError {
  return new PonderError('BAD_INPUT', `${file}: ${problem}`, hint);
}

/** A tensor name as it appears in messages: quoted, with control characters escaped (one line). */
function q(name: string): string {
  return JSON.stringify(name);
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string'
    ? (e as { code: string }).code
    : undefined;
}

/** Opens `file` for reading, turning fs errors into PonderErrors. */
function openForRead(file: string, what = 'safetensors file'): number {
  // regular files only, opened without blocking (a FIFO would block the open forever)
  return openRegularFile(file, what).fd;
}

/** Reads exactly `length` bytes at `position` into `dst` (looping over short reads and 1 GiB chunks). */
function readExactly(fd: number, file: string, dst: Uint8Array, position: number, what: string): void {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < dst.length) {
    const n = readSync(fd, dst, done, Math.min(CHUNK, dst.length - done), position + done);
    if (n === 0) {
      throw bad(file, `${what}: the file ended after ${done} of ${dst.length} bytes — it was truncated or changed while reading`);
    }
    done += n;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

function swapBytes(bytes: Uint8Array, width: 2 | 4): void {
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---- reading: one file --------------------------------------------------------------------------

/**
 * Reads and validates the header of one .safetensors file (only its first 8 + N bytes are read).
 * Throws PonderError('NOT_FOUND') if the file does not exist and PonderError('BAD_INPUT') for any
 * malformed header; tensors are returned in data order.
 */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const file = path;
  const fd = openForRead(file);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw bad(file, 'is not a regular file');
    const fileSize = st.size;
    if (fileSize < 8) {
      throw bad(file, `the file is only ${fileSize} bytes, too short for a safetensors header (at least 8 bytes)`, 'the download was probably cut short; fetch the file again');
    }
    const prefix = new Uint8Array(8);
    readExactly(fd, file, prefix, 0, 'header length');
    const n64 = new DataView(prefix.buffer).getBigUint64(0, true);
    if (n64 > BigInt(MAX_HEADER_BYTES)) {
      throw bad(file, `header length ${n64} bytes is absurd (more than ${MAX_HEADER_BYTES / 1e6} MB) — not a safetensors file?`);
    }
    const n = Number(n64);
    if (n > fileSize - 8) {
      throw bad(file, `header length ${n} bytes is more than the ${fileSize - 8} bytes that follow it — the file is truncated or not a safetensors file`);
    }
    const headerBytes = new Uint8Array(n);
    readExactly(fd, file, headerBytes, 8, 'header');
    const dataStart = 8 + n;
    const dataSize = fileSize - dataStart;
    return parseHeader(file, fileSize, headerBytes, dataStart, dataSize);
  } finally {
    closeSync(fd);
  }
}

function parseHeader(file: string, fileSize: number, headerBytes: Uint8Array, dataStart: number, dataSize: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw bad(file, 'the header is not valid UTF-8 — not a safetensors file?');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw bad(file, `the header is not valid JSON (${why}) — not a safetensors file?`);
  }
  if (!isPlainObject(json)) throw bad(file, `the header must be a JSON object, but it is ${describe(json)}`);

  const metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(raw)) throw bad(file, `__metadata__ must be an object of strings, but it is ${describe(raw)}`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw bad(file, `__metadata__ value ${q(k)} must be a string, but it is ${describe(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    tensors.push(parseEntry(file, name, raw, dataStart, dataSize));
  }

  // Data order; then no two tensors may share a byte (empty tensors occupy none).
  tensors.sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  let prev: TensorEntry | undefined;
  for (const t of tensors) {
    if (t.byteLength === 0) continue;
    if (prev && t.byteOffset < prev.byteOffset + prev.byteLength) {
      const r = (x: TensorEntry) => `[${x.byteOffset - dataStart}, ${x.byteOffset - dataStart + x.byteLength}]`;
      throw bad(file, `tensors ${q(prev.name)} (data_offsets ${r(prev)}) and ${q(t.name)} (data_offsets ${r(t)}) overlap`);
    }
    prev = t;
  }
  return { file, fileSize, metadata, tensors };
}

function parseEntry(file: string, name: string, raw: unknown, dataStart: number, dataSize: number): TensorEntry {
  const where = `tensor ${q(name)}`;
  if (!isPlainObject(raw)) throw bad(file, `${where} must be an object with dtype, shape and data_offsets, but it is ${describe(raw)}`);
  for (const key of ['dtype', 'shape', 'data_offsets']) {
    if (!(key in raw)) throw bad(file, `${where} has no ${key}`);
  }
  const { dtype, shape, data_offsets: offsets } = raw;

  if (typeof dtype !== 'string') throw bad(file, `${where}: dtype must be a string, but it is ${describe(dtype)}`);
  if (!(SUPPORTED_DTYPES as readonly string[]).includes(dtype)) {
    const kind = KNOWN_OTHER_DTYPES.has(dtype) ? 'unsupported' : 'unknown';
    throw bad(file, `${where} has ${kind} dtype ${dtype} (supported: ${SUPPORTED_DTYPES.join(', ')})`, 'convert the model to float32, float16 or bfloat16 first');
  }

  if (!Array.isArray(shape)) throw bad(file, `${where}: shape must be an array of dimensions, but it is ${describe(shape)}`);
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw bad(file, `${where}: shape ${JSON.stringify(shape)} has ${describe(d)} — dimensions must be non-negative integers`);
    }
  }
  const dims = shape as number[];

  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
  ) {
    throw bad(file, `${where}: data_offsets must be [begin, end] with non-negative integers, but it is ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw bad(file, `${where}: data_offsets [${begin}, ${end}] begins after it ends`);
  if (end > dataSize) {
    throw bad(
      file,
      `${where} ends at byte ${end} but the data section is only ${dataSize} bytes (${end - dataSize} bytes missing) — the file is truncated?`,
      'the download was probably cut short; fetch the file again',
    );
  }
  const size = DTYPE_SIZE[dtype as SafetensorsDType];
  const numel = numelOf(dims);
  const byteLength = end - begin;
  if (numel * size !== byteLength) {
    throw bad(file, `${where}: shape [${dims.join(', ')}] of ${dtype} needs ${numel * size} bytes but data_offsets [${begin}, ${end}] span ${byteLength}`);
  }
  return { name, dtype: dtype as SafetensorsDType, shape: [...dims], byteOffset: dataStart + begin, byteLength, file };
}

/**
 * Reads one tensor's bytes and returns them as float32 (F16 and BF16 are widened exactly). The
 * entry must come from readSafetensorsHeader / openSafetensorsModel.
 */
export function readTensorF32(entry: TensorEntry): Float32Array {
  const size = DTYPE_SIZE[entry.dtype];
  if (size === undefined) throw bad(entry.file, `tensor ${q(entry.name)} has unsupported dtype ${entry.dtype} (supported: ${SUPPORTED_DTYPES.join(', ')})`);
  const numel = numelOf(entry.shape);
  if (numel * size !== entry.byteLength) {
    throw bad(entry.file, `tensor ${q(entry.name)}: shape [${entry.shape.join(', ')}] does not match its ${entry.byteLength} bytes`);
  }
  const fd = openForRead(entry.file);
  try {
    const fileSize = fstatSync(fd).size;
    if (entry.byteOffset + entry.byteLength > fileSize) {
      throw bad(entry.file, `tensor ${q(entry.name)} ends at byte ${entry.byteOffset + entry.byteLength} but the file is only ${fileSize} bytes — it changed since its header was read?`);
    }
    let out: Float32Array;
    try {
      out = new Float32Array(numel);
    } catch {
      throw bad(entry.file, `tensor ${q(entry.name)} has ${numel} elements (${fmtBytes(numel * 4)} as float32), more than this process can allocate`);
    }
    const what = `tensor ${q(entry.name)}`;
    if (entry.dtype === 'F32') {
      const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      readExactly(fd, entry.file, bytes, entry.byteOffset, what);
      if (!LITTLE_ENDIAN) swapBytes(bytes, 4);
      return out;
    }
    // 16-bit: read in chunks so the staging buffer stays small next to the float32 result.
    const CHUNK = 1 << 22; // elements
    const stage = new Uint16Array(Math.min(CHUNK, numel));
    const stageBytes = new Uint8Array(stage.buffer);
    for (let i = 0; i < numel; i += CHUNK) {
      const m = Math.min(CHUNK, numel - i);
      const bytes = stageBytes.subarray(0, m * 2);
      readExactly(fd, entry.file, bytes, entry.byteOffset + i * 2, what);
      if (!LITTLE_ENDIAN) swapBytes(bytes, 2);
      const src = stage.subarray(0, m);
      const dst = out.subarray(i, i + m);
      if (entry.dtype === 'BF16') bf16ToF32Array(src, dst);
      else f16ToF32Array(src, dst);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

// ---- reading: a model directory -----------------------------------------------------------------

/** Reads and validates model.safetensors.index.json (the shards are checked to exist, not opened). */
export function readSafetensorsIndex(indexPath: string): ShardedIndex {
  const file = indexPath;
  const dir = dirname(resolve(indexPath));
  const fd = openForRead(file, 'index file');
  let text: string;
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_INDEX_BYTES) throw bad(file, `index file is ${fmtBytes(size)}, absurdly large (limit ${MAX_INDEX_BYTES / 1e6} MB)`);
    const bytes = new Uint8Array(size);
    readExactly(fd, file, bytes, 0, 'index');
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw bad(file, 'the index is not valid UTF-8');
    }
  } finally {
    closeSync(fd);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw bad(file, `the index is not valid JSON (${why})`);
  }
  if (!isPlainObject(json)) throw bad(file, `the index must be a JSON object, but it is ${describe(json)}`);
  if (!('weight_map' in json)) throw bad(file, 'the index has no weight_map');
  const wm = json.weight_map;
  if (!isPlainObject(wm)) throw bad(file, `weight_map must be an object of tensor name → shard file, but it is ${describe(wm)}`);
  const metadata = isPlainObject(json.metadata) ? json.metadata : {};

  const weightMap = new Map<string, string>();
  const files: string[] = [];
  const seen = new Set<string>();
  for (const [name, shard] of Object.entries(wm)) {
    if (typeof shard !== 'string' || shard === '') {
      throw bad(file, `weight_map entry for tensor ${q(name)} must be a shard file name, but it is ${describe(shard)}`);
    }
    const abs = resolve(dir, shard);
    const rel = relative(dir, abs);
    if (isAbsolute(shard) || rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw bad(file, `weight_map puts tensor ${q(name)} in ${q(shard)}, which is outside the model directory`);
    }
    weightMap.set(name, abs);
    if (!seen.has(abs)) {
      seen.add(abs);
      files.push(abs);
    }
  }
  for (const f of files) {
    if (!existsSync(f)) {
      throw new PonderError('NOT_FOUND', `${f}: shard file listed in ${basename(file)} does not exist`, 'the download is incomplete; fetch the missing shard');
    }
  }
  return { weightMap, files, metadata };
}

/**
 * Opens a model stored as safetensors: `dir/model.safetensors.index.json` plus its shards if the
 * index exists, else `dir/model.safetensors`. (`dir` may also name a .safetensors file directly.)
 * Every header is validated; no tensor data is read. `files` are absolute paths.
 */
export function openSafetensorsModel(dir: string): { tensors: Map<string, TensorEntry>; files: string[] } {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw new PonderError('NOT_FOUND', `${dir}: model directory does not exist`);
    throw bad(dir, `cannot open: ${errnoOf(e) ?? String(e)}`);
  }
  if (st.isFile()) return fromFiles([resolve(dir)], undefined);

  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(indexPath)) {
    const index = readSafetensorsIndex(indexPath);
    return fromFiles(index.files, { path: indexPath, index });
  }
  const single = join(dir, SINGLE_FILE);
  if (existsSync(single)) return fromFiles([resolve(single)], undefined);

  let others: string[] = [];
  try {
    others = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
  } catch {
    // not listable: the plain message below will do
  }
  throw new PonderError(
    'NOT_FOUND',
    `${dir}: no ${SINGLE_FILE} or ${INDEX_FILE} in this directory`,
    others.length > 0 ? `it has ${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}; pass one of those files directly` : 'is this a Hugging Face model directory with safetensors weights?',
  );
}

function fromFiles(files: string[], indexed: { path: string; index: ShardedIndex } | undefined): { tensors: Map<string, TensorEntry>; files: string[] } {
  const tensors = new Map<string, TensorEntry>();
  for (const f of files) {
    const header = readSafetensorsHeader(f);
    for (const t of header.tensors) {
      const before = tensors.get(t.name);
      if (before) {
        throw bad(indexed?.path ?? f, `tensor ${q(t.name)} is in two shards: ${basename(before.file)} and ${basename(t.file)}`);
      }
      tensors.set(t.name, t);
    }
  }
  if (indexed) {
    for (const [name, shard] of indexed.index.weightMap) {
      const t = tensors.get(name);
      if (!t || t.file !== shard) {
        throw bad(
          indexed.path,
          `tensor ${q(name)} is listed in weight_map for ${basename(shard)}, but that shard does not contain it${t ? ` (it is in ${basename(t.file)})` : ''}`,
        );
      }
    }
  }
  return { tensors, files };
}

// ---- writing ------------------------------------------------------------------------------------

/**
 * Writes a .safetensors file: tensors in the given order, float32 data converted to F16/BF16 (round
 * to nearest even) where asked, the header padded with spaces to a multiple of 8 bytes as HF does.
 * Written to `path + '.tmp'`, fsynced, then renamed over `path`, so an existing file is either kept
 * intact or replaced whole. Data are written tensor by tensor (no whole-file buffer).
 */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): void {
  // Validate everything before touching the disk.
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    const md: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw bad(path, `metadata value ${q(k)} must be a string, but it is ${describe(v)}`);
      md[k] = v;
    }
    header.__metadata__ = md;
  }
  let offset = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== 'string' || t.name === '' || t.name === '__metadata__') {
      throw bad(path, `cannot write a tensor named ${q(String(t.name))}`);
    }
    if (names.has(t.name)) throw bad(path, `tensor ${q(t.name)} is given twice`);
    names.add(t.name);
    if (!(SUPPORTED_DTYPES as readonly string[]).includes(t.dtype)) {
      throw bad(path, `tensor ${q(t.name)}: cannot write dtype ${String(t.dtype)} (supported: ${SUPPORTED_DTYPES.join(', ')})`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new PonderError('SHAPE', `${path}: tensor ${q(t.name)} has invalid shape ${JSON.stringify(t.shape)} (dimensions must be non-negative integers)`);
    }
    if (!(t.data instanceof Float32Array)) throw new PonderError('SHAPE', `${path}: tensor ${q(t.name)}: data must be a Float32Array`);
    const numel = numelOf(t.shape);
    if (t.data.length !== numel) {
      throw new PonderError('SHAPE', `${path}: tensor ${q(t.name)} has shape [${t.shape.join(', ')}] (${numel} elements) but ${t.data.length} values`);
    }
    const bytes = numel * DTYPE_SIZE[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }

  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const headerBytes = Buffer.alloc(8 + padded, 0x20); // spaces
  headerBytes.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(headerBytes, 8);

  const tmp = path + '.tmp';
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT') throw new PonderError('NOT_FOUND', `${path}: cannot write, directory ${dirname(path)} does not exist`);
    throw bad(path, `cannot write: ${code ?? String(e)}`);
  }
  let renamed = false;
  try {
    try {
      writeAll(fd, headerBytes);
      for (const t of tensors) writeTensorData(fd, t);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    renamed = true;
  } catch (e) {
    if (!renamed) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    }
    if (e instanceof PonderError) throw e;
    const code = errnoOf(e);
    if (code !== undefined) throw bad(path, `writing failed: ${code}${code === 'ENOSPC' ? ' (disk full)' : ''}; the previous file, if any, is untouched`);
    throw e;
  }
  // Make the rename itself durable (best effort: not every platform can fsync a directory).
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // ignore
  }
}

function writeTensorData(fd: number, t: TensorToWrite): void {
  const CHUNK = 1 << 20; // elements per write
  const n = t.data.length;
  if (t.dtype === 'F32') {
    for (let i = 0; i < n; i += CHUNK) {
      const part = t.data.subarray(i, Math.min(n, i + CHUNK));
      let bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
      if (!LITTLE_ENDIAN) {
        bytes = bytes.slice();
        swapBytes(bytes, 4);
      }
      writeAll(fd, bytes);
    }
    return;
  }
  const stage = new Uint16Array(Math.min(CHUNK, n));
  for (let i = 0; i < n; i += CHUNK) {
    const part = t.data.subarray(i, Math.min(n, i + CHUNK));
    const dst = stage.subarray(0, part.length);
    if (t.dtype === 'BF16') f32ToBf16Array(part, dst);
    else f32ToF16Array(part, dst);
    const bytes = new Uint8Array(dst.buffer, 0, dst.byteLength);
    if (!LITTLE_ENDIAN) swapBytes(bytes, 2);
    writeAll(fd, bytes);
  }
}
