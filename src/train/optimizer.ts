import { PonderError } from '../errors.js';
import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { shapeString, Tensor } from '../gpu/tensor.js';
import { expectDtype, expectShape, fail } from '../ops/check.js';

/**
 * AdamW on the GPU with global grad-norm clipping and a NaN/Inf guard, all without a readback:
 *
 *   step(lr):  grad_norm.wgsl `partial`  once per param  -> fixed-slot partial sums of g^2
 *              grad_norm.wgsl `finalize` once            -> norm, skip flag, clip factor, step
 *                                                           counter, bias corrections (GPU state)
 *              adamw.wgsl     `adamw`    once per param  -> m, v, p updated unless skipped
 *
 * The reduction is two-stage in a fixed order (no float atomics), so the norm, and every update,
 * is bit-for-bit reproducible. The step counter lives on the GPU (u32[1]) because the skip
 * decision does: bias correction stays right after skipped steps without syncing.
 *
 * "Per param" is per run: params whose values (and grads, at the same distance) lie back to back in
 * one buffer with only alignment padding (< 256 bytes) between them, and that agree on decay, are
 * one run, updated and summed as a single tensor, so a model whose params live in a few arenas
 * (param-arena.ts) steps in a handful of dispatches. The padding must be zero in values and grads
 * (ParamArenas keeps it so): it then stays zero and adds nothing to the norm. m and v are one buffer
 * per run; state() hands out per-param views of them, so checkpoints keep one tensor per param.
 */
export interface AdamWConfig {
  lr: number;
  /** default 0.9 */
  beta1?: number;
  /** default 0.95 */
  beta2?: number;
  /** default 1e-8 */
  eps?: number;
  /** decoupled weight decay, applied only to params with `decay`; default 0 */
  weightDecay?: number;
  /** max global grad norm; 0 (default) = no clipping */
  gradClip?: number;
}

export interface Param {
  name: string;
  value: Tensor;
  grad: Tensor;
  /** false for norms and biases */
  decay: boolean;
}

/** HF naming convention: `*norm.weight` and `*.bias` do not decay, everything else does. */
export function decaysByName(name: string): boolean {
  return !(name.endsWith('norm.weight') || name.endsWith('.bias'));
}

const WG = 256;
/**
 * Gradient elements one grad_norm workgroup sums, per thread. Large because on lavapipe a workgroup's
 * start and its reduction tree's barriers cost microseconds: at 8 a 47M-parameter model made ~16k
 * workgroups and ~300 ms of norm; at 64, 2k and a read of the grads' time.
 */
const ITEMS = 64;
const CHUNK = WG * ITEMS;
/** Items per thread of the AdamW update (adamw.wgsl's ITEMS; the same reason): vec4s, or elements. */
const ADAM_ITEMS = 4;
/** the storage-binding offset alignment every adapter accepts */
const ALIGN_BYTES = 256;

/**
 * Elements per item of a run's norm and update kernels: 4 (vec4s: `partial4`, `adamw4`) when its
 * length allows, since run offsets are 256-byte aligned; else 1.
 */
function vec4Lanes(n: number): number {
  return n % 4 === 0 ? 4 : 1;
}

/** Params updated as one tensor (see the header): views of the run's extent, and its moments. */
interface Run {
  value: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
  decay: boolean;
}

