/**
 * Float64 reference for the backward pass of causal grouped-query attention in the training layout
 * (test-only): q [B,T,Hq,D] attends causally to k, v [B,T,Hkv,D] of its own row (what the forward
 * computes over cache slot b with starts = 0). Plain loops: explicit P per row, then the analytic
 * gradients of Σ dout·out
 *   dV_j += P_j·dout;  dP_j = dout·v_j;  dS_j = P_j·(dP_j − Σ_i P_i·dP_i);
 *   dQ += scale·Σ_j dS_j·k_j;  dK_j += scale·dS_j·q.
 * The test file proves this against central finite differences of `attentionTrainRef`.
 *
 * Packed rows: with `segments` ([B·T] ids) query t attends key j only when j ≤ t and both tokens are
 * in the same segment; the masked keys simply drop out of the sums (P = 0).
 */
export interface TrainDims {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  /** [B·T] segment id per token (packed rows); absent: plain causal */
  segments?: ArrayLike<number>;
}

/** Whether query t of row b attends key j (causal, and within its segment when there are segments). */
export function attends(dims: TrainDims, b: number, t: number, j: number): boolean {
  const s = dims.segments;
  return j <= t && (s === undefined || s[b * dims.T + j] === s[b * dims.T + t]);
}

function rowProbs(q: ArrayLike<number>, k: ArrayLike<number>, dims: TrainDims, b: number, t: number, h: number, scale: number, probs: Float64Array): number {
  const { T, Hq, Hkv, D } = dims;
  const kvh = Math.floor(h / (Hq / Hkv));
  const qo = ((b * T + t) * Hq + h) * D;
  let max = -Infinity;
  for (let j = 0; j <= t; j++) {
    if (!attends(dims, b, t, j)) {
      probs[j] = -Infinity;
      continue;
    }
    const ko = ((b * T + j) * Hkv + kvh) * D;
    let s = 0;
    for (let d = 0; d < D; d++) s += q[qo + d] * k[ko + d];
    probs[j] = s * scale;
    max = Math.max(max, probs[j]);
  }
  let sum = 0;
  for (let j = 0; j <= t; j++) {
    probs[j] = Math.exp(probs[j] - max); // exp(−∞) = 0 for the masked keys
    sum += probs[j];
  }
  for (let j = 0; j <= t; j++) probs[j] /= sum;
  return max + Math.log(sum);
}

/** Forward in the training layout: out [B,T,Hq,D] and lse [B,T,Hq]. */
export function attentionTrainRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dims: TrainDims,
  scale = 1 / Math.sqrt(dims.D),
): { out: Float64Array; lse: Float64Array } {
  const { B, T, Hq, Hkv, D } = dims;
  const out = new Float64Array(B * T * Hq * D);
  const lse = new Float64Array(B * T * Hq);
  const probs = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < Hq; h++) {
        const row = (b * T + t) * Hq + h;
        lse[row] = rowProbs(q, k, dims, b, t, h, scale, probs);
        const kvh = Math.floor(h / (Hq / Hkv));
        for (let j = 0; j <= t; j++) {
          const vo = ((b * T + j) * Hkv + kvh) * D;
          for (let d = 0; d < D; d++) out[row * D + d] += probs[j] * v[vo + d];
        }
      }
    }
  }
  return { out, lse };
}

/** dq [B,T,Hq,D], dk and dv [B,T,Hkv,D]: gradients of Σ dout·out. */
export function attentionBackwardRef(
  dout: ArrayLike<number>,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dims: TrainDims,
  scale = 1 / Math.sqrt(dims.D),
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, T, Hq, Hkv, D } = dims;
  const dq = new Float64Array(B * T * Hq * D);
  const dk = new Float64Array(B * T * Hkv * D);
  const dv = new Float64Array(B * T * Hkv * D);
  const probs = new Float64Array(T);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < Hq; h++) {
        rowProbs(q, k, dims, b, t, h, scale, probs);
        const kvh = Math.floor(h / (Hq / Hkv));
        const ro = ((b * T + t) * Hq + h) * D;
        let delta = 0;
        for (let j = 0; j <= t; j++) {
          const vo = ((b * T + j) * Hkv + kvh) * D;
          let s = 0;
          for (let d = 0; d < D; d++) {
            s += dout[ro + d] * v[vo + d];
            dv[vo + d] += probs[j] * dout[ro + d];
          }
          dp[j] = s;
          delta += probs[j] * s;
        }
        for (let j = 0; j <= t; j++) {
          const ko = ((b * T + j) * Hkv + kvh) * D;
          const ds = probs[j] * (dp[j] - delta);
          for (let d = 0; d < D; d++) {
            dq[ro + d] += scale * ds * k[ko + d];
            dk[ko + d] += scale * ds * q[ro + d];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
