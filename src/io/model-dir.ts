/**
 * The ponder model directory (see docs/model-format.md):
 *
 *   config.json            HF config fields (configToJson) + "ponder": {tokenizer: "bytes" | "hf", ...}
 *   tokenizer.json, ...    copied HF tokenizer files (only when ponder.tokenizer is "hf")
 *   weights.msgpack        {format: "ponder-weights", version: 1, tensors: [{name, dtype, shape, data}]}
 *     or weights-00001-of-0000N.msgpack ... + weights.index.json {format, version, weight_map}
 *   README.md              a short model card
 *
 * Weight files are plain MessagePack (any msgpack library reads them; `data` is a bin of little-endian
 * f32 or f16 values). They are read here with a small purpose-built msgpack walker that never loads
 * a tensor's bytes while it checks the structure: every file's structure, every tensor's dtype, shape
 * and byte length, the index, and the whole weight set against the config (names and shapes) are
 * validated before a single Float32Array is allocated. Each problem is one PonderError line naming the
 * file. Writes build the directory under a temporary sibling name and rename it into place only when
 * it is complete, so a failed or interrupted save never leaves a half-written model behind.
 */
import { BinRef, encBinHeader, encHeader, encStr, MsgReader } from './msgpack-file.js';
import { formatBytes } from '../format.js';
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { PonderError } from '../errors.js';
import { expectedWeights, parseModelConfig, configToJson, type ModelConfig, type Weights } from '../model/config.js';
import { f16ToF32Array, f32ToF16Array } from './bf16.js';
import { ByteTokenizer } from '../data/byte-tokenizer.js';
import { openRegularFile, READ_LIMITS, readRegularFile, readTextFile } from './read-file.js';
import { loadHfTokenizer } from '../data/hf-tokenizer.js';
import type { Tokenizer } from '../data/tokenizer.js';

export const WEIGHTS_FORMAT = 'ponder-weights';
export const WEIGHTS_INDEX_FORMAT = 'ponder-weights-index';
export const WEIGHTS_VERSION = 1;
export const WEIGHTS_FILE = 'weights.msgpack';
export const WEIGHTS_INDEX_FILE = 'weights.index.json';
/** Default shard size limit: 1 GiB of tensor data per weights file. */
export const DEFAULT_SHARD_BYTES = 1 << 30;
/** HF tokenizer files copied into a model directory when they exist (tokenizer.json and tokenizer_config.json are required). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'chat_template.jinja', 'chat_template.json', 'special_tokens_map.json'];

export type WeightDType = 'f32' | 'f16';
export type TokenizerKind = 'bytes' | 'hf';
const DTYPE_SIZE: Record<WeightDType, number> = { f32: 4, f16: 2 };
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface ModelCard {
  /** A display name (default: the directory name). */
  name?: string;
  /** Where the weights came from: "imported from /path/to/hf", "trained with ponder", ... */
  source?: string;
  /** Extra lines for the card. */
  notes?: string[];
}

export interface SaveModelOptions {
  /** Replace an existing directory (default: refuse). */
  overwrite?: boolean;
  /** Store tensors as f16 (half the size, rounded to nearest even) instead of exact f32. */
  dtype?: WeightDType;
  /** Tensor bytes per weights file before a new shard is started (default 1 GiB). */
  shardBytes?: number;
  /** Directories the model is read from: the output may not be or hold one of them. */
  sources?: string[];
}

export interface LoadedModel {
  config: ModelConfig;
  weights: Weights;
  tokenizerKind: TokenizerKind;
  dir: string;
}

// ---- helpers ------------------------------------------------------------------------------------

function bad(file: string, problem: string, hint?: string): PonderError {
  return new PonderError('BAD_INPUT', `${file}: ${problem}`, hint);
}

