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

  /**
   * Splits a tensor [n, ...rest] into its n entries [...rest], views of this buffer. The first
   * takes over this tensor's ownership (releasing it releases the whole buffer); this one must not be
   * used afterwards. How weights stored stacked (gate and up as one [2, I, H]) keep one name each.
   */
  unstack(): Tensor[] {
    const [n, ...rest] = this.shape;
    const step = numel(rest) * DTYPE_BYTES[this.dtype];
    const parts = Array.from({ length: n ?? 0 }, (_, i) => new Tensor(this.buffer, rest, this.dtype, i === 0 ? this.owner : null, this.byteOffset + i * step));
    this.owner = null;
    return parts;
  }

  /**
   * Views of consecutive row blocks of this [rows, ...rest] tensor, counts[i] rows each (summing to
   * rows); the first takes over the buffer's ownership, as unstack.
   */
  splitRows(counts: readonly number[]): Tensor[] {
    const [rows, ...rest] = this.shape;
    if (counts.reduce((a, n) => a + n, 0) !== rows) throw new Error(`splitRows: ${counts.join('+')} rows do not make ${shapeString(this.shape)}`);
    const rowBytes = numel(rest) * DTYPE_BYTES[this.dtype];
    let offset = this.byteOffset;
    const parts = counts.map((n, i) => {
      const t = new Tensor(this.buffer, [n, ...rest], this.dtype, i === 0 ? this.owner : null, offset);
      offset += n * rowBytes;
      return t;
    });
    this.owner = null;
    return parts;
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

/** The storage-binding offset alignment every adapter accepts (minStorageBufferOffsetAlignment ≤ 256). */
export const BINDING_ALIGN_BYTES = 256;

/**
 * The [k, ...shape] view over tensors of one shape that lie back to back in one buffer (each right
 * after the one before, the first at an aligned offset), or undefined when they do not. A matmul
 * against the stacked view runs every one of them in one dispatch (matmul's shared-A batch).
 */
export function stackedView(parts: readonly Tensor[]): Tensor | undefined {
  const first = parts[0];
  if (!first || first.byteOffset % BINDING_ALIGN_BYTES !== 0) return undefined;
  for (const [i, t] of parts.entries()) {
    if (t.buffer !== first.buffer || t.dtype !== first.dtype || t.byteOffset !== first.byteOffset + i * first.byteSize) return undefined;
    if (t.shape.length !== first.shape.length || t.shape.some((d, j) => d !== first.shape[j])) return undefined;
  }
  return new Tensor(first.buffer, [parts.length, ...first.shape], first.dtype, null, first.byteOffset);
}

/**
 * The [Σ rows, ...rest] view over [rows_i, ...rest] tensors that lie back to back in one buffer (each
 * right after the one before, the first at an aligned offset), or undefined when they do not: a
 * matmul against it computes all their outputs side by side in each output row (q, k and v from one
 * projection).
 */
export function concatenatedView(parts: readonly Tensor[]): Tensor | undefined {
  const first = parts[0];
  if (!first || first.byteOffset % BINDING_ALIGN_BYTES !== 0) return undefined;
  const rest = first.shape.slice(1);
  let offset = first.byteOffset;
  let rows = 0;
  for (const t of parts) {
    if (t.buffer !== first.buffer || t.dtype !== first.dtype || t.byteOffset !== offset) return undefined;
    if (t.shape.length !== first.shape.length || t.shape.some((d, j) => j > 0 && d !== first.shape[j])) return undefined;
    offset += t.byteSize;
    rows += t.shape[0]!;
  }
  return new Tensor(first.buffer, [rows, ...rest], first.dtype, null, first.byteOffset);
}

/**
 * Whether two tensors share bytes: the same buffer with intersecting ranges. Views of one buffer
 * that do not intersect (the halves of a stacked pair, the params of an arena) may be bound together,
 * one of them written, in one dispatch.
 */
export function overlaps(a: Tensor, b: Tensor): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + Math.max(b.byteSize, 4) && b.byteOffset < a.byteOffset + Math.max(a.byteSize, 4);
}
