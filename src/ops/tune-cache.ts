import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AdapterDescription } from '../gpu/device.js';
import type { Gpu } from '../gpu/gpu.js';
import { wgslDir } from '../paths.js';

/**
 * The autotune cache: the kernel configurations `ponder bench --tune` measured best on an adapter,
 * kept in one small JSON file and applied to every Gpu on that adapter the first time a matmul or an
 * attention kernel asks for its config (so every command uses them, without a flag).
 *
 * Location: $PONDER_CACHE_DIR/tune.json, else $XDG_CACHE_HOME/ponder/tune.json, else
 * ~/.cache/ponder/tune.json. `PONDER_NO_TUNE_CACHE=1` ignores the file (the test suite sets it).
 *
 * An entry is keyed by the adapter (vendor, architecture, device, description), the backend, and a
 * hash of the kernel sources the tuned settings apply to (wgsl/matmul*.wgsl, wgsl/attention*.wgsl):
 * editing a kernel invalidates its tuning. The file holds one entry per adapter, so machines with
 * several adapters keep each one's choice.
 *
 * Failure policy: the cache is an optimisation, so it never stops a command. A file that is missing
 * is silent; one that is unreadable, corrupt, from another kernel version, or holds a config the
 * device rejects is ignored with one warning line on stderr. Writes go to a temporary file that is
 * then renamed over the old one, so an interrupted save never leaves a torn file.
 *
 * The values are plain JSON validated here structurally; matmul-configs.ts and attention.ts check
 * them against the device limits before use.
 */

export const TUNE_CACHE_VERSION = 1;

/** Identifies an adapter + driver in the cache. */
export interface AdapterKey {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
}

/** One adapter's tuned settings: sections are opaque here (matmul-configs.ts / attention.ts own them). */
export interface TuneEntry {
  adapter: AdapterKey;
  kernelHash: string;
  /** ISO date of the tuning run */
  tunedAt: string;
  /** a MatmulConfigPatch */
  matmul?: Record<string, unknown>;
  /** an AttentionTuning */
  attention?: Record<string, unknown>;
}

export interface TuneCacheFile {
  version: number;
  entries: TuneEntry[];
}

/** Where the cache lives for this environment. */
export function tuneCachePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PONDER_CACHE_DIR) return join(env.PONDER_CACHE_DIR, 'tune.json');
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'ponder', 'tune.json');
}

export function adapterKey(info: AdapterDescription): AdapterKey {
  return { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, backend: info.backend };
}

function sameAdapter(a: AdapterKey, b: AdapterKey): boolean {
  return a.vendor === b.vendor && a.architecture === b.architecture && a.device === b.device && a.description === b.description && a.backend === b.backend;
}

/** Extra text hashed with the WGSL files (generated kernels register their generator's version). */
const extraSources: string[] = [];
export function addTunedKernelSource(text: string): void {
  extraSources.push(text);
  cachedHash = undefined;
}

let cachedHash: string | undefined;
/** sha256 (16 hex digits) of the tuned kernels' sources, in file-name order. */
export function kernelSourceHash(): string {
  if (cachedHash) return cachedHash;
  const h = createHash('sha256');
  let files: string[] = [];
  try {
    files = readdirSync(wgslDir).filter((f) => /^(matmul|attention).*\.wgsl$/.test(f) && !f.includes('backward')).sort();
  } catch {
    /* no wgsl dir: the hash covers only the generated sources */
  }
  for (const f of files) {
    h.update(f + '\0');
    try {
      h.update(readFileSync(join(wgslDir, f)));
    } catch {
      h.update('missing');
    }
  }
  for (const s of extraSources) h.update(s);
  cachedHash = h.digest('hex').slice(0, 16);
  return cachedHash;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** Parses and structurally validates a cache file's text; throws Error with a short reason. */
export function parseTuneCache(text: string): TuneCacheFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('not valid JSON');
  }
  if (!isObj(raw) || raw.version !== TUNE_CACHE_VERSION || !Array.isArray(raw.entries)) throw new Error(`not a version ${TUNE_CACHE_VERSION} tune cache`);
  const entries: TuneEntry[] = [];
  for (const e of raw.entries) {
    if (!isObj(e) || !isObj(e.adapter) || !isStr(e.kernelHash)) throw new Error('an entry lacks its adapter or kernel hash');
    const a = e.adapter;
    if (![a.vendor, a.architecture, a.device, a.description, a.backend].every(isStr)) throw new Error('an entry has a malformed adapter');
    if ((e.matmul !== undefined && !isObj(e.matmul)) || (e.attention !== undefined && !isObj(e.attention))) throw new Error('an entry has a malformed section');
    entries.push({
      adapter: a as unknown as AdapterKey,
      kernelHash: e.kernelHash,
      tunedAt: isStr(e.tunedAt) ? e.tunedAt : '',
      matmul: e.matmul as Record<string, unknown> | undefined,
      attention: e.attention as Record<string, unknown> | undefined,
    });
  }
  return { version: TUNE_CACHE_VERSION, entries };
}

