/**
 * Crash-safe training checkpoints (see docs/checkpoint-format.md).
 *
 *   <run>/checkpoints/step-000123.ckpt     one MessagePack map per file:
 *     {format: "ponder-checkpoint", version: 1, config, tensors, optimizer: {m, v, step}, rng,
 *      data_cursor, stage, step, recipe_hash, created_at, checksum}
 *
 * A save streams to `step-000123.ckpt.tmp` (tensor data in 1 MiB chunks, never one whole-file
 * buffer), fsyncs it, renames it into place and fsyncs the directory, so after a crash at any moment
 * the directory holds either the old set of checkpoints or the old set plus the complete new one
 * (and perhaps a stray .tmp, which is ignored and removed). Only then are older checkpoints deleted:
 * the two most recent are kept, so a checkpoint that turns out bad (truncated by a full disk, a flipped
 * bit) still leaves one to fall back to.
 *
 * `checksum` is the sha256 (hex) of every byte of the file before the `checksum` key, which is always
 * the last entry. Loading hashes the file in chunks first (cheap, no allocation), then walks the msgpack
 * structure without reading tensor bytes, checks every name, shape and byte length, and only then
 * allocates the Float32Arrays / Uint32Arrays and reads the data.
 *
 * The msgpack encoder/walker here are small on purpose: they mirror the private ones in
 * src/io/model-dir.ts (which are not exported) and only know the types a checkpoint uses.
 */
import { BinRef, encBinHeader, encHeader, encStr, isMsgMap, MsgReader, type MsgValue } from '../io/msgpack-file.js';
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PonderError } from '../errors.js';
import { openRegularFile } from '../io/read-file.js';
import { checkWeightShapes } from '../io/model-dir.js';
import { parseModelConfig } from '../model/config.js';

export const CHECKPOINT_FORMAT = 'ponder-checkpoint';
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINTS_SUBDIR = 'checkpoints';
/** How many checkpoints a run directory keeps (the newest one and the one before it). */
export const KEEP_CHECKPOINTS = 2;

export type CheckpointDType = 'f32' | 'u32';

export interface CheckpointTensor {
  name: string;
  shape: number[];
  data: Float32Array | Uint32Array;
}

/** JSON-compatible values (what `config` and `data_cursor` may hold). */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface Checkpoint {
  /** The model config with HF names (configToJson). */
  config: Record<string, Json>;
  /** The parameters. */
  tensors: CheckpointTensor[];
  /** AdamW moments (same names and shapes as tensors, or empty) and the optimizer's step count. */
  optimizer: { m: CheckpointTensor[]; v: CheckpointTensor[]; step: number };
  /** RNG state numbers (integers or floats). */
  rng: number[];
  /** Where the data loader is: any JSON. */
  data_cursor: Json;
  /** Index of the recipe stage being trained. */
  stage: number;
  /** Completed training steps; names the file. */
  step: number;
  /** sha256 of the resolved recipe this run was started with. */
  recipe_hash: string;
  /** ISO time of the save; filled in by writeCheckpoint when absent. */
  created_at?: string;
}

