/**
 * Seeded random inputs for kernel tests. Every run draws a fresh seed (so each CI run explores new
 * data) unless PONDER_TEST_SEED is set; the seed is printed on failure by `check()` so any failure
 * can be replayed exactly.
 */
export const testSeed: number = process.env.PONDER_TEST_SEED ? Number(process.env.PONDER_TEST_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;

/** splitmix32: tiny, fast, good enough for test data. */
export function rng(seed: number = testSeed): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

/** Uniform in [lo, hi). */
export function randomF32(n: number, rand: () => number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/** Standard normal via Box-Muller. */
export function randomNormal(n: number, rand: () => number, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export function randomInts(n: number, rand: () => number, max: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * max);
  return out;
}

/** Random contiguous segments per row: runs of 1..maxRun tokens, ids 0, 1, 2, ... within a row. */
export function randomSegments(B: number, T: number, r: () => number, maxRun: number): Uint32Array {
  const seg = new Uint32Array(B * T);
  for (let b = 0; b < B; b++) {
    let id = 0;
    let left = 1 + Math.floor(r() * maxRun);
    for (let t = 0; t < T; t++) {
      if (left === 0) {
        id++;
        left = 1 + Math.floor(r() * maxRun);
      }
      seg[b * T + t] = id;
      left--;
    }
  }
  return seg;
}
