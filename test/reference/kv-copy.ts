/**
 * Reference for the KV slot copy (test-only): a cache [S, Hkv, L, D] as a flat array; each job
 * copies positions 0..positions-1 of every head of slot `from` into slot `to`. Works on the raw bits
 * (a Uint32Array view), since a copy must move every value exactly, NaN payloads included.
 */
export function kvCopyRef(cache: Uint32Array, shape: readonly [number, number, number, number], jobs: readonly { from: number; to: number; positions: number }[]): Uint32Array {
  const [, Hkv, L, D] = shape;
  const out = cache.slice();
  for (const { from, to, positions } of jobs) {
    for (let h = 0; h < Hkv; h++) {
      for (let t = 0; t < positions; t++) {
        for (let d = 0; d < D; d++) out[((to * Hkv + h) * L + t) * D + d] = cache[((from * Hkv + h) * L + t) * D + d]!;
      }
    }
  }
  return out;
}
