import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { tunedEntry, tuneCacheWarning } from './tune-cache.js';

/**
 * Which matmul kernels and tile sizes to use on an adapter. `pickMatmulConfig` chooses from
 * DEFAULT_MATMUL_CONFIGS by adapter class; `setMatmulConfig` replaces the choice for one Gpu (an
 * autotuner measures candidates and installs the winner this way). Every config is checked against
 * the device limits before use and rejected with PonderError('DEVICE_LIMIT').
 *
 * Kernels:
 *  - 'subgroup' (wgsl/matmul_sg.wgsl): lanes own columns, the subgroup shares rows of A through
 *    subgroupBroadcast; built for CPU SIMD drivers where every lane-load is expensive. Needs the
 *    `subgroups` feature with subgroup size >= 8 and vec4-aligned B (else 'tiled' is used).
 *  - 'tiled' (wgsl/matmul.wgsl): workgroup-memory tiles + 4x4 register blocks, any shape; the GPU
 *    kernel and the fallback everywhere.
 *  - 'gemv' (wgsl/matmul_gemv.wgsl): the small-M (decode) path on GPUs, one pass over B with vec4
 *    loads and a workgroup reduction over K.
 *  - 'gemvSubgroup' (wgsl/matmul_gemv_sg.wgsl): the small-M path for B stored [N,K] on CPU SIMD
 *    drivers: subgroup lanes split K so every subgroup load reads contiguous cache lines.
 */
export interface SubgroupKernelConfig {
  /** invocations per workgroup; a multiple of 8 */
  wg: number;
  /** rows of C per workgroup for large M (<= 128; a multiple of 4) */
  rows: number;
  /** column quads per invocation (1 or 2): a workgroup covers 4·colQuads·wg columns */
  colQuads: number;
}

export interface TiledKernelConfig {
  /** workgroup size x (columns); the tile is 4·tx wide */
  tx: number;
  /** workgroup size y (rows); the tile is 4·ty tall */
  ty: number;
  /** depth of the workgroup-memory slab */
  bk: number;
}

export interface GemvKernelConfig {
  /** output columns per workgroup when B is stored [N,K] */
  cols: number;
  /** invocations splitting K for each column (a power of two) */
  threadsPerCol: number;
  /** invocations per workgroup when B is stored [K,N] (each owns 4 columns) */
  wgKN: number;
}

export interface GemvSubgroupKernelConfig {
  /**
   * invocations per workgroup: 8, or a multiple of 8 when subgroups are exactly 8 wide (each group
   * of 8 invocations owns `cols` columns and reduces with subgroupAdd)
   */
  wg: number;
  /** output columns per subgroup (<= 16) */
  cols: number;
}

export interface MatmulConfig {
  /** the kernel for M > smallM (and for small M when smallMKernel is 'same') */
  kernel: 'subgroup' | 'tiled';
  /** M at or below which the small-M (decode) path is used */
  smallM: number;
  /**
   * decode path: 'gemv' kernel, 'gemvSubgroup' (B stored [N,K] only; other layouts use the main
   * kernel), or 'same' (the main kernel with few rows per workgroup)
   */
  smallMKernel: 'gemv' | 'gemvSubgroup' | 'same';
  subgroup: SubgroupKernelConfig;
  tiled: TiledKernelConfig;
  gemv: GemvKernelConfig;
  gemvSubgroup: GemvSubgroupKernelConfig;
}

/** A partial config for setMatmulConfig: any top-level field, and any field of each kernel section. */
export type MatmulConfigPatch = Partial<Pick<MatmulConfig, 'kernel' | 'smallM' | 'smallMKernel'>> & {
  subgroup?: Partial<SubgroupKernelConfig>;
  tiled?: Partial<TiledKernelConfig>;
  gemv?: Partial<GemvKernelConfig>;
  gemvSubgroup?: Partial<GemvSubgroupKernelConfig>;
};