/** A tune cache holds a few configs per adapter: kilobytes. */
const MAX_CACHE_BYTES = 4 << 20;

/** Reads the cache; undefined when the file does not exist. Throws Error(reason) when unusable. */
export function readTuneCache(path: string): TuneCacheFile | undefined {
  let text: string;
  try {
    // only a regular file of sane size: a FIFO or /dev/zero at this path must not hang every command
    const st = statSync(path);
    if (!st.isFile()) throw new Error('it is not a regular file');
    if (st.size > MAX_CACHE_BYTES) throw new Error(`it is ${st.size} bytes, over the ${MAX_CACHE_BYTES} a tune cache can be`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof Error && !('code' in e)) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  return parseTuneCache(text);
}

/**
 * Adds or replaces `entry` (by adapter) in the cache at `path`, written tmp + rename. A corrupt
 * existing file is replaced. Returns the path written.
 */
export function saveTuneEntry(entry: TuneEntry, path = tuneCachePath()): string {
  let file: TuneCacheFile = { version: TUNE_CACHE_VERSION, entries: [] };
  try {
    file = readTuneCache(path) ?? file;
  } catch {
    /* unusable file: start over */
  }
  file.entries = file.entries.filter((e) => !sameAdapter(e.adapter, entry.adapter));
  file.entries.push(entry);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n');
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return path;
}

/** What a lookup found: the entry, or why the cache was not usable (nothing for a missing file or adapter). */
export interface TuneLookup {
  entry?: TuneEntry;
  warning?: string;
}

/** Finds the entry for an adapter in the cache at `path`, with the reason when one is unusable. */
export function lookupTuneEntry(info: AdapterDescription, path = tuneCachePath(), hash = kernelSourceHash()): TuneLookup {
  let file: TuneCacheFile | undefined;
  try {
    file = readTuneCache(path);
  } catch (e) {
    return { warning: `ignoring the tune cache ${path}: ${(e as Error).message}` };
  }
  const key = adapterKey(info);
  const entry = file?.entries.find((e) => sameAdapter(e.adapter, key));
  if (!entry) return {};
  if (entry.kernelHash !== hash) {
    return { warning: `ignoring the tune cache ${path} for this adapter: the kernels changed since it was tuned (run \`ponder bench --tune\`)` };
  }
  return { entry };
}

let warn: (line: string) => void = (line) => process.stderr.write(`ponder: warning: ${line}\n`);
/** Replaces where cache warnings go (tests capture them). Returns the previous sink. */
export function setTuneCacheWarningSink(sink: (line: string) => void): (line: string) => void {
  const prev = warn;
  warn = sink;
  return prev;
}
export function tuneCacheWarning(line: string): void {
  warn(line);
}

const perGpu = new WeakMap<Gpu, TuneEntry | null>();

/**
 * The tuned entry for this Gpu's adapter, read once per Gpu (the first matmul or attention call);
 * undefined when there is none, it is unusable (one warning), or PONDER_NO_TUNE_CACHE is set.
 */
export function tunedEntry(gpu: Gpu): TuneEntry | undefined {
  const known = perGpu.get(gpu);
  if (known !== undefined) return known ?? undefined;
  let entry: TuneEntry | undefined;
  if (!process.env.PONDER_NO_TUNE_CACHE || process.env.PONDER_NO_TUNE_CACHE === '0') {
    const r = lookupTuneEntry(gpu.info);
    if (r.entry) entry = r.entry;
    else if (r.warning) warn(r.warning);
  }
  perGpu.set(gpu, entry ?? null);
  return entry;
}

/** Forgets what was read for `gpu` (after `ponder bench --tune` saved a new entry, and in tests). */
export function forgetTunedEntry(gpu: Gpu): void {
  perGpu.delete(gpu);
}
