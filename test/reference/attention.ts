/**
 * Float64 references for the KV-cache write and causal grouped-query attention (test-only).
 * Plain loops, explicit scores, masked softmax, weighted sum; the same clamping of out-of-range
 * slots/starts as the kernels (see src/ops/attention.ts).
 */
export interface AttnDims {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  /** cache slots */
  S: number;
  /** cache positions */
  L: number;
}

/** Returns copies of the caches [S,Hkv,L,D] with k,v [B,T,Hkv,D] written at slots[b], starts[b]+t. */
export function kvWriteRef(
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  kCache: ArrayLike<number>,
  vCache: ArrayLike<number>,
  slots: ArrayLike<number>,
  starts: ArrayLike<number>,
  dims: AttnDims,
): { kCache: Float64Array; vCache: Float64Array } {
  const { B, T, Hkv, D, S, L } = dims;
  const kc = Float64Array.from(kCache);
  const vc = Float64Array.from(vCache);
  for (let b = 0; b < B; b++) {
    const slot = slots[b];
    if (slot >= S) continue;
    for (let t = 0; t < T; t++) {
      const pos = starts[b] + t;
      if (pos >= L) continue;
      for (let h = 0; h < Hkv; h++) {
        for (let d = 0; d < D; d++) {
          const src = ((b * T + t) * Hkv + h) * D + d;
          const dst = ((slot * Hkv + h) * L + pos) * D + d;
          kc[dst] = k[src];
          vc[dst] = v[src];
        }
      }
    }
  }
  return { kCache: kc, vCache: vc };
}

/**
 * out [B,T,Hq,D] and lse [B,T,Hq] of causal attention: query t of row b (position starts[b]+t)
 * attends cache positions 0..min(starts[b]+t, L-1) of slot slots[b] through KV head h / (Hq/Hkv).
 */
export function attentionRef(
  q: ArrayLike<number>,
  kCache: ArrayLike<number>,
  vCache: ArrayLike<number>,
  slots: ArrayLike<number>,
  starts: ArrayLike<number>,
  dims: AttnDims,
  scale = 1 / Math.sqrt(dims.D),
): { out: Float64Array; lse: Float64Array } {
  const { B, T, Hq, Hkv, D, S, L } = dims;
  const G = Hq / Hkv;
  const out = new Float64Array(B * T * Hq * D);
  const lse = new Float64Array(B * T * Hq);
  const scores = new Float64Array(L);
  for (let b = 0; b < B; b++) {
    const slot = slots[b];
    for (let t = 0; t < T; t++) {
      const n = slot >= S ? 0 : Math.min(Math.min(starts[b], L) + t + 1, L);
      for (let h = 0; h < Hq; h++) {
        const row = (b * T + t) * Hq + h;
        if (n === 0) {
          lse[row] = -Infinity;
          continue;
        }
        const kvBase = (slot * Hkv + Math.floor(h / G)) * L * D;
        let max = -Infinity;
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[row * D + d] * kCache[kvBase + j * D + d];
          scores[j] = s * scale;
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j < n; j++) {
          scores[j] = Math.exp(scores[j] - max);
          sum += scores[j];
        }
        for (let j = 0; j < n; j++) {
          const w = scores[j] / sum;
          for (let d = 0; d < D; d++) out[row * D + d] += w * vCache[kvBase + j * D + d];
        }
        lse[row] = max + Math.log(sum);
      }
    }
  }
  return { out, lse };
}