/**
 * Default table (used as is when there is no tune cache entry for the adapter; `ponder bench --tune`
 * measures matmulTuneCandidates and stores the winners, see tune-cache.ts).
 *
 * | entry        | main kernel                    | small-M (decode) path        | measured on                  |
 * |--------------|--------------------------------|------------------------------|------------------------------|
 * | cpuSubgroup  | subgroup, 128 rows x 2 quads   | gemvSubgroup, 4 cols, wg 64, | lavapipe, Mesa 25, 2 Zen 4   |
 * |              |                                | up to 4 rows                 |                              |
 * | cpu          | tiled 8x8 invocations, bk 16   | gemv                         | (fallback, not tuned)        |
 * | gpu          | tiled 16x16 invocations, bk 16 | gemv, 4 cols x 64 threads    | not measured (no GPU here)   |
 *
 * On lavapipe with 16 lanes, 128-row blocks ran the 50M training step's matmuls ~10% faster than
 * 64, at about twice the compile time (once: Mesa caches it on disk); M ≤ 64 still gets
 * 64-row blocks (matmul.ts subgroupRows). With 8 lanes, 64-row blocks with 2 column quads per lane
 * beat 32 rows or 1 quad on quiet runs, and
 * gemvSubgroup streamed decode weights ~3x faster than the big kernel with 8-row blocks. Under heavy
 * load from other processes the tuner has picked 32 rows / 2 quads and gemvSubgroup wg 8 / 8 columns
 * (within ~15% of the defaults); the table keeps the quiet-machine choice.
 */
export const DEFAULT_MATMUL_CONFIGS = {
  /** CPU drivers (lavapipe, SwiftShader) with subgroups: the broadcast kernel, big row blocks. */
  cpuSubgroup: {
    kernel: 'subgroup',
    // gemvSubgroup up to 4 rows: from 5 to 8 it runs its 8-row form, which the main kernel's 8-row
    // blocks beat at every shape measured (`node scripts/profile-batched-ops.mjs`: 8 rows against
    // 768 x 128 weights 0.59 against 0.19 ms, against Qwen2.5-0.5B's 896 x 4864 6.9 against 5.8);
    // at 4 rows gemv still wins on large weights, at 1-2 everywhere
    smallM: 4,
    smallMKernel: 'gemvSubgroup',
    subgroup: { wg: 8, rows: 128, colQuads: 2 },
    tiled: { tx: 8, ty: 8, bk: 16 },
    gemv: { cols: 16, threadsPerCol: 8, wgKN: 64 },
    gemvSubgroup: { wg: 64, cols: 4 },
  },
  /** CPU drivers without subgroups. */
  cpu: {
    kernel: 'tiled',
    smallM: 8,
    smallMKernel: 'gemv',
    subgroup: { wg: 8, rows: 64, colQuads: 2 },
    tiled: { tx: 8, ty: 8, bk: 16 },
    gemv: { cols: 16, threadsPerCol: 8, wgKN: 64 },
    gemvSubgroup: { wg: 8, cols: 8 },
  },
  /** Hardware GPUs: 64x64 tiles of 16x16 invocations, gemv for decode. */
  gpu: {
    kernel: 'tiled',
    smallM: 8,
    smallMKernel: 'gemv',
    subgroup: { wg: 64, rows: 32, colQuads: 1 },
    tiled: { tx: 16, ty: 16, bk: 16 },
    gemv: { cols: 4, threadsPerCol: 64, wgKN: 64 },
    gemvSubgroup: { wg: 64, cols: 4 },
  },
} as const satisfies Record<string, MatmulConfig>;

export type MatmulConfigName = keyof typeof DEFAULT_MATMUL_CONFIGS;

const overrides = new WeakMap<Gpu, MatmulConfig>();
const picked = new WeakMap<Gpu, MatmulConfig>();

/** True when the adapter can run matmul_sg.wgsl (subgroups with at least 8 lanes). */
export function subgroupKernelSupported(gpu: Gpu): boolean {
  return gpu.has('subgroups') && (gpu.info.subgroupMinSize ?? 0) >= 8;
}

/** The default table entry for this adapter. */
export function defaultMatmulConfigName(gpu: Gpu): MatmulConfigName {
  if (gpu.info.software) return subgroupKernelSupported(gpu) ? 'cpuSubgroup' : 'cpu';
  return 'gpu';
}

/** The default table entry for this adapter, adjusted to its features (no tuning applied). */
export function defaultMatmulConfig(gpu: Gpu): MatmulConfig {
  const cfg = fitToAdapter(gpu, DEFAULT_MATMUL_CONFIGS[defaultMatmulConfigName(gpu)]);
  validateMatmulConfig(gpu, cfg);
  return cfg;
}

