/**
 * Half-precision conversions between float32 and the two 16-bit formats safetensors files use:
 *
 * - BF16 (bfloat16): the top 16 bits of an IEEE float32. BF16 → f32 is exact (`bits << 16`).
 * - F16 (IEEE binary16): 1 sign, 5 exponent, 10 mantissa bits. F16 → f32 is exact (every binary16
 *   value, subnormals included, is a float32).
 *
 * f32 → BF16/F16 rounds to nearest, ties to even; values too large become ±Infinity, values too
 * small become (signed) zero or a subnormal, NaN stays NaN (made quiet, sign kept), ±Infinity stays.
 *
 * All "bits" values are plain numbers in 0..0xffff. The array functions work on host-order
 * Uint16Arrays; byte order on disk is the caller's business (see safetensors.ts).
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The float32 bit pattern of x (x is rounded to float32 first). */
export function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** The float32 whose bit pattern is u. */
export function f32FromBits(u: number): number {
  scratchU32[0] = u;
  return scratchF32[0]!;
}

// ---- BF16 ---------------------------------------------------------------------------------------

/** BF16 bits → float32 value, exactly. */
export function bf16BitsToF32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

/** float32 bit pattern → BF16 bits, round to nearest even. */
function bf16FromF32Bits(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x0040) & 0xffff; // NaN: keep it NaN, quiet
  // Adding 0x7fff plus the lowest kept bit rounds to nearest with ties to even; a carry out of the
  // mantissa bumps the exponent, and the largest finite values round up to Infinity as they should.
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 value → BF16 bits, round to nearest even. */
export function f32ToBf16Bits(x: number): number {
  return bf16FromF32Bits(f32Bits(x));
}

// ---- F16 ----------------------------------------------------------------------------------------

/** float32 bit pattern → F16 bits, round to nearest even. */
function f16FromF32Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00; // NaN (quiet) / Inf
  const e = exp - 127 + 15; // the binary16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // too large: Infinity
  if (e <= 0) {
    // A binary16 subnormal (or zero). |x| = mant24 · 2^(exp-150); in units of 2^-24 that is
    // mant24 >> (14 - e). Below 2^-25 everything rounds to zero (2^-25 itself is a tie → even → 0).
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e; // 14..24
    let q = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) === 1)) q++; // may carry into the smallest normal: fine
    return sign | q;
  }
  let q = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (q & 1) === 1)) q++; // a carry may reach 0x7c00 = Infinity: fine
  return sign | q;
}

/** float32 value → F16 bits, round to nearest even. */
export function f32ToF16Bits(x: number): number {
  return f16FromF32Bits(f32Bits(x));
}

let f16Table: Uint32Array | undefined;

/** The float32 bit pattern of every binary16 value (256 KiB, built on first use). */
function f16ToF32Table(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) t[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf / NaN (payload kept)
    else if (exp !== 0) t[h] = (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
    else if (mant === 0) t[h] = sign >>> 0; // ±0
    else {
      // Subnormal: mant · 2^-24, exactly representable as a normal float32.
      t[h] = (sign | f32Bits(mant * 2 ** -24)) >>> 0;
    }
  }
  f16Table = t;
  return t;
}

/** F16 bits → float32 value, exactly. */
export function f16BitsToF32(h: number): number {
  return f32FromBits(f16ToF32Table()[h & 0xffff]!);
}

// ---- arrays -------------------------------------------------------------------------------------

function u32View(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function checkLengths(what: string, src: { length: number }, dst: { length: number }): void {
  if (src.length !== dst.length) throw new RangeError(`${what}: source has ${src.length} elements, destination ${dst.length}`);
}

/** BF16 bits → float32, exactly, element by element. */
export function bf16ToF32Array(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLengths('bf16ToF32Array', src, dst);
  const out = u32View(dst);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
  return dst;
}

/** F16 bits → float32, exactly, element by element. */
export function f16ToF32Array(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLengths('f16ToF32Array', src, dst);
  const t = f16ToF32Table();
  const out = u32View(dst);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return dst;
}

/** float32 → BF16 bits, round to nearest even, element by element. */
export function f32ToBf16Array(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths('f32ToBf16Array', src, dst);
  const bits = u32View(src);
  for (let i = 0; i < bits.length; i++) dst[i] = bf16FromF32Bits(bits[i]!);
  return dst;
}

/** float32 → F16 bits, round to nearest even, element by element. */
export function f32ToF16Array(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths('f32ToF16Array', src, dst);
  const bits = u32View(src);
  for (let i = 0; i < bits.length; i++) dst[i] = f16FromF32Bits(bits[i]!);
  return dst;
}
