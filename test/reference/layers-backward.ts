/**
 * Float64 analytic backwards of the per-token layers (test-only): RMSNorm, SwiGLU, RoPE and the
 * embedding gather. Derived by hand from the forwards in layers.ts; the tests check each one against
 * central finite differences of those float64 forwards (`numericGrad`) before trusting it as the
 * reference for the GPU kernels.
 */
import { ropeAngle } from './layers.js';

/**
 * RMSNorm y = x * r * w with r = 1/sqrt(mean(x^2) + eps), per row of width `dim`:
 *   dx = r * (dy * w) - x * r^3 / D * sum_d(dy * w * x)
 *   dw[d] = sum_rows dy * x * r
 * `rstd` optional (recomputed from x when omitted).
 */
export function rmsnormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  dim: number,
  eps: number,
): { dx: Float64Array; dweight: Float64Array } {
  const rows = x.length / dim;
  const dx = new Float64Array(x.length);
  const dweight = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += x[o + d] * x[o + d];
    const s = 1 / Math.sqrt(ss / dim + eps);
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += dy[o + d] * weight[d] * x[o + d];
    for (let d = 0; d < dim; d++) {
      dx[o + d] = s * dy[o + d] * weight[d] - ((x[o + d] * s * s * s) / dim) * dot;
      dweight[d] += dy[o + d] * x[o + d] * s;
    }
  }
  return { dx, dweight };
}

/**
 * out = silu(g) * u, silu(g) = g * sigmoid(g):
 *   dgate = dout * u * sigmoid(g) * (1 + g * (1 - sigmoid(g)))
 *   dup   = dout * silu(g)
 */
export function swigluBackwardRef(dout: ArrayLike<number>, gate: ArrayLike<number>, up: ArrayLike<number>): { dgate: Float64Array; dup: Float64Array } {
  const n = gate.length;
  const dgate = new Float64Array(n);
  const dup = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const sg = 1 / (1 + Math.exp(-g));
    dgate[i] = dout[i] * up[i] * sg * (1 + g * (1 - sg));
    dup[i] = dout[i] * g * sg;
  }
  return { dgate, dup };
}

/**
 * RoPE is an orthogonal map per (token, head) row, so its backward is the transpose, i.e. the rotation
 * by -angle: for i < half, with c = cos(angle_i), s = sin(angle_i),
 *   dx[i] = dy[i] * c + dy[i + half] * s,   dx[i + half] = dy[i + half] * c - dy[i] * s
 * and dims >= rotaryDim pass the gradient through.
 */
export function ropeBackwardRef(
  dy: ArrayLike<number>,
  positions: ArrayLike<number>,
  heads: number,
  dim: number,
  rotaryDim: number,
  theta: number,
  maxPositions = Infinity,
): Float64Array {
  const half = rotaryDim / 2;
  const dx = new Float64Array(dy.length);
  for (let t = 0; t < positions.length; t++) {
    const pos = Math.min(positions[t], maxPositions - 1);
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * dim;
      for (let d = rotaryDim; d < dim; d++) dx[base + d] = dy[base + d];
      for (let i = 0; i < half; i++) {
        const a = ropeAngle(pos, i, rotaryDim, theta);
        const c = Math.cos(a);
        const s = Math.sin(a);
        const lo = dy[base + i];
        const hi = dy[base + i + half];
        dx[base + i] = lo * c + hi * s;
        dx[base + i + half] = hi * c - lo * s;
      }
    }
  }
  return dx;
}

/** dtable[ids[n], :] += dout[n, :]; ids >= vocab get no gradient (their forward row is zero). */
export function embeddingBackwardRef(ids: ArrayLike<number>, dout: ArrayLike<number>, vocab: number, dim: number, init?: ArrayLike<number>): Float64Array {
  const dtable = new Float64Array(vocab * dim);
  if (init) for (let i = 0; i < dtable.length; i++) dtable[i] = init[i];
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (id >= vocab) continue;
    for (let d = 0; d < dim; d++) dtable[id * dim + d] += dout[n * dim + d];
  }
  return dtable;
}

/**
 * Central finite differences of the scalar loss L = sum(forward(inputs) * dy) with respect to
 * inputs[which]: grad[i] = (L(x + h e_i) - L(x - h e_i)) / 2h, with h scaled to |x_i|. In float64
 * the error is O(h^2) + O(1e-16 / h), ~1e-10 relative for h ~ 1e-5.
 */
export function numericGrad(
  forward: (inputs: Float64Array[]) => ArrayLike<number>,
  inputs: Float64Array[],
  which: number,
  dy: ArrayLike<number>,
): Float64Array {
  const loss = () => {
    const y = forward(inputs);
    let l = 0;
    for (let i = 0; i < y.length; i++) l += y[i] * dy[i];
    return l;
  };
  const x = inputs[which];
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    const h = 1e-5 * Math.max(1, Math.abs(keep));
    x[i] = keep + h;
    const lp = loss();
    x[i] = keep - h;
    const lm = loss();
    x[i] = keep;
    grad[i] = (lp - lm) / (2 * h);
  }
  return grad;
}
