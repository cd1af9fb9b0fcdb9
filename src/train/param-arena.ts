import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { Param } from './optimizer.js';

/**
 * Training parameters carved out of a few shared buffers instead of one buffer each, so that the
 * optimizer can update many of them in one dispatch (AdamW merges params that lie back to back in
 * one buffer into one run, see optimizer.ts) and zeroGrads clears a whole arena at once.
 *
 * Layout: params are placed in the order given, decaying ones first, then the others (norms and
 * biases), so each kind forms long runs; each starts at a multiple of ALIGN_ELEMS floats (the
 * storage-binding offset alignment every adapter accepts, 256 bytes); an arena is closed when the
 * next param would take it over the device's maxStorageBufferBindingSize, so any run can be bound
 * whole. Every arena has a value buffer and a grad buffer of the same layout; the gaps between
 * params (alignment padding) are zero in both and nothing ever writes them: an optimizer that
 * updates a whole run leaves them zero (zero grad, zero moment, zero value under weight decay).
 */
export const ALIGN_ELEMS = 64;

export interface ParamSpec {
  name: string;
  shape: number[];
  /** initial values, numel(shape) long */
  data: Float32Array;
  decay: boolean;
}

/** Where planArenas puts each param: its arena and its element offset there. */
export interface ArenaPlan {
  /** elements of each arena, padding included */
  sizes: number[];
  /** per param, in the order given: [arena, element offset] */
  place: [number, number][];
}

/** The layout of the header: decaying params first, each aligned, arenas within `maxBytes`. */
export function planArenas(params: readonly { size: number; decay: boolean }[], maxBytes: number): ArenaPlan {
  const maxElems = Math.max(ALIGN_ELEMS, Math.floor(maxBytes / 4 / ALIGN_ELEMS) * ALIGN_ELEMS);
  const order = [...params.keys()].sort((a, b) => Number(params[b]!.decay) - Number(params[a]!.decay) || a - b);
  const place: [number, number][] = new Array(params.length);
  const sizes: number[] = [];
  let used = 0;
  for (const i of order) {
    const n = params[i]!.size;
    if (sizes.length === 0 || used + n > maxElems) {
      sizes.push(0);
      used = 0;
    }
    place[i] = [sizes.length - 1, used];
    used += Math.ceil(Math.max(n, 1) / ALIGN_ELEMS) * ALIGN_ELEMS;
    sizes[sizes.length - 1] = used;
  }
  return { sizes, place };
}

/**
 * The runs AdamW updates as one tensor over a planArenas layout (optimizer.ts): per arena, the
 * decaying params and the others, each run from its first param's start to its last param's end.
 * Returns each run's element count.
 */
export function arenaRuns(params: readonly { size: number; decay: boolean }[], plan: ArenaPlan): number[] {
  const extents = new Map<string, [number, number]>();
  params.forEach((p, i) => {
    const [a, off] = plan.place[i]!;
    const key = `${a}:${p.decay}`;
    const e = extents.get(key);
    extents.set(key, e ? [Math.min(e[0], off), Math.max(e[1], off + p.size)] : [off, off + p.size]);
  });
  return [...extents.values()].map(([lo, hi]) => hi - lo);
}

interface Arena {
  values: Tensor;
  grads: Tensor;
}

export class ParamArenas {
  private constructor(
    private readonly gpu: Gpu,
    private readonly arenas: Arena[],
    /** one Param per spec, in spec order */
    readonly params: Param[],
  ) {}

  /** `maxBytes` (tests: force several arenas) caps an arena below the device's binding limit. */
  static create(gpu: Gpu, specs: ParamSpec[], opts: { maxBytes?: number } = {}): ParamArenas {
    const maxBytes = Math.min(opts.maxBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize);
    for (const sp of specs) {
      if (sp.data.length * 4 > maxBytes) throw new PonderError('DEVICE_LIMIT', `TrainableModel: tensor "${sp.name}" is over this device's maxStorageBufferBindingSize of ${maxBytes} bytes`);
    }
    const { sizes, place } = planArenas(specs.map((sp) => ({ size: sp.data.length, decay: sp.decay })), maxBytes);
    const hosts = sizes.map((n) => new Float32Array(n));
    specs.forEach((s, i) => hosts[place[i]![0]]!.set(s.data, place[i]![1]));
    const arenas = hosts.map((h, a) => {
      const values = gpu.upload(h, [h.length], 'f32', `params.${a}`);
      const grads = gpu.empty([h.length], 'f32', `grads.${a}`);
      return { values, grads };
    });
    const params = specs.map((s, i): Param => {
      const [a, off] = place[i]!;
      return { name: s.name, value: arenas[a]!.values.view(off, s.shape), grad: arenas[a]!.grads.view(off, s.shape), decay: s.decay };
    });
    const out = new ParamArenas(gpu, arenas, params);
    out.zeroGrads();
    return out;
  }

  /** Sets every grad, padding included, to 0 (one write per arena). */
  zeroGrads(): void {
    for (const a of this.arenas) this.gpu.clear(a.grads);
  }

  /** Bytes of GPU memory the value and grad buffers take (padding included). */
  get bytes(): number {
    return this.arenas.reduce((s, a) => s + a.values.byteSize + a.grads.byteSize, 0);
  }

  release(): void {
    for (const a of this.arenas) {
      a.values.release();
      a.grads.release();
    }
  }
}
