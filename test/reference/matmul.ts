/**
 * Float64 reference for matmul (test-only), with the same options as src/ops/matmul.ts:
 *   C = alpha * op(A)·op(B) (+ bias[N] on every row) (+ C if accumulate)
 * op(A) is A ([M,K]) or Aᵀ (A stored [K,M]); op(B) is B ([K,N]) or Bᵀ (B stored [N,K]).
 * `batch` > 1 means A holds `batch` matrices back to back unless `sharedA`; B does too unless `sharedB`.
 */
export interface MatmulRefOptions {
  M: number;
  N: number;
  K: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  /** B is one matrix used by every batch entry (weights). */
  sharedB?: boolean;
  /** A is one matrix used by every batch entry (one input through several weights). */
  sharedA?: boolean;
  alpha?: number;
  bias?: ArrayLike<number>;
  /** The previous contents of C, added when accumulating. */
  accumulateInto?: ArrayLike<number>;
}

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, o: MatmulRefOptions): Float64Array {
  const { M, N, K } = o;
  const batch = o.batch ?? 1;
  const alpha = o.alpha ?? 1;
  const out = new Float64Array(batch * M * N);
  const row = new Float64Array(N);
  for (let z = 0; z < batch; z++) {
    const aOff = o.sharedA ? 0 : z * M * K;
    const bOff = o.sharedB ? 0 : z * K * N;
    for (let m = 0; m < M; m++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const av = o.transA ? a[aOff + k * M + m] : a[aOff + m * K + k];
        if (av === 0) continue;
        if (o.transB) {
          for (let n = 0; n < N; n++) row[n] += av * b[bOff + n * K + k];
        } else {
          const base = bOff + k * N;
          for (let n = 0; n < N; n++) row[n] += av * b[base + n];
        }
      }
      const cOff = (z * M + m) * N;
      for (let n = 0; n < N; n++) {
        let v = alpha * row[n];
        if (o.bias) v += o.bias[n];
        if (o.accumulateInto) v += o.accumulateInto[cOff + n];
        out[cOff + n] = v;
      }
    }
  }
  return out;
}