/** A copy of a table entry adjusted to this adapter's features and subgroup width (not validated). */
export function fitToAdapter(gpu: Gpu, entry: MatmulConfig): MatmulConfig {
  const cfg = cloneConfig(entry);
  if (cfg.kernel === 'subgroup' && !subgroupKernelSupported(gpu)) cfg.kernel = 'tiled';
  if (cfg.smallMKernel === 'gemvSubgroup' && !subgroupKernelSupported(gpu)) cfg.smallMKernel = 'gemv';
  if (gpu.info.subgroupMaxSize !== 8) cfg.gemvSubgroup.wg = 8;
  // 16-lane subgroups (lavapipe with 512-bit vectors): a workgroup fills one, and the kernel shares
  // A over all 16 lanes (matmul.ts subgroupLanes)
  if (cfg.kernel === 'subgroup' && (gpu.info.subgroupMinSize ?? 0) >= 16 && cfg.subgroup.wg % 16 !== 0) cfg.subgroup.wg = 16;
  return cfg;
}

/**
 * The config matmul uses on this Gpu: an installed override, else the adapter's default with the
 * autotune cache's entry for this adapter merged over it (see tune-cache.ts; a cached config the
 * device rejects is ignored with a warning).
 */
export function pickMatmulConfig(gpu: Gpu): MatmulConfig {
  const o = overrides.get(gpu);
  if (o) return o;
  let cfg = picked.get(gpu);
  if (!cfg) {
    cfg = defaultMatmulConfig(gpu);
    const tuned = tunedEntry(gpu)?.matmul as MatmulConfigPatch | undefined;
    if (tuned) {
      try {
        const merged = mergeConfig(cfg, tuned);
        validateMatmulConfig(gpu, merged);
        cfg = merged;
      } catch (e) {
        tuneCacheWarning(`ignoring the tuned matmul config: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    picked.set(gpu, cfg);
  }
  return cfg;
}

/** Forgets the cached pick (after the tune cache changed). Installed overrides stay. */
export function resetPickedMatmulConfig(gpu: Gpu): void {
  picked.delete(gpu);
}

/** `patch` over `base`, field by field; unknown fields and wrong types fail validation later. */
function mergeConfig(base: MatmulConfig, patch: MatmulConfigPatch): MatmulConfig {
  return {
    kernel: patch.kernel ?? base.kernel,
    smallM: patch.smallM ?? base.smallM,
    smallMKernel: patch.smallMKernel ?? base.smallMKernel,
    subgroup: { ...base.subgroup, ...patch.subgroup },
    tiled: { ...base.tiled, ...patch.tiled },
    gemv: { ...base.gemv, ...patch.gemv },
    gemvSubgroup: { ...base.gemvSubgroup, ...patch.gemvSubgroup },
  };
}

/**
 * Installs `config` for every later matmul on `gpu`, merged over the adapter's default with its tuned
 * settings (not over an earlier override), or restores the default with `undefined`. Throws PonderError('DEVICE_LIMIT')
 * and keeps the previous config if the new one does not fit the device.
 */
export function setMatmulConfig(gpu: Gpu, config: MatmulConfigPatch | undefined): MatmulConfig {
  const previous = overrides.get(gpu);
  overrides.delete(gpu);
  const base = pickMatmulConfig(gpu);
  if (config === undefined) return base;
  const merged = mergeConfig(base, config);
  try {
    validateMatmulConfig(gpu, merged);
  } catch (e) {
    if (previous) overrides.set(gpu, previous);
    throw e;
  }
  overrides.set(gpu, merged);
  return merged;
}

function cloneConfig(c: MatmulConfig): MatmulConfig {
  return { ...c, subgroup: { ...c.subgroup }, tiled: { ...c.tiled }, gemv: { ...c.gemv }, gemvSubgroup: { ...c.gemvSubgroup } };
}

function limitError(message: string): never {
  throw new PonderError('DEVICE_LIMIT', `matmul config: ${message}`);
}

/** Workgroup-memory bytes of the tiled kernel: two f32 slabs of bk x 4·t. */
export function tiledWorkgroupBytes(t: TiledKernelConfig): number {
  return (t.bk * 4 * t.ty + t.bk * 4 * t.tx) * 4;
}

/** Workgroup-memory bytes of the gemv kernel: one partial sum per (invocation, row <= 8). */
export function gemvWorkgroupBytes(g: GemvKernelConfig): number {
  return g.cols * g.threadsPerCol * 8 * 4;
}

/** Throws PonderError('DEVICE_LIMIT') naming the offending value when `cfg` cannot run on `gpu`. */
export function validateMatmulConfig(gpu: Gpu, cfg: MatmulConfig): void {
  const L = gpu.limits;
  const maxInv = L.maxComputeInvocationsPerWorkgroup;
  const maxX = L.maxComputeWorkgroupSizeX;
  const maxY = L.maxComputeWorkgroupSizeY;
  const maxShared = L.maxComputeWorkgroupStorageSize;
  const posInt = (name: string, v: number) => {
    if (!Number.isInteger(v) || v <= 0) limitError(`${name} must be a positive integer, got ${v}`);
  };

  if (cfg.kernel !== 'subgroup' && cfg.kernel !== 'tiled') limitError(`kernel must be "subgroup" or "tiled", got ${JSON.stringify(cfg.kernel)}`);
  if (!['gemv', 'gemvSubgroup', 'same'].includes(cfg.smallMKernel)) limitError(`smallMKernel must be "gemv", "gemvSubgroup" or "same", got ${JSON.stringify(cfg.smallMKernel)}`);
  const s = cfg.subgroup;
  posInt('subgroup.wg', s.wg);
  posInt('subgroup.rows', s.rows);
  if (s.wg % 8 !== 0) limitError(`subgroup.wg must be a multiple of 8, got ${s.wg}`);
  if (s.wg > maxInv || s.wg > maxX) limitError(`subgroup.wg ${s.wg} exceeds this device's ${Math.min(maxInv, maxX)} invocations per workgroup`);
  if (s.rows > 128 || s.rows % 4 !== 0) limitError(`subgroup.rows must be a multiple of 4 up to 128, got ${s.rows}`);
  if (s.colQuads !== 1 && s.colQuads !== 2) limitError(`subgroup.colQuads must be 1 or 2, got ${s.colQuads}`);
  if (cfg.kernel === 'subgroup' && !subgroupKernelSupported(gpu)) {
    limitError('the subgroup kernel needs the "subgroups" feature with subgroups of at least 8 invocations');
  }

  const t = cfg.tiled;
  posInt('tiled.tx', t.tx);
  posInt('tiled.ty', t.ty);
  posInt('tiled.bk', t.bk);
  if (t.tx * t.ty > maxInv) limitError(`tiled workgroup ${t.tx}x${t.ty} = ${t.tx * t.ty} invocations exceeds this device's ${maxInv}`);
  if (t.tx > maxX || t.ty > maxY) limitError(`tiled workgroup ${t.tx}x${t.ty} exceeds this device's ${maxX}x${maxY}`);
  const tb = tiledWorkgroupBytes(t);
  if (tb > maxShared) limitError(`tiled slabs need ${tb} bytes of workgroup memory, over this device's ${maxShared}`);

  const g = cfg.gemv;
  posInt('gemv.cols', g.cols);
  posInt('gemv.threadsPerCol', g.threadsPerCol);
  posInt('gemv.wgKN', g.wgKN);
  if ((g.threadsPerCol & (g.threadsPerCol - 1)) !== 0) limitError(`gemv.threadsPerCol must be a power of two, got ${g.threadsPerCol}`);
  if (g.cols * g.threadsPerCol > maxInv || g.cols * g.threadsPerCol > maxX) {
    limitError(`gemv workgroup of ${g.cols}x${g.threadsPerCol} invocations exceeds this device's ${Math.min(maxInv, maxX)}`);
  }
  if (g.wgKN > maxInv || g.wgKN > maxX) limitError(`gemv.wgKN ${g.wgKN} exceeds this device's ${Math.min(maxInv, maxX)} invocations`);
  const gb = gemvWorkgroupBytes(g);
  if (gb > maxShared) limitError(`gemv partial sums need ${gb} bytes of workgroup memory, over this device's ${maxShared}`);
  const gs = cfg.gemvSubgroup;
  posInt('gemvSubgroup.wg', gs.wg);
  posInt('gemvSubgroup.cols', gs.cols);
  if (gs.wg % 8 !== 0) limitError(`gemvSubgroup.wg must be a multiple of 8, got ${gs.wg}`);
  if (gs.wg > maxInv || gs.wg > maxX) limitError(`gemvSubgroup.wg ${gs.wg} exceeds this device's ${Math.min(maxInv, maxX)} invocations per workgroup`);
  if (gs.cols > 16) limitError(`gemvSubgroup.cols must be at most 16, got ${gs.cols}`);
  // The kernel maps invocations 8i..8i+7 to one subgroup; only exact with 8-wide subgroups.
  if (gs.wg > 8 && gpu.info.subgroupMaxSize !== 8) limitError(`gemvSubgroup.wg must be 8 unless subgroups are exactly 8 wide, got ${gs.wg}`);
  if (cfg.smallMKernel === 'gemvSubgroup' && !subgroupKernelSupported(gpu)) {
    limitError('the gemvSubgroup kernel needs the "subgroups" feature with subgroups of at least 8 invocations');
  }
  posInt('smallM', cfg.smallM);
  if (cfg.smallM > 8) limitError(`smallM must be at most 8, got ${cfg.smallM}`);
}

/** A named configuration the autotuner may install; `part` says which problems it affects. */
export interface MatmulTuneCandidate {
  name: string;
  /** 'main': M above smallM; 'smallM': the decode path (M <= smallM) */
  part: 'main' | 'smallM';
  patch: MatmulConfigPatch;
}

/**
 * The configurations `ponder bench --tune` measures on this adapter: a few per part, chosen so the
 * whole search compiles a handful of pipelines (each costs 1-4 s to compile on lavapipe). Only
 * candidates the device can run are listed; every one is covered by test/ops/matmul.test.ts.
 */
export function matmulTuneCandidates(gpu: Gpu): MatmulTuneCandidate[] {
  const sg = subgroupKernelSupported(gpu);
  const out: MatmulTuneCandidate[] = [];
  const main = (name: string, patch: MatmulConfigPatch) => out.push({ name, part: 'main', patch });
  const small = (name: string, patch: MatmulConfigPatch) => out.push({ name, part: 'smallM', patch });
  if (gpu.info.software) {
    if (sg) {
      // a workgroup fills a subgroup: 16 invocations on 16-lane subgroups (see defaultMatmulConfig)
      const wg = (gpu.info.subgroupMinSize ?? 0) >= 16 ? 16 : 8;
      for (const [rows, colQuads] of [[128, 2], [64, 2], [64, 1]]) main(`subgroup r${rows} q${colQuads}`, { kernel: 'subgroup', subgroup: { wg, rows, colQuads } });
    }
    main('tiled 8x8 k16', { kernel: 'tiled', tiled: { tx: 8, ty: 8, bk: 16 } });
  } else {
    main('tiled 16x16 k16', { kernel: 'tiled', tiled: { tx: 16, ty: 16, bk: 16 } });
    main('tiled 16x16 k8', { kernel: 'tiled', tiled: { tx: 16, ty: 16, bk: 8 } });
    main('tiled 8x8 k16', { kernel: 'tiled', tiled: { tx: 8, ty: 8, bk: 16 } });
    if (sg) main('subgroup r32 q1 wg64', { kernel: 'subgroup', subgroup: { wg: 64, rows: 32, colQuads: 1 } });
  }
  if (sg) {
    const wide = gpu.info.subgroupMaxSize === 8;
    if (wide) small('gemvSubgroup wg64 c4', { smallMKernel: 'gemvSubgroup', gemvSubgroup: { wg: 64, cols: 4 } });
    small('gemvSubgroup wg8 c8', { smallMKernel: 'gemvSubgroup', gemvSubgroup: { wg: 8, cols: 8 } });
  }
  small('gemv c16 t8', { smallMKernel: 'gemv', gemv: { cols: 16, threadsPerCol: 8, wgKN: 64 } });
  small('gemv c4 t64', { smallMKernel: 'gemv', gemv: { cols: 4, threadsPerCol: 64, wgKN: 64 } });
  return out.filter((c) => {
    try {
      validateMatmulConfig(gpu, mergeConfig(defaultMatmulConfig(gpu), c.patch));
      return true;
    } catch {
      return false;
    }
  });
}