function q(s: string): string {
  return JSON.stringify(s);
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof BinRef);
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join('x')}]`;
}

/** Byte counts for messages (the shared formatter). */
export const fmtBytes = formatBytes;

/** Reads and parses a JSON file: NOT_FOUND if it is missing, one BAD_INPUT line if it is not JSON. */
export function readJsonFile(path: string, what = 'file'): unknown {
  const text = readTextFile(path, { what, maxBytes: READ_LIMITS.small });
  try {
    return JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw bad(path, `invalid JSON (${why})`);
  }
}

/** Reads config.json from a directory and validates it (unsupported architectures list the supported ones). */
export function readConfigJson(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  return parseModelConfig(readJsonFile(path, 'config file'), path);
}

/**
 * Checks tensor shapes against the config before any data exist: every expected tensor present with
 * its shape (same messages as checkWeights) and, unless `allowExtra` accepts it, nothing else.
 */
export function checkWeightShapes(config: ModelConfig, shapes: Map<string, readonly number[]>, where: string, allowExtra?: (name: string) => boolean): void {
  const expected = expectedWeights(config);
  for (const [name, shape] of expected) {
    const s = shapes.get(name);
    if (!s) throw bad(where, `missing tensor "${name}" (expected shape ${fmtShape(shape)})`);
    if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) {
      throw bad(where, `tensor "${name}" has shape ${fmtShape(s)}, but the config needs ${fmtShape(shape)}`);
    }
  }
  for (const name of shapes.keys()) {
    if (!expected.has(name) && !allowExtra?.(name)) {
      const why = name === 'lm_head.weight' && config.tie_word_embeddings ? ' (the config ties lm_head to the embeddings)' : '';
      throw bad(where, `unexpected tensor ${q(name)}: a ${config.architecture} with this config has no such weight${why}`);
    }
  }
}


export function parameterCount(weights: Weights): number {
  let n = 0;
  for (const t of weights.values()) n += t.data.length;
  return n;
}

// ---- msgpack: reading and encoding live in msgpack-file.ts -----------------------------------

const WEIGHTS_READER = { kind: 'ponder weights file', corrupt: 'msgpack', maxDepth: 16, maxString: 1 << 20, truncatedHint: 'the file was cut short; save or copy the model again' };

// ---- msgpack: writing -----------------------------------------------------------------------------


function encUint(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0xcc, n]);
  if (n < 0x10000) { const b = Buffer.alloc(3); b[0] = 0xcd; b.writeUInt16BE(n, 1); return b; }
  if (n < 0x100000000) { const b = Buffer.alloc(5); b[0] = 0xce; b.writeUInt32BE(n, 1); return b; }
  const b = Buffer.alloc(9);
  b[0] = 0xcf;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}



function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

interface PlannedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
  bytes: number;
}

/** Writes one weights file, tensor data streamed in chunks (no whole-file buffer). */
function writeWeightsFile(path: string, tensors: PlannedTensor[], dtype: WeightDType): void {
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, Buffer.concat([encHeader('map', 3), encStr('format'), encStr(WEIGHTS_FORMAT), encStr('version'), encUint(WEIGHTS_VERSION), encStr('tensors'), encHeader('array', tensors.length)]));
    for (const t of tensors) {
      const head = [encHeader('map', 4), encStr('name'), encStr(t.name), encStr('dtype'), encStr(dtype), encStr('shape'), encHeader('array', t.shape.length)];
      for (const d of t.shape) head.push(encUint(d));
      head.push(encStr('data'), encBinHeader(t.bytes, path));
      writeAll(fd, Buffer.concat(head));
      const CHUNK = 1 << 20;
      for (let i = 0; i < t.data.length; i += CHUNK) {
        const part = t.data.subarray(i, Math.min(t.data.length, i + CHUNK));
        let bytes: Uint8Array;
        if (dtype === 'f32') {
          bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
          if (!LITTLE_ENDIAN) bytes = swapped(bytes, 4);
        } else {
          const h = f32ToF16Array(part);
          bytes = new Uint8Array(h.buffer, 0, h.byteLength);
          if (!LITTLE_ENDIAN) bytes = swapped(bytes, 2);
        }
        writeAll(fd, bytes);
      }
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function swapped(bytes: Uint8Array, width: 2 | 4): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i + width <= out.length; i += width) out.subarray(i, i + width).reverse();
  return out;
}

/**
 * Groups tensors (in order) into shards of at most `limit` data bytes; a tensor larger than the limit
 * gets a shard of its own.
 */
export function planShards<T extends { bytes: number }>(tensors: T[], limit: number): T[][] {
  const shards: T[][] = [];
  let cur: T[] = [];
  let size = 0;
  for (const t of tensors) {
    if (cur.length > 0 && size + t.bytes > limit) {
      shards.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(t);
    size += t.bytes;
  }
  if (cur.length > 0 || shards.length === 0) shards.push(cur);
  return shards;
}

export function shardFileName(i: number, n: number): string {
  return `weights-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.msgpack`;
}

// ---- saving ---------------------------------------------------------------------------------------

/**
 * Builds a directory under a temporary sibling name with `fill`, then renames it to `dir`. Refuses an
 * existing `dir` unless `overwrite` (then the old one is replaced only once the new one is complete).
 * On any failure the temporary directory is removed and `dir` is untouched.
 */
export function writeDirAtomically(dir: string, overwrite: boolean, fill: (tmp: string) => void, opts: { sources?: string[] } = {}): void {
  const target = resolve(dir);
  const refuse = () => new PonderError('BAD_INPUT', `${dir}: already exists`, 'pass --overwrite to replace it, or choose another --out');
  checkReplaceable(dir, overwrite, opts.sources ?? []);
  const parent = dirname(target);
  try {
    mkdirSync(parent, { recursive: true });
  } catch (e) {
    const code = errnoOf(e);
    throw bad(dir, code === 'EEXIST' || code === 'ENOTDIR' ? 'cannot be created: a parent of it is a file, not a directory' : `cannot create its parent directory: ${code ?? String(e)}`);
  }
  sweepStaleTemps(parent);
  const tag = `${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${tag}`);
  try {
    mkdirSync(tmp);
  } catch (e) {
    throw bad(dir, `cannot write next to it: ${errnoOf(e) ?? String(e)}`);
  }
  inFlightTemps.add(tmp);
  try {
    fill(tmp);
    if (existsSync(target)) {
      if (!overwrite) throw refuse();
      checkReplaceable(dir, overwrite, opts.sources ?? []);
      const old = join(parent, `.${basename(target)}.old-${tag}`);
      renameSync(target, old);
      try {
        renameSync(tmp, target);
      } catch (e) {
        renameSync(old, target);
        throw e;
      }
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, target);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof PonderError) throw e;
    const code = errnoOf(e);
    if (code !== undefined) throw bad(dir, `writing failed: ${code}${code === 'ENOSPC' ? ' (disk full)' : ''}; nothing was written`);
    throw e;
  } finally {
    inFlightTemps.delete(tmp);
  }
}

/** Temporary directories being filled right now (removed by removeInFlightTemps on a signal). */
const inFlightTemps = new Set<string>();

/**
 * Removes the temporary directories of saves in progress. The CLI calls it from its signal handlers
 * before exiting, so an interrupted import or export leaves nothing behind.
 */
export function removeInFlightTemps(): void {
  for (const t of inFlightTemps) rmSync(t, { recursive: true, force: true });
  inFlightTemps.clear();
}

function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** True when `inner` is `outer` or lies inside it. */
function isWithin(inner: string, outer: string): boolean {
  const r = relative(outer, inner);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/** A directory --overwrite may replace: an empty one, a ponder model directory or an HF model directory. */
function isReplaceableModelDir(dir: string): boolean {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return false;
  }
  if (names.length === 0) return true;
  if (!names.includes('config.json')) return false;
  return names.includes(WEIGHTS_FILE) || names.includes(WEIGHTS_INDEX_FILE) || names.some((n) => n.endsWith('.safetensors'));
}

/**
 * Refuses to replace what the user owns: an existing `dir` without `overwrite`; with it, anything but a
 * model directory (a regular file, a directory of other things), and a directory that is or holds
 * one of `sources` (the model being read: replacing it would delete the input).
 */
export function checkReplaceable(dir: string, overwrite: boolean, sources: string[]): void {
  const target = realOrResolved(dir);
  for (const s of sources) {
    const src = realOrResolved(s);
    if (isWithin(src, target)) {
      throw bad(dir, src === target ? 'is the model being read; it cannot also be the output' : `holds the model being read (${s}); it cannot be the output`, 'choose another --out');
    }
  }
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return;
  }
  if (!overwrite) throw new PonderError('BAD_INPUT', `${dir}: already exists`, 'pass --overwrite to replace it, or choose another --out');
  if (!st.isDirectory()) throw bad(dir, `exists and is not a directory; --overwrite replaces only a model directory`, 'choose another --out');
  if (!isReplaceableModelDir(dir)) throw bad(dir, 'is not a model directory (no config.json with weights); --overwrite replaces only a model directory', 'choose another --out');
}

const TEMP_RE = /^\.(.+)\.(tmp|old)-(\d+)-[0-9a-z]+-[0-9a-z]+$/;

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === 'EPERM';
  }
}

/**
 * Sweeps what killed saves left in `parent` (a kill during a save, which runs synchronously, ends the
 * process before any handler could clean up): a `.NAME.tmp-<pid>-…` directory of a process that no
 * longer runs is removed; a `.NAME.old-<pid>-…` one (the previous model, moved aside just before the
 * new one took its place) is renamed back to NAME when NAME is missing, else removed. The names are
 * ponder's own and carry the writer's pid, so a save in progress (its process alive) is never touched.
 */
export function sweepStaleTemps(parent: string): void {
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return;
  }
  for (const e of entries) {
    const m = TEMP_RE.exec(e);
    if (!m || processIsAlive(Number(m[3]))) continue;
    const path = join(parent, e);
    try {
      if (m[2] === 'old' && !existsSync(join(parent, m[1]!))) renameSync(path, join(parent, m[1]!));
      else rmSync(path, { recursive: true, force: true });
    } catch {
      // best effort: a sweep never fails the save it precedes
    }
  }
}

/** Copies a small file the user gave (regular files only, size-limited: a FIFO would block the copy). */
function copyRegularFile(src: string, dst: string): void {
  writeFileSync(dst, readRegularFile(src, { what: 'tokenizer file', maxBytes: READ_LIMITS.tokenizer }));
}

/** Copies the HF tokenizer files from `from` into `to`; tokenizer.json and tokenizer_config.json must exist. */
export function copyTokenizerFiles(from: string, to: string): void {
  for (const f of TOKENIZER_FILES) {
    const src = join(from, f);
    if (existsSync(src)) copyRegularFile(src, join(to, f));
  }
}

/** Throws NOT_FOUND unless `dir` has the files an HF tokenizer needs. */
export function checkTokenizerFiles(dir: string): void {
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!existsSync(join(dir, f))) throw new PonderError('NOT_FOUND', `${join(dir, f)}: no such tokenizer file`, 'an HF tokenizer needs tokenizer.json and tokenizer_config.json');
  }
}

function modelCard(dir: string, config: ModelConfig, weights: Weights, tokenizer: TokenizerKind, dtype: WeightDType, card: ModelCard | undefined): string {
  const params = parameterCount(weights);
  const p = params >= 1e9 ? `${(params / 1e9).toFixed(2)}B` : params >= 1e6 ? `${(params / 1e6).toFixed(1)}M` : `${(params / 1e3).toFixed(1)}K`;
  const lines = [
    `# ${card?.name ?? basename(resolve(dir))}`,
    '',
    `A ponder model directory (see docs/model-format.md in ponder).`,
    '',
    `- family: ${config.family} (${config.architecture})`,
    `- parameters: ${p} (${params.toLocaleString('en-US')})`,
    `- layers: ${config.num_hidden_layers}, hidden: ${config.hidden_size}, intermediate: ${config.intermediate_size}`,
    `- attention: ${config.num_attention_heads} heads of dim ${config.head_dim}, ${config.num_key_value_heads} KV heads`,
    `- vocabulary: ${config.vocab_size}; context: ${config.max_position_embeddings}; tied embeddings: ${config.tie_word_embeddings ? 'yes' : 'no'}`,
    `- tokenizer: ${tokenizer === 'hf' ? 'Hugging Face (tokenizer.json)' : 'ponder byte tokenizer'}`,
    `- weights: ${dtype}`,
  ];
  if (card?.source) lines.push(`- source: ${card.source}`);
  for (const n of card?.notes ?? []) lines.push(`- ${n}`);
  return lines.join('\n') + '\n';
}

