/**
 * A Tensor is a typed view of one GPU buffer: a shape, a dtype and a byte offset into the buffer
 * (0 for a buffer of its own; a `view` into a shared buffer, such as one tensor of a training
 * parameter arena, starts at a multiple of the storage-binding alignment). It owns no memory logic
 * itself; `release()` hands the buffer back to the pool it came from (views release nothing).
 */
export type DType = 'f32' | 'u32' | 'i32' | 'f16';

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, u32: 4, i32: 4, f16: 2 };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join('x')}]`;
}

export interface TensorOwner {
  releaseBuffer(buffer: GPUBuffer): void;
}

export class Tensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly byteOffset: number;
  private owner: TensorOwner | null;

  constructor(buffer: GPUBuffer, shape: readonly number[], dtype: DType, owner: TensorOwner | null, byteOffset = 0) {
    this.buffer = buffer;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.owner = owner;
    this.byteOffset = byteOffset;
  }

  get size(): number {
    return numel(this.shape);
  }

  get byteSize(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }

  /** A tensor over the same buffer with another shape of the same element count. */
  reshape(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) throw new Error(`reshape ${shapeString(this.shape)} -> ${shapeString(shape)}: sizes differ`);
    return new Tensor(this.buffer, shape, this.dtype, null, this.byteOffset);
  }

  /**
   * A tensor of `shape` over this one's buffer from element `elementOffset` on (relative to this
   * tensor's own start); it must lie inside this tensor. Releasing it releases nothing.
   */
  view(elementOffset: number, shape: readonly number[]): Tensor {
    if (!Number.isInteger(elementOffset) || elementOffset < 0 || elementOffset + numel(shape) > this.size) {
      throw new Error(`view at ${elementOffset} of ${shapeString(shape)} is outside ${this.dtype}${shapeString(this.shape)}`);
    }
    return new Tensor(this.buffer, shape, this.dtype, null, this.byteOffset + elementOffset * DTYPE_BYTES[this.dtype]);
  }

  /** Returns the buffer to its pool. Using the tensor afterwards is a bug. */
  release(): void {
    if (this.owner) {
      this.owner.releaseBuffer(this.buffer);
      this.owner = null;
    }
  }

  toString(): string {
    return `${this.dtype}${shapeString(this.shape)}`;
  }
}