export interface CheckpointFile {
  step: number;
  path: string;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const CHUNK = 1 << 20;
const NAME_RE = /^step-(\d{6,})\.ckpt$/;
const TMP_RE = /^step-\d{6,}\.ckpt\.tmp$/;
/** The file's fixed-size tail: fixstr "checksum" + str8 of 64 hex digits. */
const TAIL_BYTES = 1 + 8 + 2 + 64;

function bad(file: string, problem: string, hint?: string): PonderError {
  return new PonderError('BAD_INPUT', `${file}: ${problem}`, hint);
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join('x')}]`;
}

/** True for the names ponder gives files in a run's checkpoints/ folder (complete or partial saves). */
export function isCheckpointFileName(name: string): boolean {
  return NAME_RE.test(name) || TMP_RE.test(name);
}

export function checkpointsDir(runDir: string): string {
  return join(runDir, CHECKPOINTS_SUBDIR);
}

export function checkpointFileName(step: number): string {
  return `step-${String(step).padStart(6, '0')}.ckpt`;
}

// ---- msgpack encoding ---------------------------------------------------------------------------



function encNumber(n: number): Buffer {
  if (Number.isSafeInteger(n)) {
    if (n >= 0) {
      if (n < 0x80) return Buffer.from([n]);
      if (n < 0x100000000) { const b = Buffer.alloc(5); b[0] = 0xce; b.writeUInt32BE(n, 1); return b; }
      const b = Buffer.alloc(9); b[0] = 0xcf; b.writeBigUInt64BE(BigInt(n), 1); return b;
    }
    if (n >= -32) return Buffer.from([n & 0xff]);
    if (n >= -0x80000000) { const b = Buffer.alloc(5); b[0] = 0xd2; b.writeInt32BE(n, 1); return b; }
    const b = Buffer.alloc(9); b[0] = 0xd3; b.writeBigInt64BE(BigInt(n), 1); return b;
  }
  // Everything else (fractions, -0, NaN, ±Infinity, huge integers) as float64: exact.
  const b = Buffer.alloc(9);
  b[0] = 0xcb;
  b.writeDoubleBE(n, 1);
  return b;
}

function encJson(v: Json, where: string, depth = 0): Buffer {
  if (depth > MAX_DEPTH) throw new PonderError('BAD_INPUT', `checkpoint ${where}: nested more than ${MAX_DEPTH} deep`);
  if (v === null) return Buffer.from([0xc0]);
  if (v === true) return Buffer.from([0xc3]);
  if (v === false) return Buffer.from([0xc2]);
  if (typeof v === 'number') return encNumber(v);
  if (typeof v === 'string') return encStr(v);
  if (Array.isArray(v)) return Buffer.concat([encHeader('array', v.length), ...v.map((x) => encJson(x, where, depth + 1))]);
  if (typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    return Buffer.concat([encHeader('map', entries.length), ...entries.flatMap(([k, x]) => [encStr(k), encJson(x, where, depth + 1)])]);
  }
  throw new PonderError('BAD_INPUT', `checkpoint ${where}: ${typeof v} values cannot be stored (JSON values only)`);
}


/** Writes to a file descriptor while hashing every byte; small pieces are batched. */
class HashingWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  readonly hash: Hash = createHash('sha256');

  constructor(private readonly fd: number) {}

  push(b: Uint8Array): void {
    if (b.length >= CHUNK) {
      this.flush();
      this.write(b);
      return;
    }
    this.pending.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    this.pendingBytes += b.length;
    if (this.pendingBytes >= CHUNK) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const all = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.write(all);
  }

  private write(b: Uint8Array): void {
    this.hash.update(b);
    let done = 0;
    while (done < b.length) done += writeSync(this.fd, b, done, b.length - done);
  }
}

function dtypeOf(t: CheckpointTensor): CheckpointDType {
  return t.data instanceof Uint32Array ? 'u32' : 'f32';
}

function writeTensorList(w: HashingWriter, list: CheckpointTensor[], file: string): void {
  w.push(encHeader('array', list.length));
  for (const t of list) {
    w.push(Buffer.concat([encHeader('map', 4), encStr('name'), encStr(t.name), encStr('dtype'), encStr(dtypeOf(t)), encStr('shape'), encHeader('array', t.shape.length), ...t.shape.map(encNumber), encStr('data'), encBinHeader(t.data.byteLength, file)]));
    for (let i = 0; i < t.data.length; i += CHUNK / 4) {
      const part = t.data.subarray(i, Math.min(t.data.length, i + CHUNK / 4));
      let bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
      if (!LITTLE_ENDIAN) {
        bytes = bytes.slice();
        for (let j = 0; j < bytes.length; j += 4) bytes.subarray(j, j + 4).reverse();
      }
      w.push(bytes);
    }
  }
}

function checkTensorList(list: unknown, what: string): void {
  if (!Array.isArray(list)) throw new PonderError('BAD_INPUT', `checkpoint ${what} must be an array of tensors`);
  const seen = new Set<string>();
  for (const t of list as CheckpointTensor[]) {
    if (typeof t?.name !== 'string' || t.name === '') throw new PonderError('BAD_INPUT', `checkpoint ${what}: a tensor has no name`);
    if (seen.has(t.name)) throw new PonderError('BAD_INPUT', `checkpoint ${what}: tensor "${t.name}" appears twice`);
    seen.add(t.name);
    if (!(t.data instanceof Float32Array) && !(t.data instanceof Uint32Array)) throw new PonderError('BAD_INPUT', `checkpoint ${what}: tensor "${t.name}" data must be a Float32Array or Uint32Array`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new PonderError('BAD_INPUT', `checkpoint ${what}: tensor "${t.name}" shape must be non-negative integers`);
    if (numelOf(t.shape) !== t.data.length) throw new PonderError('SHAPE', `checkpoint ${what}: tensor "${t.name}" has shape ${fmtShape(t.shape)} but ${t.data.length} values`);
  }
}

function checkStep(n: unknown, what: string): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new PonderError('BAD_INPUT', `checkpoint ${what} must be a non-negative integer, got ${JSON.stringify(n ?? null)}`);
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Removes leftover `step-*.ckpt.tmp` files (from a save that was interrupted); returns their names. */
export function cleanTmpCheckpoints(runDir: string): string[] {
  const dir = checkpointsDir(runDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed = names.filter((n) => TMP_RE.test(n));
  for (const n of removed) rmSync(join(dir, n), { force: true });
  return removed;
}

/** The complete checkpoints in `<runDir>/checkpoints`, oldest first (by step). .tmp files are ignored. */
export function listCheckpoints(runDir: string): CheckpointFile[] {
  const dir = checkpointsDir(runDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return [];
    throw bad(dir, `cannot list checkpoints: ${errnoOf(e) ?? String(e)}`);
  }
  const out: CheckpointFile[] = [];
  for (const n of names) {
    const m = NAME_RE.exec(n);
    if (m) out.push({ step: Number(m[1]), path: join(dir, n) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/**
 * Saves `ckpt` as `<runDir>/checkpoints/step-NNNNNN.ckpt` crash-safely (tmp file, fsync, rename,
 * fsync of the directory), then keeps only this checkpoint and the newest one with a smaller step.
 * Checkpoints with a larger step are stale (the run was resumed from an earlier one) and are removed
 * too. Returns the path written.
 */
export function writeCheckpoint(runDir: string, ckpt: Checkpoint): string {
  checkStep(ckpt.step, 'step');
  checkStep(ckpt.stage, 'stage');
  checkStep(ckpt.optimizer?.step, 'optimizer.step');
  if (typeof ckpt.recipe_hash !== 'string') throw new PonderError('BAD_INPUT', 'checkpoint recipe_hash must be a string');
  if (typeof ckpt.config !== 'object' || ckpt.config === null || Array.isArray(ckpt.config)) throw new PonderError('BAD_INPUT', 'checkpoint config must be an object');
  if (!Array.isArray(ckpt.rng) || !ckpt.rng.every((x) => typeof x === 'number')) throw new PonderError('BAD_INPUT', 'checkpoint rng must be an array of numbers');
  checkTensorList(ckpt.tensors, 'tensors');
  checkTensorList(ckpt.optimizer.m, 'optimizer.m');
  checkTensorList(ckpt.optimizer.v, 'optimizer.v');
  checkMoments(ckpt.tensors, ckpt.optimizer.m, ckpt.optimizer.v, 'checkpoint');

  const dir = checkpointsDir(runDir);
  mkdirSync(dir, { recursive: true });
  cleanTmpCheckpoints(runDir);
  const finalPath = join(dir, checkpointFileName(ckpt.step));
  const tmpPath = finalPath + '.tmp';
  // JSON round trip: drops undefined, rejects BigInt and cycles, so what is stored is what loads back.
  const jsonOf = (v: unknown, what: string): Json => {
    try {
      const s = JSON.stringify(v);
      return s === undefined ? null : (JSON.parse(s) as Json);
    } catch (e) {
      throw new PonderError('BAD_INPUT', `checkpoint ${what} is not JSON-serializable (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    }
  };
  const head = Buffer.concat([
    encHeader('map', 12),
    encStr('format'), encStr(CHECKPOINT_FORMAT),
    encStr('version'), encNumber(CHECKPOINT_VERSION),
    encStr('config'), encJson(jsonOf(ckpt.config, 'config'), 'config'),
  ]);
  const fd = openSync(tmpPath, 'w');
  try {
    try {
      const w = new HashingWriter(fd);
      w.push(head);
      w.push(encStr('tensors'));
      writeTensorList(w, ckpt.tensors, tmpPath);
      w.push(Buffer.concat([encStr('optimizer'), encHeader('map', 3), encStr('m')]));
      writeTensorList(w, ckpt.optimizer.m, tmpPath);
      w.push(encStr('v'));
      writeTensorList(w, ckpt.optimizer.v, tmpPath);
      w.push(Buffer.concat([
        encStr('step'), encNumber(ckpt.optimizer.step),
        encStr('rng'), encHeader('array', ckpt.rng.length), ...ckpt.rng.map(encNumber),
        encStr('data_cursor'), encJson(jsonOf(ckpt.data_cursor, 'data_cursor'), 'data_cursor'),
        encStr('stage'), encNumber(ckpt.stage),
        encStr('step'), encNumber(ckpt.step),
        encStr('recipe_hash'), encStr(ckpt.recipe_hash),
        encStr('created_at'), encStr(ckpt.created_at ?? new Date().toISOString()),
      ]));
      w.flush();
      const digest = w.hash.digest('hex');
      const tail = Buffer.concat([encStr('checksum'), Buffer.from([0xd9, 64]), Buffer.from(digest, 'ascii')]);
      let done = 0;
      while (done < tail.length) done += writeSync(fd, tail, done, tail.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmpPath, finalPath);
  } catch (e) {
    rmSync(tmpPath, { force: true });
    if (e instanceof PonderError) throw e;
    const code = errnoOf(e);
    if (code !== undefined) throw bad(finalPath, `saving the checkpoint failed: ${code}${code === 'ENOSPC' ? ' (disk full)' : ''}; the previous checkpoints are untouched`);
    throw e;
  }
  fsyncDir(dir);

  // Retention, only now that the new checkpoint is durable.
  const older = listCheckpoints(runDir).filter((c) => c.step < ckpt.step);
  const keep = new Set<string>([finalPath, ...older.slice(-(KEEP_CHECKPOINTS - 1)).map((c) => c.path)]);
  for (const c of listCheckpoints(runDir)) if (!keep.has(c.path)) rmSync(c.path, { force: true });
  return finalPath;
}