export class AdamW {
  readonly params: readonly Param[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private readonly gradClip: number;
  /** per param: views of its run's moments */
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  private readonly runs: Run[];
  /** u32[1]: applied steps, advanced on the GPU by finalize. */
  private readonly stepT: Tensor;
  /** f32[4]: [apply, clip_scale, 1 - b1^t, 1 - b2^t], written by finalize, read by adamw. */
  private readonly scalars: Tensor;
  private readonly partials: Tensor;
  private readonly offsets: number[];
  private readonly numPartials: number;
  private issued = 0;
  private disposed = false;

  constructor(
    private readonly gpu: Gpu,
    params: Param[],
    cfg: AdamWConfig,
  ) {
    const op = 'AdamW';
    this.beta1 = cfg.beta1 ?? 0.9;
    this.beta2 = cfg.beta2 ?? 0.95;
    this.eps = cfg.eps ?? 1e-8;
    this.weightDecay = cfg.weightDecay ?? 0;
    this.gradClip = cfg.gradClip ?? 0;
    const bad = (what: string) => {
      throw new PonderError('BAD_INPUT', `${op}: ${what}`);
    };
    if (!(cfg.lr >= 0) || !Number.isFinite(cfg.lr)) bad(`lr must be a finite number >= 0, got ${cfg.lr}`);
    if (!(this.beta1 >= 0 && this.beta1 < 1)) bad(`beta1 must be in [0, 1), got ${this.beta1}`);
    if (!(this.beta2 >= 0 && this.beta2 < 1)) bad(`beta2 must be in [0, 1), got ${this.beta2}`);
    if (!(this.eps >= 0)) bad(`eps must be >= 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) bad(`weightDecay must be >= 0, got ${this.weightDecay}`);
    if (!(this.gradClip >= 0)) bad(`gradClip must be >= 0 (0 = off), got ${this.gradClip}`);
    if (params.length === 0) fail(op, 'no parameters');
    for (const p of params) {
      expectDtype(op, `${p.name}.value`, p.value, ['f32']);
      expectDtype(op, `${p.name}.grad`, p.grad, ['f32']);
      expectShape(op, `${p.name}.grad`, p.grad, p.value.shape, `same as ${p.name} ${shapeString(p.value.shape)}`);
    }
    this.params = [...params];
    const { runs, m, v } = this.planRuns(params);
    this.runs = runs;
    this.m = m;
    this.v = v;
    this.offsets = [];
    let off = 0;
    for (const r of runs) {
      this.offsets.push(off);
      off += Math.ceil(r.value.size / CHUNK);
    }
    this.numPartials = off;
    this.partials = gpu.empty([Math.max(off, 1)], 'f32', 'adamw.partials');
    this.stepT = gpu.upload(new Uint32Array([0]), [1], 'u32', 'adamw.step');
    this.scalars = gpu.upload(new Float32Array([0, 1, 1, 1]), [4], 'f32', 'adamw.scalars');
  }

  /**
   * Number of `step()` calls issued so far (applied or skipped). Whether a step was applied is
   * decided on the GPU; `readStepCount()` reads the applied count, which bias correction uses.
   */
  get stepCount(): number {
    return this.issued;
  }

  /** The number of applied (not skipped) steps, read back from the GPU (syncs). */
  async readStepCount(): Promise<number> {
    return (await this.gpu.readU32(this.stepT))[0]!;
  }

  /**
   * One optimizer step at learning rate `lr`. Records the dispatches, does not sync. Returns a fresh
   * f32[2] tensor (norm before clipping, skipped ? 1 : 0); the caller reads and releases it.
   */
  step(lr: number): Tensor {
    this.live();
    if (!Number.isFinite(lr) || lr < 0) throw new PonderError('BAD_INPUT', `AdamW.step: lr must be a finite number >= 0, got ${lr}`);
    const gpu = this.gpu;
    const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
    const result = gpu.empty([2], 'f32', 'adamw.result');
    this.runs.forEach((p, i) => {
      const n = p.grad.size;
      if (n === 0) return;
      const lanes = vec4Lanes(n); // the same chunks, read as vec4s when the length allows
      gpu.dispatch({
        file: 'grad_norm.wgsl',
        entry: lanes === 4 ? 'partial4' : 'partial',
        constants: { WG, ITEMS: ITEMS / lanes },
        params: this.normParams(n / lanes, this.offsets[i]!),
        tensors: [p.grad, this.partials],
        workgroups: grid1d(Math.ceil(n / CHUNK), maxWg),
      });
    });
    gpu.dispatch({
      file: 'grad_norm.wgsl',
      entry: 'finalize',
      constants: { WG, ITEMS },
      params: this.normParams(this.numPartials, 0),
      tensors: [this.partials, result, this.stepT, this.scalars],
      workgroups: [1],
    });
    this.runs.forEach((p) => {
      const n = p.value.size;
      if (n === 0) return;
      const lanes = vec4Lanes(n);
      gpu.dispatch({
        file: 'adamw.wgsl',
        entry: lanes === 4 ? 'adamw4' : 'adamw',
        constants: { WG, ITEMS: ADAM_ITEMS },
        params: new Params()
          .u32(n / lanes)
          .f32(lr)
          .f32(this.beta1)
          .f32(1 - this.beta1)
          .f32(this.beta2)
          .f32(1 - this.beta2)
          .f32(this.eps)
          .f32(p.decay ? this.weightDecay : 0),
        tensors: [p.value, p.grad, p.m, p.v, this.scalars],
        workgroups: grid1d(Math.ceil(n / (lanes * WG * ADAM_ITEMS)), maxWg),
      });
    });
    this.issued++;
    return result;
  }

  /** Sets every gradient to 0 on the GPU (recorded, no flush). */
  zeroGrads(): void {
    this.live();
    for (const p of this.params) this.gpu.clear(p.grad);
  }

  /** The optimizer state, for checkpoints: m and v per param (same order), step = u32[1] applied steps. */
  state(): { m: Tensor[]; v: Tensor[]; step: Tensor } {
    this.live();
    return { m: [...this.m], v: [...this.v], step: this.stepT };
  }

  /** Restores a checkpoint written from `state()` (host arrays, same param order). */
  loadState(s: { m: Float32Array[]; v: Float32Array[]; step: number }): void {
    this.live();
    const op = 'AdamW.loadState';
    if (s.m.length !== this.params.length || s.v.length !== this.params.length) {
      fail(op, `got ${s.m.length} m and ${s.v.length} v tensors, expected ${this.params.length}`);
    }
    if (!Number.isInteger(s.step) || s.step < 0) throw new PonderError('BAD_INPUT', `${op}: step must be an integer >= 0, got ${s.step}`);
    this.params.forEach((p, i) => {
      for (const [k, arr, t] of [['m', s.m[i]!, this.m[i]!], ['v', s.v[i]!, this.v[i]!]] as const) {
        if (arr.length !== p.value.size) fail(op, `${k} of ${p.name} has ${arr.length} values, expected ${p.value.size} (${shapeString(p.value.shape)})`);
        this.gpu.write(t, arr);
      }
    });
    this.gpu.write(this.stepT, new Uint32Array([s.step]));
    this.issued = s.step;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [...this.runs.flatMap((r) => [r.m, r.v]), this.partials, this.stepT, this.scalars]) t.release();
  }

  // ---------------------------------------------------------------- internals

  /**
   * Groups the params into runs (see the header): sorted by buffer and offset, a param joins the run
   * before it when it shares its value and grad buffers at the same value-to-grad distance, has the
   * same decay, starts less than ALIGN_BYTES after the run's end, and the run stays within one
   * storage binding. Returns the runs (with zeroed moments) and each param's views of them.
   */
  private planRuns(params: Param[]): { runs: Run[]; m: Tensor[]; v: Tensor[] } {
    const bufferIds = new Map<GPUBuffer, number>();
    const id = (b: GPUBuffer) => bufferIds.get(b) ?? (bufferIds.set(b, bufferIds.size), bufferIds.size - 1);
    const order = [...params.keys()].sort((a, b) => id(params[a]!.value.buffer) - id(params[b]!.value.buffer) || params[a]!.value.byteOffset - params[b]!.value.byteOffset);
    const maxBytes = this.gpu.limits.maxStorageBufferBindingSize;
    const groups: { start: number; end: number; members: number[] }[] = [];
    for (const i of order) {
      const p = params[i]!;
      const g = groups[groups.length - 1];
      const head = g ? params[g.members[0]!]! : undefined;
      const joins =
        g !== undefined &&
        head !== undefined &&
        p.value.buffer === head.value.buffer &&
        p.grad.buffer === head.grad.buffer &&
        p.value.byteOffset - p.grad.byteOffset === head.value.byteOffset - head.grad.byteOffset &&
        p.decay === head.decay &&
        p.value.byteOffset >= g.end &&
        p.value.byteOffset - g.end < ALIGN_BYTES &&
        p.value.byteOffset + p.value.byteSize - g.start <= maxBytes &&
        g.start % ALIGN_BYTES === 0 &&
        head.grad.byteOffset % ALIGN_BYTES === 0;
      if (joins) {
        g.members.push(i);
        g.end = p.value.byteOffset + p.value.byteSize;
      } else {
        groups.push({ start: p.value.byteOffset, end: p.value.byteOffset + p.value.byteSize, members: [i] });
      }
    }
    const m: Tensor[] = new Array(params.length);
    const v: Tensor[] = new Array(params.length);
    const runs = groups.map((g): Run => {
      const head = params[g.members[0]!]!;
      if (g.members.length === 1) {
        const run = { value: head.value, grad: head.grad, m: this.zeros(head.value.shape, `adamw.m.${head.name}`), v: this.zeros(head.value.shape, `adamw.v.${head.name}`), decay: head.decay };
        m[g.members[0]!] = run.m;
        v[g.members[0]!] = run.v;
        return run;
      }
      const n = (g.end - g.start) / 4;
      const run: Run = {
        value: new Tensor(head.value.buffer, [n], 'f32', null, g.start),
        grad: new Tensor(head.grad.buffer, [n], 'f32', null, head.grad.byteOffset),
        m: this.zeros([n], `adamw.m.${head.name}+`),
        v: this.zeros([n], `adamw.v.${head.name}+`),
        decay: head.decay,
      };
      for (const i of g.members) {
        const p = params[i]!;
        m[i] = run.m.view((p.value.byteOffset - g.start) / 4, p.value.shape);
        v[i] = run.v.view((p.value.byteOffset - g.start) / 4, p.value.shape);
      }
      return run;
    });
    return { runs, m, v };
  }

  private normParams(n: number, offset: number): Params {
    return new Params()
      .u32(n)
      .u32(offset)
      .f32(this.gradClip)
      .f32(this.beta1)
      .f32(this.beta2)
      .f32(Math.log(this.beta1))
      .f32(Math.log(this.beta2));
  }

  private zeros(shape: readonly number[], label: string): Tensor {
    const t = this.gpu.empty(shape, 'f32', label);
    this.gpu.clear(t);
    return t;
  }

  private live(): void {
    if (this.disposed) throw new PonderError('BAD_INPUT', 'AdamW: used after dispose()');
  }
}
