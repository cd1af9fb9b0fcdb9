/**
 * Float64 references for the per-token layers (test-only): embedding gather, RMSNorm, RoPE and
 * SwiGLU. Plain loops over Float64Array, written from the HF formulas, not from the kernels.
 */

/** out[n, :] = table[ids[n], :]; ids >= vocab give a zero row. */
export function embeddingRef(ids: ArrayLike<number>, table: ArrayLike<number>, vocab: number, dim: number): Float64Array {
  const out = new Float64Array(ids.length * dim);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (id >= vocab) continue;
    for (let d = 0; d < dim; d++) out[n * dim + d] = table[id * dim + d];
  }
  return out;
}

/** y = x / sqrt(mean(x^2) + eps) * w per row of width `dim`; also returns rstd per row. */
export function rmsnormRef(x: ArrayLike<number>, weight: ArrayLike<number>, dim: number, eps: number): { out: Float64Array; rstd: Float64Array } {
  const rows = x.length / dim;
  const out = new Float64Array(x.length);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += x[r * dim + d] * x[r * dim + d];
    const s = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = s;
    for (let d = 0; d < dim; d++) out[r * dim + d] = x[r * dim + d] * s * weight[d];
  }
  return { out, rstd };
}

/**
 * HF's RoPE angles: inv_freq = 1 / theta ** (arange(0, dim, 2).float() / dim) in float32, and
 * angle = float32(pos) * inv_freq rounded to float32 (HF's float32 matmul of [half,1] x [1,T]).
 */
export function ropeAngle(pos: number, i: number, rotaryDim: number, theta: number): number {
  const f = Math.fround;
  const exponent = f(f(2 * i) / f(rotaryDim));
  const invFreq = f(1 / f(f(theta) ** exponent));
  return f(f(pos) * invFreq);
}

/** cos/sin tables [maxPositions, rotaryDim/2] in float64 of the f32 angles. */
export function ropeTablesRef(maxPositions: number, rotaryDim: number, theta: number): { cos: Float64Array; sin: Float64Array } {
  const half = rotaryDim / 2;
  const cos = new Float64Array(maxPositions * half);
  const sin = new Float64Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const a = ropeAngle(p, i, rotaryDim, theta);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/**
 * apply_rotary_pos_emb with rotate_half on x [tokens, heads, dim], positions [tokens]:
 * x_rot * cos + rotate_half(x_rot) * sin on the first rotaryDim dims, the rest passed through.
 * `maxPositions` (optional) clamps positions as the kernel documents.
 */
export function ropeRef(
  x: ArrayLike<number>,
  positions: ArrayLike<number>,
  heads: number,
  dim: number,
  rotaryDim: number,
  theta: number,
  maxPositions = Infinity,
): Float64Array {
  const tokens = positions.length;
  const half = rotaryDim / 2;
  const out = new Float64Array(x.length);
  for (let t = 0; t < tokens; t++) {
    const pos = Math.min(positions[t], maxPositions - 1);
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * dim;
      for (let d = 0; d < dim; d++) {
        if (d >= rotaryDim) {
          out[base + d] = x[base + d];
          continue;
        }
        const i = d % half;
        const a = ropeAngle(pos, i, rotaryDim, theta);
        // rotate_half(x) = cat(-x[half:], x[:half])
        const rotated = d < half ? -x[base + d + half] : x[base + d - half];
        out[base + d] = x[base + d] * Math.cos(a) + rotated * Math.sin(a);
      }
    }
  }
  return out;
}

/** silu(g) * u with silu(g) = g / (1 + exp(-g)) in float64 (exp(100) is finite here). */
export function swigluRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  const out = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) out[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return out;
}