function checkMoments(tensors: CheckpointTensor[] | TensorRef[], m: CheckpointTensor[] | TensorRef[], v: CheckpointTensor[] | TensorRef[], where: string): void {
  if (m.length !== v.length) throw new PonderError('BAD_INPUT', `${where}: optimizer.m has ${m.length} tensors but optimizer.v has ${v.length}`);
  const shapes = new Map<string, number[]>(tensors.map((t) => [t.name, t.shape]));
  for (const [list, what] of [[m, 'optimizer.m'], [v, 'optimizer.v']] as const) {
    for (const t of list) {
      // a moment may belong to a part of a tensor: "<name>#<part>" (a row chunk of a big table, a
      // column half of an MTP input_proj), which must fit in that tensor
      const part = /^(.*)#[^#]+$/.exec(t.name);
      const s = shapes.get(t.name) ?? (part ? shapes.get(part[1]!) : undefined);
      if (!s) throw new PonderError('BAD_INPUT', `${where}: ${what} has tensor "${t.name}", which is not a parameter`);
      if (shapes.has(t.name) || !part) {
        if (s.length !== t.shape.length || s.some((d, i) => d !== t.shape[i])) throw new PonderError('BAD_INPUT', `${where}: ${what} tensor "${t.name}" has shape ${fmtShape(t.shape)} but the parameter has ${fmtShape(s)}`);
      } else if (t.shape.length !== s.length || t.shape.reduce((a, d) => a * d, 1) > s.reduce((a, d) => a * d, 1)) {
        throw new PonderError('BAD_INPUT', `${where}: ${what} tensor "${t.name}" has shape ${fmtShape(t.shape)}, which is not a part of the parameter's ${fmtShape(s)}`);
      }
    }
  }
}

