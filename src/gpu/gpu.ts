import './globals.js';
import { PonderError } from '../errors.js';
import { openDevice, type AdapterDescription, type DeviceOptions, type WantedFeature } from './device.js';
import type { Params } from './params.js';
import { BindGroupCache, type Binding } from './bind-groups.js';
import { PipelineCache, type KernelRef } from './pipelines.js';
import { pacedWait, pollSleepMicros } from './paced-poll.js';
import { BufferPool, formatBytes } from './pool.js';
import { BINDING_ALIGN_BYTES, DTYPE_BYTES, Tensor, numel, shapeString, type DType } from './tensor.js';

/**
 * The one object every op talks to: device, buffer pool, pipeline cache and a command recorder.
 *
 * Recording: dispatches go into one open compute pass of one command encoder; nothing is submitted
 * until `flush()` (called by `read`, `sync`, `write` and automatically every `maxDispatchesPerSubmit`
 * dispatches). On lavapipe a submit-and-wait costs ~90 µs and a dispatch ~13 µs, so batching many
 * dispatches per submit is what keeps small kernels from drowning in overhead.
 *
 * Uniform params: each dispatch gets its own slot in a CPU-side arena; at flush the used part of the
 * arena is written to one GPU uniform buffer with a single writeBuffer, then the commands are
 * submitted. Queue order guarantees the next flush's write lands after this submission ran.
 *
 * Binding convention for every kernel in wgsl/: `@binding(0)` is `var<uniform> p: Params`, and the
 * tensors follow at bindings 1..n in the order given to `dispatch`.
 */
/** A read-back in flight (Gpu.stage): `result()` once, or `cancel()` when it is no longer wanted. */
export interface StagedRead {
  result(): Promise<Float32Array | Uint32Array | Int32Array | Uint16Array>;
  cancel(): void;
}

/** The bytes read back from `t`, as its dtype's typed array. */
function typedView(bytes: ArrayBuffer, t: Tensor): Float32Array | Uint32Array | Int32Array | Uint16Array {
  switch (t.dtype) {
    case 'f32':
      return new Float32Array(bytes, 0, t.size);
    case 'u32':
      return new Uint32Array(bytes, 0, t.size);
    case 'i32':
      return new Int32Array(bytes, 0, t.size);
    case 'f16':
      return new Uint16Array(bytes, 0, t.size);
  }
}

export interface Dispatch extends KernelRef {
  params: Params;
  tensors: Tensor[];
  workgroups: [number, number?, number?];
}

const PARAM_SLOT = 256; // >= minUniformBufferOffsetAlignment on every adapter
const ARENA_SLOTS = 1024;
/** Read-backs up to this size reuse their staging buffers (decode reads a token id or a row of logits a step). */
const STAGING_REUSE_BYTES = 64 * 1024;

export class Gpu {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly bindGroups: BindGroupCache;
  readonly maxDispatchesPerSubmit = 512;
  dispatchCount = 0;
  submitCount = 0;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pendingDispatches = 0;
  /** buffers that recorded, not yet submitted work binds or copies (write flushes only for these) */
  private pendingBuffers = new Set<GPUBuffer>();
  private arenaCpu = new ArrayBuffer(PARAM_SLOT * ARENA_SLOTS);
  private arenaView = new DataView(this.arenaCpu);
  private arenaGpu: GPUBuffer;
  private arenaUsed = 0;
  private deviceErrors: PonderError[] = [];
  /** unmapped read-back buffers of up to STAGING_REUSE_BYTES, by size: a decode step reads a few bytes each time */
  private stagingFree = new Map<number, GPUBuffer[]>();
  private closed = false;
  /** µs each event-loop turn sleeps while this waits for the GPU (gpu/paced-poll.ts; 0 on a real GPU) */
  private readonly pollSleep: number;

