import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectDtype, expectRank, expectShape } from '../ops/check.js';
import { expectDistinct } from '../ops/softmax.js';

/**
 * Counter-based RNG shared by the CPU and the GPU: Philox4x32-10 (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11; the generator of cuRAND, JAX and PyTorch's CUDA backend).
 *
 * A counter-based generator has no state to carry between draws: the output is a pure function
 *   (key: 2 x u32, counter: 4 x u32) -> 4 x u32
 * so any thread can draw "the n-th number of stream s at step t" directly, draws never depend on
 * how the work is split over threads, rows or batches, and the CPU can reproduce any GPU draw.
 * Ten rounds of two 32x32->64 multiplies pass BigCrush with a large margin.
 *
 * Bit-exactness: the only non-trivial operation is the 32x32 -> 64-bit multiply. WGSL has no 64-bit
 * integers and JS numbers cannot hold 64-bit products, so both sides compute it from 16-bit halves
 * with the same formula (`mulhilo` here and in wgsl/sample.wgsl); every intermediate fits in 32 bits,
 * so the two implementations are bit-identical by construction (test/sample/rng.test.ts checks it).
 *
 * Layout used by the sampler (wgsl/sample.wgsl), seed -> key and the draw's coordinates -> counter:
 *   key     = (seed mod 2^32, floor(seed / 2^32))
 *   counter = (index, step, stream, domain)
 * index: the 4-element block of the vocabulary (Gumbel noise) or 0; step: the decode step; stream:
 * the row's stream (e.g. its sequence id); domain: which consumer (RNG_DOMAIN) so the draws of
 * different algorithms never share counters.
 */

export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;

/** The counter's 4th word: which consumer a draw belongs to. */
export const RNG_DOMAIN = { gumbel: 0, candidate: 1, speculative: 2 } as const;

/** High and low 32 bits of a * b (u32 * u32), from 16-bit halves exactly as the WGSL does it. */
export function mulhilo(a: number, b: number): [hi: number, lo: number] {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const ll = al * bl;
  const hl = ah * bl;
  const lh = al * bh;
  const hh = ah * bh;
  const cross = (ll >>> 16) + (hl & 0xffff) + lh; // < 2^32: no wrap
  const hi = (hh + (hl >>> 16) + (cross >>> 16)) >>> 0;
  const lo = Math.imul(a, b) >>> 0;
  return [hi, lo];
}

/** Philox4x32-10 of `counter` under `key`: four uniform u32s. */
export function philox4x32(key0: number, key1: number, c0: number, c1: number, c2: number, c3: number): Uint32Array {
  let k0 = key0 >>> 0;
  let k1 = key1 >>> 0;
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  for (let r = 0; r < 10; r++) {
    const [hi0, lo0] = mulhilo(PHILOX_M0, x0);
    const [hi1, lo1] = mulhilo(PHILOX_M1, x2);
    const y0 = (hi1 ^ x1 ^ k0) >>> 0;
    const y2 = (hi0 ^ x3 ^ k1) >>> 0;
    x0 = y0;
    x1 = lo1;
    x2 = y2;
    x3 = lo0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  return Uint32Array.of(x0, x1, x2, x3);
}

/** Splits a seed (a non-negative safe integer) into the Philox key words. */
export function seedKey(seed: number): [lo: number, hi: number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new PonderError('BAD_INPUT', `seed must be a non-negative integer below 2^53, got ${seed}`);
  }
  return [seed % 4294967296, Math.floor(seed / 4294967296)];
}

/**
 * u32 -> uniform in the open interval (0, 1): the top 23 bits plus one half, times 2^-23. Every
 * result is exactly representable in f32 (odd multiples of 2^-24), so the GPU's f32 value equals
 * this one bit for bit, and neither 0 nor 1 can occur (log(u) and log(1 - u) are always finite).
 */
export function u32ToUnit(x: number): number {
  return ((x >>> 9) + 0.5) * 2 ** -23;
}

/** The four u32s of draw (seed, stream, step, index) in `domain`: counter = (index, step, stream, domain). */
export function drawU32(seed: number, stream: number, step: number, index: number, domain: number): Uint32Array {
  const [k0, k1] = seedKey(seed);
  return philox4x32(k0, k1, index, step, stream, domain);
}

/** The uniform the Gumbel-max sampler uses for vocabulary entry `token` (4 entries per Philox call). */
export function gumbelUniform(seed: number, stream: number, step: number, token: number): number {
  return u32ToUnit(drawU32(seed, stream, step, Math.floor(token / 4), RNG_DOMAIN.gumbel)[token % 4]);
}

/** The one uniform the candidate sampler (top-k / top-p / min-p) draws for a row. */
export function candidateUniform(seed: number, stream: number, step: number): number {
  return u32ToUnit(drawU32(seed, stream, step, 0, RNG_DOMAIN.candidate)[0]);
}

/**
 * Runs the WGSL Philox on the GPU (for the CPU == GPU test): counters u32 [N, 4] -> u32 [N, 8]:
 * the four raw words, then the bits of their four f32 uniforms (u32ToUnit).
 */
export function philoxGpu(gpu: Gpu, seed: number, counters: Tensor, out?: Tensor): Tensor {
  expectDtype('philox', 'counters', counters, ['u32']);
  expectRank('philox', 'counters', counters, [2]);
  expectShape('philox', 'counters', counters, [counters.shape[0], 4], 'N x 4');
  const n = counters.shape[0];
  const o = out ?? gpu.empty([n, 8], 'u32', 'philox.out');
  expectDtype('philox', 'out', o, ['u32']);
  expectShape('philox', 'out', o, [n, 8], 'N x 8');
  expectDistinct('philox', 'counters', counters, 'out', o);
  const [k0, k1] = seedKey(seed);
  // Params must match struct Params in wgsl/sample.wgsl; fields the test entry ignores are 0.
  const params = new Params().u32(n).u32(0).u32(0).f32(0).f32(0).f32(0).u32(k0).u32(k1).u32(0).u32(0);
  const wgs = Math.ceil(n / 64);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.ceil(wgs / maxWg);
  const unused = gpu.empty([1], 'f32', 'philox.unused'); // binding 1 (logits) of the shared layout
  gpu.dispatch({ file: 'sample.wgsl', entry: 'rng_test', params, tensors: [unused, counters, o], workgroups: [Math.ceil(wgs / y), y] });
  unused.release(); // safe: later users of the buffer are recorded or written after this dispatch
  return o;
}