// ---- reading ------------------------------------------------------------------------------------

const MAX_DEPTH = 64;
const CHECKPOINT_READER = { kind: 'ponder checkpoint', corrupt: 'checkpoint', maxDepth: MAX_DEPTH, maxString: 16 << 20 };
const isMap = isMsgMap;

interface TensorRef {
  name: string;
  dtype: CheckpointDType;
  shape: number[];
  offset: number;
  length: number;
}

function toJson(v: MsgValue, file: string, what: string): Json {
  if (v instanceof BinRef) throw bad(file, `${what} holds binary data; only JSON values are allowed`);
  if (Array.isArray(v)) return v.map((x) => toJson(x, file, what));
  if (isMap(v)) {
    const o: { [k: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) o[k] = toJson(x, file, what);
    return o;
  }
  return v;
}

function tensorRefs(v: MsgValue | undefined, file: string, what: string): TensorRef[] {
  if (!Array.isArray(v)) throw bad(file, `${what} must be an array of tensors`);
  const seen = new Set<string>();
  return v.map((raw, i) => {
    if (!isMap(raw)) throw bad(file, `${what}[${i}] is not a map`);
    const { name, dtype, shape, data } = raw;
    if (typeof name !== 'string' || name === '') throw bad(file, `${what}[${i}] has no name`);
    const where = `${what} tensor "${name}"`;
    if (seen.has(name)) throw bad(file, `${where} appears twice`);
    seen.add(name);
    if (dtype !== 'f32' && dtype !== 'u32') throw bad(file, `${where} has unsupported dtype ${JSON.stringify(dtype ?? null)} (supported: f32, u32)`);
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) throw bad(file, `${where}: shape must be an array of non-negative integers`);
    if (!(data instanceof BinRef)) throw bad(file, `${where}: data must be a msgpack bin`);
    const dims = shape as number[];
    const need = numelOf(dims) * 4;
    if (data.length !== need) throw bad(file, `${where}: shape ${fmtShape(dims)} of ${dtype} needs ${need} bytes but its data has ${data.length}`);
    return { name, dtype, shape: dims, offset: data.offset, length: data.length };
  });
}

