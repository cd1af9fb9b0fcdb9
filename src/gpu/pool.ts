import './globals.js';
import { PonderError } from '../errors.js';
import { formatBytes } from '../format.js';
import type { TensorOwner } from './tensor.js';

/**
 * Storage buffers are recycled by size class instead of being created and destroyed per op: Dawn's
 * buffer creation costs tens of microseconds and zero-fills memory. Size classes are multiples of
 * 256 bytes up to 64 KiB and then steps of 1/8 of the next power of two, so a released buffer fits
 * requests within ~12% of its size. The pool also counts the bytes live and the peak, which the
 * training dashboard and `bench train` report as GPU memory in use.
 */
export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  if (b <= 65536) return Math.ceil(b / 256) * 256;
  const pow = 2 ** Math.floor(Math.log2(b));
  const step = pow / 8;
  return Math.ceil(b / step) * step;
}

export class BufferPool implements TensorOwner {
  private free = new Map<number, GPUBuffer[]>();
  private sizes = new WeakMap<GPUBuffer, number>();
  bytesLive = 0;
  bytesPeak = 0;
  bytesCached = 0;

  constructor(
    private device: GPUDevice,
    private maxBufferSize: number,
    /** submits recorded work: a released buffer may still be named in it, and must not be destroyed first */
    private readonly submitPending: () => void = () => {},
  ) {}

  acquire(bytes: number, label?: string): GPUBuffer {
    const cls = sizeClass(bytes);
    if (cls > this.maxBufferSize && bytes <= this.maxBufferSize) return this.create(bytes, bytes, label);
    if (bytes > this.maxBufferSize) {
      throw new PonderError(
        'DEVICE_LIMIT',
        `a ${formatBytes(bytes)} buffer${label ? ` (${label})` : ''} exceeds this device's maxBufferSize of ${formatBytes(this.maxBufferSize)}`,
      );
    }
    const list = this.free.get(cls);
    const reused = list?.pop();
    if (reused) {
      this.bytesCached -= cls;
      this.track(cls);
      return reused;
    }
    return this.create(cls, cls, label);
  }

  private create(bytes: number, cls: number, label?: string): GPUBuffer {
    const buffer = this.device.createBuffer({ size: bytes, usage: STORAGE_USAGE, label });
    this.sizes.set(buffer, cls);
    this.track(cls);
    return buffer;
  }

  private track(bytes: number): void {
    this.bytesLive += bytes;
    if (this.bytesLive > this.bytesPeak) this.bytesPeak = this.bytesLive;
  }

  releaseBuffer(buffer: GPUBuffer): void {
    const cls = this.sizes.get(buffer);
    if (cls === undefined) return;
    this.bytesLive -= cls;
    this.bytesCached += cls;
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(buffer);
  }

  /** Destroys cached (released) buffers, e.g. between benchmark cases. */
  trim(): void {
    this.submitPending();
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.bytesCached = 0;
  }
}

export { formatBytes };
