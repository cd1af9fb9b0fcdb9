/**
 * Builds the bytes of a kernel's uniform `Params` struct. Kernels declare params as a struct of
 * scalars (u32, i32, f32) in the same order as the builder calls, so packing is sequential 4-byte
 * words; the result is padded to 16 bytes as uniform bindings require.
 */
export class Params {
  private words: number[] = [];
  private kinds: ('u32' | 'i32' | 'f32')[] = [];

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`u32 param out of range: ${v}`);
    this.words.push(v);
    this.kinds.push('u32');
    return this;
  }

  i32(v: number): this {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`i32 param out of range: ${v}`);
    this.words.push(v);
    this.kinds.push('i32');
    return this;
  }

  f32(v: number): this {
    this.words.push(v);
    this.kinds.push('f32');
    return this;
  }

  get byteLength(): number {
    return Math.max(16, Math.ceil((this.words.length * 4) / 16) * 16);
  }

  /** Writes the packed struct into `view` at `byteOffset`. */
  writeTo(view: DataView, byteOffset: number): void {
    for (let i = 0; i < this.words.length; i++) {
      const o = byteOffset + i * 4;
      const k = this.kinds[i];
      if (k === 'f32') view.setFloat32(o, this.words[i], true);
      else if (k === 'i32') view.setInt32(o, this.words[i], true);
      else view.setUint32(o, this.words[i], true);
    }
  }
}