function nonNegInt(v: MsgValue | undefined, file: string, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(file, `${what} must be a non-negative integer, got ${JSON.stringify(v instanceof BinRef ? 'binary' : v ?? null)}`);
  return v;
}

function readExactly(fd: number, dst: Uint8Array, pos: number, file: string): void {
  let done = 0;
  while (done < dst.length) {
    const got = readSync(fd, dst, done, dst.length - done, pos + done);
    if (got === 0) throw bad(file, 'the file ended early — it changed while reading?');
    done += got;
  }
}

/**
 * The parameters must be the ones the checkpoint's own config describes (every weight present with its
 * shape), so a checkpoint whose checksum is valid but whose tensors are not the model's is refused
 * here, naming the file, and loadLatestCheckpoint falls back to the older one. Extra tensors are left
 * to the trainer. Only for a config that parses as a model's (the trainer's always does).
 */
function checkAgainstConfig(configJson: Record<string, Json>, tensors: { name: string; shape: number[] }[], file: string): void {
  // the trainer's checkpoints hold a whole model config (configToJson); a checkpoint whose config is
  // not one (tests, tools, partial configs) is not checked against it
  let config;
  try {
    config = parseModelConfig(configJson, `${file} (config)`);
  } catch {
    return;
  }
  checkWeightShapes(config, new Map(tensors.map((t) => [t.name, t.shape])), file, () => true);
}

/**
 * Reads and fully verifies one checkpoint file: checksum first, then the structure (every tensor's
 * name, dtype, shape and byte length; moments against parameters), then the data. Throws one-line
 * PonderErrors (BAD_INPUT; NOT_FOUND for a missing file).
 */