  private constructor(
    readonly device: GPUDevice,
    readonly info: AdapterDescription,
    readonly limits: Record<string, number>,
    readonly features: Set<WantedFeature>,
    private closeDevice: () => void,
  ) {
    this.pollSleep = pollSleepMicros(info.software);
    this.pool = new BufferPool(device, limits.maxBufferSize, () => this.flush());
    this.pipelines = new PipelineCache(device);
    this.bindGroups = new BindGroupCache(device);
    this.arenaGpu = device.createBuffer({
      size: PARAM_SLOT * ARENA_SLOTS,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'params-arena',
    });
    const onError = (ev: Event) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.deviceErrors.push(new PonderError('GPU_VALIDATION', `GPU error: ${err?.message?.split('\n')[0] ?? String(err)}`));
    };
    if (typeof device.addEventListener === 'function') device.addEventListener('uncapturederror', onError);
    else (device as GPUDevice).onuncapturederror = onError as never;
    void device.lost.then((info) => {
      if (!this.closed) this.deviceErrors.push(new PonderError('DEVICE_LOST', `the GPU device was lost: ${info.message || info.reason}`));
    });
  }

  static async open(opts: DeviceOptions = {}): Promise<Gpu> {
    const d = await openDevice(opts);
    return new Gpu(d.device, d.info, d.limits, d.features, () => d.close());
  }

  has(feature: WantedFeature): boolean {
    return this.features.has(feature);
  }

  // ---------------------------------------------------------------- allocation and transfer

  /** An uninitialised tensor from the pool (contents are whatever the buffer held). */
  empty(shape: readonly number[], dtype: DType = 'f32', label?: string): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new PonderError('SHAPE', `invalid tensor shape ${shapeString(shape)}${label ? ` for ${label}` : ''}`);
    }
    const bytes = Math.max(4, numel(shape) * DTYPE_BYTES[dtype]);
    return new Tensor(this.pool.acquire(bytes, label), shape, dtype, this.pool);
  }

  /**
   * `count` tensors of one shape; as views of one [count, ...shape] buffer (`whole`, which owns it)
   * when each part's bytes are a multiple of the binding alignment, so a matmul can write them all as
   * one batch (matmul's shared-A batch, stackedView), else as buffers of their own (no `whole`).
   */
  emptyStacked(count: number, shape: readonly number[], label: string): { whole?: Tensor; parts: Tensor[] } {
    if ((numel(shape) * 4) % BINDING_ALIGN_BYTES === 0) {
      const whole = this.empty([count, ...shape], 'f32', label);
      return { whole, parts: Array.from({ length: count }, (_, i) => whole.view(i * numel(shape), shape)) };
    }
    return { parts: Array.from({ length: count }, (_, i) => this.empty(shape, 'f32', `${label}.${i}`)) };
  }

  upload(data: Float32Array | Uint32Array | Int32Array | Uint16Array, shape: readonly number[], dtype?: DType, label?: string): Tensor {
    const dt: DType = dtype ?? (data instanceof Float32Array ? 'f32' : data instanceof Uint32Array ? 'u32' : data instanceof Int32Array ? 'i32' : 'f16');
    if (numel(shape) !== data.length) {
      throw new PonderError('SHAPE', `upload: ${data.length} values do not fill shape ${shapeString(shape)}`);
    }
    const t = this.empty(shape, dt, label);
    this.write(t, data);
    return t;
  }

  /**
   * Overwrites a tensor's contents. A queue write lands before the next submit, so when recorded
   * work uses this tensor's buffer it is submitted first, to see the old contents; otherwise the
   * recording goes on: a decode round's inputs, written between its passes, cost no extra submits.
   */
  write(t: Tensor, data: Float32Array | Uint32Array | Int32Array | Uint16Array, elementOffset = 0): void {
    if (this.pendingBuffers.has(t.buffer)) this.flush();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // writeBuffer needs 4-byte multiples; f16 data of odd length gets one padding half.
    if (bytes.byteLength % 4 !== 0) {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(t.buffer, t.byteOffset + elementOffset * DTYPE_BYTES[t.dtype], padded);
    } else {
      this.device.queue.writeBuffer(t.buffer, t.byteOffset + elementOffset * DTYPE_BYTES[t.dtype], bytes);
    }
  }

  /**
   * Records setting a tensor's bytes to zero (a command-buffer clear: no CPU array, no upload), in
   * order with the dispatches around it. Gradient arenas are cleared this way every step: a 190 MB
   * upload of zeros took ~250 ms on lavapipe, the clear a memset's time.
   */
  clear(t: Tensor): void {
    if (t.byteSize === 0) return;
    // a clear covers whole words; an odd-length f16 view would clear half of its neighbour's first one
    if (t.byteSize % 4 !== 0) throw new PonderError('SHAPE', `clear: ${t} is ${t.byteSize} bytes, not a whole number of 4-byte words`);
    this.endPass();
    this.ensureEncoder().clearBuffer(t.buffer, t.byteOffset, t.byteSize);
    this.pendingBuffers.add(t.buffer);
  }

  /** Fills a tensor with one value (tests poison outputs with NaN this way). */
  fill(t: Tensor, value: number): void {
    const n = t.size;
    if (t.dtype === 'f32') this.write(t, new Float32Array(n).fill(value));
    else if (t.dtype === 'u32') this.write(t, new Uint32Array(n).fill(value));
    else if (t.dtype === 'i32') this.write(t, new Int32Array(n).fill(value));
    else throw new PonderError('SHAPE', `fill: unsupported dtype ${t.dtype}`);
  }

  /** Copies a tensor to the CPU. Flushes pending work and reports any GPU error first. */
  read(t: Tensor): Promise<Float32Array | Uint32Array | Int32Array | Uint16Array> {
    return this.stage(t).result();
  }

  /**
   * Starts reading a tensor back: the copy into a staging buffer is recorded now, in order with the
   * work recorded so far, and `result()` submits it if nothing has yet and waits for that work
   * alone. Work recorded and submitted after `stage` neither changes nor delays the result, so a
   * decode loop can submit the next step before it waits for this step's token and the GPU never
   * idles while JavaScript records (engine/generate.ts). Each staged read is awaited or cancelled.
   */
  stage(t: Tensor): StagedRead {
    const bytes = Math.ceil(t.byteSize / 4) * 4;
    const size = bytes <= STAGING_REUSE_BYTES ? Math.ceil(bytes / 256) * 256 : bytes;
    const staging = this.stagingFree.get(size)?.pop() ?? this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, bytes);
    const submitted = this.submitCount; // the copy goes out with the next submit
    let settled = false;
    const recycle = () => {
      settled = true;
      if (size > STAGING_REUSE_BYTES) staging.destroy();
      else {
        let free = this.stagingFree.get(size);
        if (!free) this.stagingFree.set(size, (free = []));
        free.push(staging);
      }
    };
    return {
      result: async () => {
        if (settled) throw new PonderError('BAD_INPUT', 'a staged read was already taken or cancelled');
        if (this.submitCount === submitted) this.flush();
        await pacedWait(staging.mapAsync(GPUMapMode.READ, 0, bytes), this.pollSleep);
        const copy = staging.getMappedRange(0, bytes).slice(0);
        staging.unmap();
        recycle();
        await this.checkErrors();
        return typedView(copy, t);
      },
      cancel: () => {
        // an unmapped staging buffer may take another read's copy: queue order keeps them apart
        if (!settled) recycle();
      },
    };
  }

  async readF32(t: Tensor): Promise<Float32Array> {
    if (t.dtype !== 'f32') throw new PonderError('SHAPE', `readF32 on a ${t.dtype} tensor`);
    return (await this.read(t)) as Float32Array;
  }

  async readU32(t: Tensor): Promise<Uint32Array> {
    if (t.dtype !== 'u32') throw new PonderError('SHAPE', `readU32 on a ${t.dtype} tensor`);
    return (await this.read(t)) as Uint32Array;
  }

  /** Records a buffer-to-buffer copy of `src` into `dst` (whole tensor, or a byte range). */
  copy(src: Tensor, dst: Tensor, srcByteOffset = 0, dstByteOffset = 0, bytes = Math.min(src.byteSize, dst.byteSize)): void {
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(src.buffer, src.byteOffset + srcByteOffset, dst.buffer, dst.byteOffset + dstByteOffset, bytes);
    this.pendingBuffers.add(src.buffer).add(dst.buffer);
  }

  // ---------------------------------------------------------------- dispatch

  dispatch(d: Dispatch): void {
    const [x, y = 1, z = 1] = d.workgroups;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new PonderError('DEVICE_LIMIT', `${d.file}: a grid of ${x}x${y}x${z} workgroups exceeds this device's ${maxWg} per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    const maxBinding = this.limits.maxStorageBufferBindingSize;
    for (const t of d.tensors) {
      if (t.byteSize > maxBinding) {
        throw new PonderError('DEVICE_LIMIT', `${d.file}: tensor ${t} is ${formatBytes(t.byteSize)}, over this device's maxStorageBufferBindingSize of ${formatBytes(maxBinding)}`);
      }
    }
    if (this.arenaUsed >= ARENA_SLOTS || this.pendingDispatches >= this.maxDispatchesPerSubmit) this.flush();
    const slot = this.arenaUsed++;
    const paramBytes = d.params.byteLength;
    if (paramBytes > PARAM_SLOT) throw new PonderError('SHAPE', `${d.file}: params struct of ${paramBytes} bytes is too large`);
    d.params.writeTo(this.arenaView, slot * PARAM_SLOT);

    const pipeline = this.pipelines.pipeline(d);
    const bindings: Binding[] = [{ buffer: this.arenaGpu, offset: slot * PARAM_SLOT, size: paramBytes }];
    for (const t of d.tensors) {
      bindings.push({ buffer: t.buffer, offset: t.byteOffset, size: Math.ceil(Math.max(t.byteSize, 4) / 4) * 4 });
      this.pendingBuffers.add(t.buffer);
    }
    const bindGroup = this.bindGroups.get(pipeline, bindings);
    const pass = this.ensurePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.pendingDispatches++;
    this.dispatchCount++;
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.arenaUsed > 0) {
      this.device.queue.writeBuffer(this.arenaGpu, 0, this.arenaCpu, 0, this.arenaUsed * PARAM_SLOT);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.pendingBuffers.clear();
    this.arenaUsed = 0;
    this.pendingDispatches = 0;
    this.submitCount++;
  }

  /** Flushes and waits until the GPU has finished; throws the first GPU error seen. */
  async sync(): Promise<void> {
    this.flush();
    await pacedWait(this.device.queue.onSubmittedWorkDone(), this.pollSleep);
    await this.checkErrors();
  }

  /**
   * GPU time in nanoseconds of the dispatches `record` makes, from timestamp queries around one
   * compute pass; undefined when the adapter has no `timestamp-query`.
   */
  async timeGpu(record: () => void): Promise<number | undefined> {
    if (!this.has('timestamp-query')) {
      record();
      await this.sync();
      return undefined;
    }
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const staging = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    this.pass = this.ensureEncoder().beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    const flushLimit = this.pendingDispatches;
    record();
    if (this.encoder === null || this.pendingDispatches < flushLimit) {
      throw new PonderError('GPU_VALIDATION', 'timeGpu: the recorded work was flushed mid-measurement (too many dispatches)');
    }
    this.endPass();
    this.encoder!.resolveQuerySet(querySet, 0, 2, resolve, 0);
    this.encoder!.copyBufferToBuffer(resolve, 0, staging, 0, 16);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const ts = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    resolve.destroy();
    querySet.destroy();
    await this.checkErrors();
    return Number(ts[1] - ts[0]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeDevice();
  }

  // ---------------------------------------------------------------- internals

  private ensureEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private ensurePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.ensureEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private async checkErrors(): Promise<void> {
    const compile = await this.pipelines.takeErrors();
    if (compile.length) {
      this.deviceErrors = [];
      throw compile[0];
    }
    if (this.deviceErrors.length) {
      const first = this.deviceErrors[0];
      this.deviceErrors = [];
      throw first;
    }
  }
}

/**
 * Splits `count` workgroups over x and y so neither exceeds the device limit. Kernels using it
 * compute their linear workgroup index as `wid.x + wid.y * nwg.x` and return when past the end.
 */
export function grid1d(count: number, maxPerDim: number): [number, number] {
  if (count <= maxPerDim) return [Math.max(count, 0), 1];
  const y = Math.ceil(count / maxPerDim);
  return [Math.ceil(count / y), y];
}