/**
 * Saves a model as a ponder model directory at `dir` (atomically; see writeDirAtomically).
 * `tokenizerFrom`: a directory with HF tokenizer files to copy (the model then uses the HF tokenizer);
 * without it the model uses the byte tokenizer. `generationConfigFrom`: a model directory whose
 * generation_config.json (its sampling defaults), when it has one, is copied along.
 */
export function saveModelDir(
  dir: string,
  model: { config: ModelConfig; weights: Weights; tokenizerFrom?: string; generationConfigFrom?: string; card?: ModelCard },
  opts: SaveModelOptions = {},
): void {
  const { config, weights } = model;
  const dtype = opts.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new PonderError('USAGE', `saveModelDir: dtype must be f32 or f16, got ${String(dtype)}`);
  const limit = opts.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!(limit > 0)) throw new PonderError('USAGE', `saveModelDir: shardBytes must be positive, got ${limit}`);
  const shapes = new Map<string, number[]>();
  for (const [name, t] of weights) {
    if (t.data.length !== numelOf(t.shape)) throw new PonderError('SHAPE', `${dir}: tensor ${q(name)} has shape ${fmtShape(t.shape)} but ${t.data.length} values`);
    shapes.set(name, t.shape);
  }
  checkWeightShapes(config, shapes, dir);
  const tokenizerKind: TokenizerKind = model.tokenizerFrom !== undefined ? 'hf' : 'bytes';
  if (model.tokenizerFrom !== undefined) checkTokenizerFiles(model.tokenizerFrom);

  // Expected tensors first, in the canonical order, then any allowed extras.
  const order = [...expectedWeights(config).keys(), ...[...weights.keys()].filter((n) => !expectedWeights(config).has(n))];
  const planned: PlannedTensor[] = order.map((name) => {
    const t = weights.get(name)!;
    return { name, shape: [...t.shape], data: t.data, bytes: t.data.length * DTYPE_SIZE[dtype] };
  });
  const shards = planShards(planned, limit);

  const json = configToJson({ ...config, ponder: { ...config.ponder, tokenizer: tokenizerKind } });
  json.torch_dtype = dtype === 'f32' ? 'float32' : 'float16';

  const sources = [...(opts.sources ?? []), ...[model.tokenizerFrom, model.generationConfigFrom].filter((s): s is string => s !== undefined)];
  writeDirAtomically(dir, opts.overwrite ?? false, (tmp) => {
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(json, null, 2) + '\n');
    if (model.tokenizerFrom !== undefined) copyTokenizerFiles(model.tokenizerFrom, tmp);
    const generation = model.generationConfigFrom && join(model.generationConfigFrom, 'generation_config.json');
    if (generation && existsSync(generation)) copyRegularFile(generation, join(tmp, 'generation_config.json'));
    if (shards.length === 1) {
      writeWeightsFile(join(tmp, WEIGHTS_FILE), shards[0]!, dtype);
    } else {
      const weightMap: Record<string, string> = {};
      shards.forEach((s, i) => {
        const name = shardFileName(i, shards.length);
        writeWeightsFile(join(tmp, name), s, dtype);
        for (const t of s) weightMap[t.name] = name;
      });
      const totalSize = planned.reduce((a, t) => a + t.bytes, 0);
      writeFileSync(join(tmp, WEIGHTS_INDEX_FILE), JSON.stringify({ format: WEIGHTS_INDEX_FORMAT, version: WEIGHTS_VERSION, total_size: totalSize, weight_map: weightMap }, null, 2) + '\n');
    }
    writeFileSync(join(tmp, 'README.md'), modelCard(dir, config, weights, tokenizerKind, dtype, model.card));
  }, { sources });
}

