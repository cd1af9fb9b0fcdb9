import './globals.js';
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, getPriority as osPriority, setPriority as setOsPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'webgpu';
import { PonderError } from '../errors.js';

/** Optional WebGPU features ponder uses when the adapter has them. */
export const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
export type WantedFeature = (typeof WANTED_FEATURES)[number];

export interface DeviceOptions {
  /** Substring of the adapter's name (Dawn's `adapter=` option); env PONDER_ADAPTER. */
  adapter?: string;
  /** Dawn backend: vulkan, metal, d3d12, d3d11, opengl, opengles; env PONDER_BACKEND. (Dawn's "null" backend is refused: it validates commands but computes nothing.) */
  backend?: string;
  powerPreference?: GPUPowerPreference;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  /** True for CPU rasterisers such as lavapipe / SwiftShader. */
  software: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
}

export interface OpenedDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: AdapterDescription;
  /** The limits the device was created with (the adapter's own, not WebGPU's defaults). */
  limits: Record<string, number>;
  features: Set<WantedFeature>;
  /** Drops the reference that keeps Dawn's event loop (and so the process) alive. */
  close(): void;
}

export const NO_ADAPTER_HINT =
  'install a GPU driver with Vulkan/Metal/D3D12 support; on Linux without a GPU install Mesa lavapipe >= 23 ' +
  '(Debian 12: `apt-get install -t bookworm-backports mesa-vulkan-drivers`; Mesa 22 is too old for Dawn), ' +
  'or run `npm run setup`';

