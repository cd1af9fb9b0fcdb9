import './globals.js';
import { availableParallelism } from 'node:os';
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
 * Opens a Dawn adapter and device with the adapter's real limits and the optional features ponder
 * can use. Throws PonderError('NO_ADAPTER') with an install hint when nothing is found.
 */
export async function openDevice(opts: DeviceOptions = {}): Promise<OpenedDevice> {
  // The Vulkan loader warns (and some ICDs misbehave) without a runtime dir; give it a private one.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  installExitGuard();
  // lavapipe runs one rasteriser thread per core by default; its threads stall on per-lane loads,
  // and oversubscribing (4 per core) measured ~1.4x faster for matmul on a 2-core machine (see
  // bench/RESULTS.md). Read by Mesa when the device is created; ignored by every other driver.
  if (!process.env.LP_NUM_THREADS) process.env.LP_NUM_THREADS = String(Math.min(32, 4 * availableParallelism()));
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
    adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  } catch (e) {
    const detail = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new PonderError('NO_ADAPTER', `no WebGPU adapter${adapterName ? ` named "${adapterName}"` : ''}${backend ? ` on backend "${backend}"` : ''}: ${detail}`, NO_ADAPTER_HINT);
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