// ---- loading --------------------------------------------------------------------------------------

interface TensorRef {
  name: string;
  dtype: WeightDType;
  shape: number[];
  file: string;
  offset: number;
  length: number;
}

/** Reads a weights file's structure and validates it; no tensor data are read. */
function readWeightsHeader(file: string): TensorRef[] {
  const { fd, size } = openRegularFile(file, 'weights file');
  const st = { size };
  try {
    if (st.size === 0) throw bad(file, 'the file is empty — truncated or corrupt msgpack');
    const r = new MsgReader(fd, file, st.size, WEIGHTS_READER);
    const top = r.value();
    if (r.pos !== st.size) throw bad(file, `${st.size - r.pos} unexpected bytes after the weights — corrupt file?`);
    if (!isPlainObject(top)) throw bad(file, 'not a ponder weights file (the top-level value is not a map)');
    if (top.format !== WEIGHTS_FORMAT) throw bad(file, `not a ponder weights file (format is ${JSON.stringify(top.format ?? null)}, expected "${WEIGHTS_FORMAT}")`);
    if (top.version !== WEIGHTS_VERSION) throw bad(file, `unsupported weights version ${JSON.stringify(top.version ?? null)} (this ponder reads version ${WEIGHTS_VERSION})`, 'a newer ponder wrote this model; upgrade ponder');
    if (!Array.isArray(top.tensors)) throw bad(file, '"tensors" must be an array');
    const refs: TensorRef[] = [];
    const seen = new Set<string>();
    top.tensors.forEach((raw, i) => {
      if (!isPlainObject(raw)) throw bad(file, `tensors[${i}] is not a map`);
      const { name, dtype, shape, data } = raw;
      if (typeof name !== 'string' || name === '') throw bad(file, `tensors[${i}] has no name`);
      const where = `tensor ${q(name)}`;
      if (seen.has(name)) throw bad(file, `${where} appears twice`);
      seen.add(name);
      if (dtype !== 'f32' && dtype !== 'f16') throw bad(file, `${where} has unsupported dtype ${JSON.stringify(dtype ?? null)} (supported: f32, f16)`);
      if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
        throw bad(file, `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape ?? null)}`);
      }
      if (!(data instanceof BinRef)) throw bad(file, `${where}: data must be a msgpack bin`);
      const dims = shape as number[];
      const need = numelOf(dims) * DTYPE_SIZE[dtype];
      if (data.length !== need) throw bad(file, `${where}: shape ${fmtShape(dims)} of ${dtype} needs ${need} bytes but its data has ${data.length}`);
      refs.push({ name, dtype, shape: dims, file, offset: data.offset, length: data.length });
    });
    return refs;
  } finally {
    closeSync(fd);
  }
}