export function readCheckpoint(file: string): Checkpoint {
  const { fd, size } = openRegularFile(file, 'checkpoint');
  const st = { size };
  try {
    if (st.size < TAIL_BYTES + 1) throw bad(file, `only ${st.size} bytes — truncated or not a ponder checkpoint`);

    // 1. The checksum tail and the hash of everything before it.
    const tail = new Uint8Array(TAIL_BYTES);
    readExactly(fd, tail, st.size - TAIL_BYTES, file);
    const expectTail = Buffer.concat([encStr('checksum'), Buffer.from([0xd9, 64])]);
    const tailHead = Buffer.from(tail.subarray(0, expectTail.length));
    const stored = Buffer.from(tail.subarray(expectTail.length)).toString('latin1');
    if (!tailHead.equals(expectTail) || !/^[0-9a-f]{64}$/.test(stored)) throw bad(file, 'the file does not end with its checksum — truncated or corrupt checkpoint');
    const hash = createHash('sha256');
    const chunk = new Uint8Array(Math.min(CHUNK, st.size));
    for (let pos = 0; pos < st.size - TAIL_BYTES; pos += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, st.size - TAIL_BYTES - pos));
      readExactly(fd, part, pos, file);
      hash.update(part);
    }
    const actual = hash.digest('hex');
    if (actual !== stored) throw bad(file, `checksum mismatch (stored ${stored.slice(0, 12)}…, computed ${actual.slice(0, 12)}…) — the file is corrupt`);

    // 2. The structure, without tensor data.
    const r = new MsgReader(fd, file, st.size, CHECKPOINT_READER);
    const top = r.value();
    if (r.pos !== st.size) throw bad(file, `${st.size - r.pos} unexpected bytes after the checkpoint — corrupt file?`);
    if (!isMap(top)) throw bad(file, 'not a ponder checkpoint (the top-level value is not a map)');
    if (top.format !== CHECKPOINT_FORMAT) throw bad(file, `not a ponder checkpoint (format is ${JSON.stringify(top.format instanceof BinRef ? 'binary' : top.format ?? null)}, expected "${CHECKPOINT_FORMAT}")`);
    if (top.version !== CHECKPOINT_VERSION) throw bad(file, `unsupported checkpoint version ${JSON.stringify(top.version instanceof BinRef ? 'binary' : top.version ?? null)} (this ponder reads version ${CHECKPOINT_VERSION})`, 'a newer ponder wrote this checkpoint; upgrade ponder');
    if ((r.topLevelKeyAt.get('checksum') ?? -1) !== st.size - TAIL_BYTES) throw bad(file, 'the checksum is not the last entry — corrupt checkpoint');
    if (!isMap(top.config)) throw bad(file, 'config must be a map');
    const config = toJson(top.config, file, 'config') as Record<string, Json>;
    const tensors = tensorRefs(top.tensors, file, 'tensors');
    const opt = top.optimizer;
    if (!isMap(opt)) throw bad(file, 'optimizer must be a map {m, v, step}');
    const m = tensorRefs(opt.m, file, 'optimizer.m');
    const v = tensorRefs(opt.v, file, 'optimizer.v');
    const optStep = nonNegInt(opt.step, file, 'optimizer.step');
    checkMoments(tensors, m, v, file);
    checkAgainstConfig(config, tensors, file);
    if (!Array.isArray(top.rng) || !top.rng.every((x) => typeof x === 'number')) throw bad(file, 'rng must be an array of numbers');
    const rng = top.rng as number[];
    if (!('data_cursor' in top)) throw bad(file, 'data_cursor is missing');
    const dataCursor = toJson(top.data_cursor!, file, 'data_cursor');
    const stage = nonNegInt(top.stage, file, 'stage');
    const step = nonNegInt(top.step, file, 'step');
    if (typeof top.recipe_hash !== 'string') throw bad(file, 'recipe_hash must be a string');
    if (typeof top.created_at !== 'string') throw bad(file, 'created_at must be a string');

    // 3. Only now allocate and read the data.
    const load = (ref: TensorRef): CheckpointTensor => {
      const n = ref.length / 4;
      const data = ref.dtype === 'u32' ? new Uint32Array(n) : new Float32Array(n);
      const bytes = new Uint8Array(data.buffer);
      readExactly(fd, bytes, ref.offset, file);
      if (!LITTLE_ENDIAN) for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
      return { name: ref.name, shape: ref.shape, data };
    };
    return {
      config,
      tensors: tensors.map(load),
      optimizer: { m: m.map(load), v: v.map(load), step: optStep },
      rng,
      data_cursor: dataCursor,
      stage,
      step,
      recipe_hash: top.recipe_hash,
      created_at: top.created_at,
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads the newest valid checkpoint of a run. Leftover .tmp files are removed (one warning line).
 * A newest checkpoint that is corrupt or truncated is skipped with a warning line naming it, and the
 * one before it is tried. No checkpoints: NOT_FOUND; none valid: BAD_INPUT.
 */
export function loadLatestCheckpoint(runDir: string): { ckpt: Checkpoint; path: string; warnings: string[] } {
  const warnings: string[] = [];
  for (const n of cleanTmpCheckpoints(runDir)) warnings.push(`removed ${join(checkpointsDir(runDir), n)}: a partial checkpoint left by an interrupted save`);
  const all = listCheckpoints(runDir).reverse();
  if (all.length === 0) throw new PonderError('NOT_FOUND', `${checkpointsDir(runDir)}: no checkpoints to resume from`, 'start the run without --resume');
  let newestProblem = '';
  for (let i = 0; i < all.length; i++) {
    const c = all[i]!;
    try {
      return { ckpt: readCheckpoint(c.path), path: c.path, warnings };
    } catch (e) {
      if (!(e instanceof PonderError)) throw e;
      if (i === 0) newestProblem = e.message;
      const next = all[i + 1];
      warnings.push(`warning: skipping checkpoint ${e.message}${next ? `; falling back to ${next.path}` : ''}`);
    }
  }
  throw new PonderError('BAD_INPUT', `${checkpointsDir(runDir)}: no valid checkpoint among ${all.length} (newest: ${newestProblem})`, 'start the run again without --resume');
}