function limitsToRecord(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  // GPUSupportedLimits exposes its fields as prototype getters, so walk with for..in.
  for (const key in limits) {
    const v = (limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') out[key] = v;
  }
  return out;
}

function describeAdapter(adapter: GPUAdapter, backendHint: string | undefined): AdapterDescription {
  const info = adapter.info as GPUAdapterInfo & { backend?: string; subgroupMinSize?: number; subgroupMaxSize?: number };
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  const software = /llvmpipe|lavapipe|swiftshader|software/.test(text);
  return {
    vendor: info.vendor || 'unknown',
    architecture: info.architecture || '',
    device: info.device || '',
    description: info.description || '',
    backend: info.backend || backendHint || (process.platform === 'darwin' ? 'metal' : process.platform === 'win32' ? 'd3d12' : 'vulkan'),
    software,
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
  };
}

/** A short human name for the adapter, used in bench tables and RESULTS.md. */
export function adapterName(info: AdapterDescription): string {
  const main = info.description || [info.vendor, info.device].filter(Boolean).join(' ');
  return `${main} (${info.backend})`.replace(/\s+/g, ' ').trim();
}

/**
 * Dawn's Node addon can crash (SIGSEGV / SIGABRT "futex facility returned an unexpected error code")
 * while Node tears the environment down after a *natural* exit, racing the driver's worker threads;
 * seen on lavapipe in 5-40% of runs under load. `process.exit()` skips that teardown, and calling it
 * from the 'exit' event turns every natural exit into one (exit code kept). Writes to stdout/stderr
 * are synchronous for files and pipes on Linux, so nothing printed is lost.
 */
let exitGuardInstalled = false;
function installExitGuard(): void {
  if (exitGuardInstalled) return;
  exitGuardInstalled = true;
  process.on('exit', (code) => process.exit(code));
}

/**
 * Lines Dawn prints on stderr while it enumerates adapters that say nothing to a ponder user: on
 * lavapipe, that it lowered two pipeline-layout limits ponder never comes near. Other lines pass.
 */
export const KNOWN_DAWN_WARNINGS: readonly RegExp[] = [/^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/];

/** Drops the known warning lines from `text` (what native code printed on stderr). */
export function dropKnownWarnings(text: string, known: readonly RegExp[] = KNOWN_DAWN_WARNINGS): string {
  return text
    .split('\n')
    .filter((l) => !known.some((re) => re.test(l)))
    .join('\n');
}

/** Reopening stderr's target: append, and never make a terminal the controlling one. */
const REOPEN_FLAGS = fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_NOCTTY;

/**
 * Runs `fn` with native writes to stderr caught, then writes them back less KNOWN_DAWN_WARNINGS.
 * Dawn prints with fprintf(stderr) from C++, which no JS hook sees, and it does so in the synchronous
 * part of requestAdapter() (measured), so for that call only fd 2 is pointed at a temporary file:
 * close(2) and open() returns the lowest free descriptor, 2 (0 and 1 are open), and the reverse
 * reopens the original target through /proc/self/fd. No JS runs in between (fn is synchronous), so
 * nothing of ponder's own can land in the file. Linux only, stderr a terminal or a pipe, and only
 * where each step checks out; otherwise fn runs as it is and Dawn's lines show: stderr redirected
 * to a file (a reopened file gets an offset of its own), a socket (how Node's child_process pipes
 * are made; it cannot be reopened), or PONDER_DAWN_WARNINGS=1.
 */
export function filterNativeStderr<T>(fn: () => T): T {
  if (process.platform !== 'linux' || process.env.PONDER_DAWN_WARNINGS === '1') return fn();
  let saved: number;
  try {
    fstatSync(0);
    fstatSync(1);
    // a terminal, /dev/null or a pipe only: a regular file reopened gets an offset of its own, and
    // the shell's later writes through the original one would overwrite what ponder wrote after
    const target = fstatSync(2);
    if (!target.isCharacterDevice() && !target.isFIFO()) return fn();
    saved = openSync('/proc/self/fd/2', REOPEN_FLAGS);
  } catch {
    return fn(); // stdin/stdout closed, or stderr cannot be reopened (a socket, nothing)
  }
  const file = join(tmpdir(), `ponder-stderr-${process.pid}-${Date.now()}`);
  let redirected = false;
  try {
    closeSync(2);
    const fd = openSync(file, 'w+');
    redirected = fd === 2;
    if (!redirected) closeSync(fd);
  } catch {
    /* fall through: restore below */
  }
  try {
    return fn();
  } finally {
    let caught = '';
    try {
      if (redirected) {
        caught = readFileSync(file, 'utf8');
        closeSync(2);
      }
      const back = openSync(`/proc/self/fd/${saved}`, REOPEN_FLAGS); // lands on 2, the lowest free descriptor
      if (back !== 2) closeSync(back); // another thread took 2 meanwhile: nothing more can be done
    } finally {
      closeSync(saved);
      rmSync(file, { force: true });
    }
    const rest = dropKnownWarnings(caught);
    if (rest.trim() !== '') writeSync(2, rest.endsWith('\n') ? rest : rest + '\n');
  }
}

/** An adapter Dawn can open, as `--adapter` matches it (a part of `name`). */
export interface AdapterListing {
  backend: string;
  name: string;
}

const NEVER_MATCHES = 'ponder-lists-adapters';

/**
 * The environment the drivers read when Dawn first loads them, set where the user has not: before
 * the first adapter is requested, by opening a device or by listing the adapters (a software
 * adapter's name carries its vector width, so both must see the same settings).
 */
function configureDriverEnv(): void {
  // The Vulkan loader warns (and some ICDs misbehave) without a runtime dir; give it a private one.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  // lavapipe's worker threads: one per core. Two per core had trained as fast as four and decoded
  // faster while the JavaScript thread spun in Dawn's poll; with the poll paced (gpu/paced-poll.ts)
  // one per core trains as fast again and decodes 4-8% faster (bench/RESULTS.md "Paced polling").
  // Set explicitly, not left to Mesa, so that `ponder info` shows it. Read by Mesa when the device
  // is created; ignored by every other driver.
  if (!process.env.LP_NUM_THREADS) process.env.LP_NUM_THREADS = String(Math.min(32, availableParallelism()));
  // On a CPU with AVX-512, 512-bit vectors: lavapipe then runs 16 invocations per vector (16-lane
  // subgroups), and matmul_sg.wgsl shares A over 16 lanes, halving its loads per multiply-add:
  // ~1.6x the matmul throughput on 2 Zen 4 cores, decoding level (bench/RESULTS.md "512-bit
  // vectors"). Mesa reads it once per process, when its code generator starts.
  if (!process.env.LP_NATIVE_VECTOR_WIDTH && cpuHasAvx512()) process.env.LP_NATIVE_VECTOR_WIDTH = '512';
}

/**
 * The adapters Dawn finds. Dawn answers a request for an adapter name that matches nothing with an
 * error that lists "Available adapters:" as `* backend: 'vulkan', name: '...'`, the very names
 * `adapter=` matches against, so the listing asks for one that cannot match and reads that list.
 */
export async function listAdapters(opts: { backend?: string } = {}): Promise<AdapterListing[]> {
  const dawnOptions = [`adapter=${NEVER_MATCHES}`, ...(opts.backend ? [`backend=${opts.backend}`] : [])];
  configureDriverEnv();
  try {
    const gpu = create(dawnOptions);
    await filterNativeStderr(() => gpu.requestAdapter());
    return [];
  } catch (e) {
    return parseAdapterList(e instanceof Error ? e.message : String(e));
  }
}

/** The `* backend: 'B', name: 'N'` lines of Dawn's "no suitable adapter" message. */
export function parseAdapterList(message: string): AdapterListing[] {
  const out: AdapterListing[] = [];
  for (const m of message.matchAll(/^\s*\*\s*backend:\s*'([^']*)',\s*name:\s*'([^']*)'/gm)) out.push({ backend: m[1]!, name: m[2]! });
  return out;
}

/** "llvmpipe (LLVM 15.0.6, 256 bits) (vulkan), ..." */
export function formatAdapterList(list: AdapterListing[]): string {
  return list.map((a) => `${a.name} (${a.backend})`).join(', ');
}

/**
 * Lowers the priority of this (the JavaScript) thread, on a software adapter only. Dawn's Node
 * bindings wait for the GPU by re-polling on every turn of the event loop (setImmediate), so while a
 * submit runs on lavapipe this thread spins at 100% of a core, the very cores lavapipe's worker
 * threads compute on: measured on the 2-core VM, two workgroups of one dispatch took 1.8x one
 * workgroup's time instead of 1.1x (bench/RESULTS.md "The JavaScript thread's priority"). On Linux a
 * nice value is per thread, and lavapipe's threads, created with the device, keep theirs: with this
 * one at 19 the scheduler gives them the cores and the poll what is left, while the JavaScript
 * thread still gets a whole core whenever they are idle. PONDER_MAIN_NICE sets another value (0:
 * leave it). Raising a nice value needs no privilege; failing to is harmless. Gpu's own waits are
 * also paced now (gpu/paced-poll.ts: the poll sleeps between turns); the nice value still covers
 * whatever else runs on this thread while the adapter computes.
 */
function yieldToAdapterThreads(): void {
  const nice = Number(process.env.PONDER_MAIN_NICE ?? 19);
  if (!Number.isInteger(nice) || nice <= 0) return;
  try {
    if (osPriority(process.pid) < nice) setOsPriority(process.pid, Math.min(19, nice));
  } catch {
    // not permitted or not supported: the threads share the cores as before
  }
}

/** True when /proc/cpuinfo lists AVX-512 Foundation (Linux; elsewhere false: Mesa's default stays). */
export function cpuHasAvx512(): boolean {
  try {
    return /^flags\s*:.*\bavx512f\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Opens a Dawn adapter and device with the adapter's real limits and the optional features ponder
 * can use. Throws PonderError('NO_ADAPTER') with an install hint when nothing is found.
 */
export async function openDevice(opts: DeviceOptions = {}): Promise<OpenedDevice> {
  installExitGuard();
  configureDriverEnv();
  const adapterName = opts.adapter ?? process.env.PONDER_ADAPTER;
  const backend = opts.backend ?? process.env.PONDER_BACKEND;
  // Dawn's null backend accepts every command and computes nothing: its "results" are uninitialised
  // memory, so it is refused rather than offered
  if (backend !== undefined && backend.toLowerCase() === 'null') {
    throw new PonderError('USAGE', `backend "${backend}" cannot compute (Dawn's null backend only validates commands)`, 'choose vulkan, metal, d3d12, d3d11, opengl or opengles, or leave --backend out');
  }
  const dawnOptions: string[] = [];
  if (backend) dawnOptions.push(`backend=${backend}`);
  if (adapterName) dawnOptions.push(`adapter=${adapterName}`);

  let gpu: GPU | undefined;
  let adapter: GPUAdapter | null = null;
  try {
    gpu = create(dawnOptions);
    const request = filterNativeStderr(() => gpu!.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' }));
    adapter = await request;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // a name that matches nothing: say which adapters there are (Dawn's message lists them)
    const available = parseAdapterList(message);
    if (adapterName && available.length > 0) {
      throw new PonderError('NO_ADAPTER', `no WebGPU adapter named "${adapterName}"${backend ? ` on backend "${backend}"` : ''}; adapters here: ${formatAdapterList(available)}`, '--adapter takes a part of one of those names; `ponder info --all` lists them');
    }
    throw new PonderError('NO_ADAPTER', `no WebGPU adapter${adapterName ? ` named "${adapterName}"` : ''}${backend ? ` on backend "${backend}"` : ''}: ${message.split('\n')[0]}`, NO_ADAPTER_HINT);
  }
  if (!adapter) {
    throw new PonderError('NO_ADAPTER', `no WebGPU adapter found${backend ? ` on backend "${backend}"` : ''}${adapterName ? ` named "${adapterName}"` : ''}`, NO_ADAPTER_HINT);
  }

  const adapterLimits = limitsToRecord(adapter.limits);
  const requiredLimits: Record<string, number> = {};
  for (const key of [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupSizeZ',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage',
  ]) {
    if (adapterLimits[key] !== undefined) requiredLimits[key] = adapterLimits[key];
  }
  const features = new Set<WantedFeature>();
  for (const f of WANTED_FEATURES) if (adapter.features.has(f)) features.add(f);

  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: [...features] as GPUFeatureName[], requiredLimits });
  } catch (e) {
    throw new PonderError('NO_ADAPTER', `the adapter refused to open a device: ${e instanceof Error ? e.message : String(e)}`, NO_ADAPTER_HINT);
  }
  const info = describeAdapter(adapter, backend);
  if (info.backend.toLowerCase() === 'null') {
    device.destroy();
    throw new PonderError('NO_ADAPTER', `the only adapter found is Dawn's null backend, which computes nothing`, NO_ADAPTER_HINT);
  }
  if (info.software) yieldToAdapterThreads();
  let gpuRef: GPU | undefined = gpu;
  return {
    device,
    adapter,
    info,
    limits: limitsToRecord(device.limits),
    features,
    close() {
      device.destroy();
      gpuRef = undefined;
      void gpuRef;
    },
  };
}