/** Validates weights.index.json; returns tensor name → absolute shard path and the shard list. */
function readWeightsIndex(dir: string): { weightMap: Map<string, string>; files: string[] } {
  const path = join(dir, WEIGHTS_INDEX_FILE);
  const json = readJsonFile(path, 'weights index');
  if (!isPlainObject(json)) throw bad(path, 'the index must be a JSON object');
  if (json.format !== WEIGHTS_INDEX_FORMAT) throw bad(path, `not a ponder weights index (format is ${JSON.stringify(json.format ?? null)}, expected "${WEIGHTS_INDEX_FORMAT}")`);
  if (json.version !== WEIGHTS_VERSION) throw bad(path, `unsupported index version ${JSON.stringify(json.version ?? null)} (this ponder reads version ${WEIGHTS_VERSION})`);
  const wm = json.weight_map;
  if (!isPlainObject(wm)) throw bad(path, 'weight_map must be an object of tensor name → weights file');
  const weightMap = new Map<string, string>();
  const files: string[] = [];
  for (const [name, f] of Object.entries(wm)) {
    if (typeof f !== 'string' || !/^[A-Za-z0-9_.-]+\.msgpack$/.test(f) || f.startsWith('.')) {
      throw bad(path, `weight_map entry for tensor ${q(name)} must be a .msgpack file name in this directory, got ${JSON.stringify(f)}`);
    }
    const abs = join(dir, f);
    weightMap.set(name, abs);
    if (!files.includes(abs)) files.push(abs);
  }
  if (files.length === 0) throw bad(path, 'weight_map is empty');
  for (const f of files) {
    if (!existsSync(f)) throw new PonderError('NOT_FOUND', `${f}: weights file listed in ${WEIGHTS_INDEX_FILE} does not exist`, 'the model directory is incomplete; copy or save it again');
  }
  return { weightMap, files };
}

function readTensorData(ref: TensorRef): Float32Array {
  const n = numelOf(ref.shape);
  const out = new Float32Array(n);
  const { fd } = openRegularFile(ref.file, 'weights file');
  try {
    const read = (dst: Uint8Array, pos: number) => {
      let done = 0;
      while (done < dst.length) {
        const got = readSync(fd, dst, done, dst.length - done, pos + done);
        if (got === 0) throw bad(ref.file, `tensor ${q(ref.name)}: the file ended early — it changed while reading?`);
        done += got;
      }
    };
    if (ref.dtype === 'f32') {
      const bytes = new Uint8Array(out.buffer);
      read(bytes, ref.offset);
      if (!LITTLE_ENDIAN) for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
    } else {
      const CHUNK = 1 << 20;
      const stage = new Uint16Array(Math.min(CHUNK, Math.max(1, n)));
      for (let i = 0; i < n; i += CHUNK) {
        const m = Math.min(CHUNK, n - i);
        const b = new Uint8Array(stage.buffer, 0, m * 2);
        read(b, ref.offset + i * 2);
        if (!LITTLE_ENDIAN) for (let j = 0; j < b.length; j += 2) b.subarray(j, j + 2).reverse();
        f16ToF32Array(stage.subarray(0, m), out.subarray(i, i + m));
      }
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** True when `dir` looks like a ponder model directory (weights.msgpack or weights.index.json). */
export function isModelDir(dir: string): boolean {
  return existsSync(join(dir, WEIGHTS_FILE)) || existsSync(join(dir, WEIGHTS_INDEX_FILE));
}

/**
 * Loads a ponder model directory. The config, the index, every weights file's structure and each
 * tensor's dtype/shape/byte length, and the weight set against the config are all checked before
 * any tensor data are read.
 */
export function loadModelDir(dir: string): LoadedModel {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new PonderError('NOT_FOUND', `${dir}: no such model directory`);
  }
  if (!st.isDirectory()) throw bad(dir, 'is not a directory (a ponder model is a directory with config.json and weights.msgpack)');
  const config = readConfigJson(dir);

  let refs: TensorRef[];
  let where: string;
  if (existsSync(join(dir, WEIGHTS_INDEX_FILE))) {
    where = join(dir, WEIGHTS_INDEX_FILE);
    const index = readWeightsIndex(dir);
    refs = [];
    const found = new Map<string, string>();
    for (const f of index.files) {
      for (const r of readWeightsHeader(f)) {
        const before = found.get(r.name);
        if (before) throw bad(where, `tensor ${q(r.name)} is in two weights files: ${basename(before)} and ${basename(f)}`);
        found.set(r.name, f);
        if (index.weightMap.get(r.name) !== f) throw bad(where, `tensor ${q(r.name)} is in ${basename(f)} but weight_map ${index.weightMap.has(r.name) ? `puts it in ${basename(index.weightMap.get(r.name)!)}` : 'does not list it'}`);
        refs.push(r);
      }
    }
    for (const [name, f] of index.weightMap) {
      if (!found.has(name)) throw bad(where, `tensor ${q(name)} is listed in weight_map for ${basename(f)}, but that file does not contain it`);
    }
  } else if (existsSync(join(dir, WEIGHTS_FILE))) {
    where = join(dir, WEIGHTS_FILE);
    refs = readWeightsHeader(where);
  } else {
    throw new PonderError('NOT_FOUND', `${dir}: no ${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE} in this directory`, 'is this a ponder model directory? (HF models: ponder import <dir>)');
  }

  checkWeightShapes(config, new Map(refs.map((r) => [r.name, r.shape])), where);

  const weights: Weights = new Map();
  for (const r of refs) weights.set(r.name, { shape: r.shape, data: readTensorData(r) });
  const tokenizerKind: TokenizerKind = config.ponder?.tokenizer ?? (existsSync(join(dir, 'tokenizer.json')) ? 'hf' : 'bytes');
  return { config, weights, tokenizerKind, dir };
}

/** The tokenizer a model directory uses: the HF files in `dir`, or the byte tokenizer. */
export async function loadTokenizer(dir: string, config: ModelConfig): Promise<Tokenizer> {
  const kind: TokenizerKind = config.ponder?.tokenizer ?? (existsSync(join(dir, 'tokenizer.json')) ? 'hf' : 'bytes');
  const tok: Tokenizer = kind === 'hf' ? await loadHfTokenizer(dir) : new ByteTokenizer();
  if (tok.vocabSize > config.vocab_size) {
    throw bad(join(dir, 'config.json'), `the tokenizer has ${tok.vocabSize} tokens but the model's vocab_size is only ${config.vocab_size}`);
  }
  return tok;
}
