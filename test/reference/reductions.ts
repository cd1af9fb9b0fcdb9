/**
 * Float64 references for the row reductions: softmax, fused cross-entropy, argmax, top-k (test-only).
 * All take row-major [rows, cols] data.
 */

/** softmax(scale * x) per row; a NaN in a row makes the row NaN (what the kernel promises). */
export function softmaxRef(x: ArrayLike<number>, rows: number, cols: number, scale = 1): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    let hasNaN = false;
    for (let i = 0; i < cols; i++) {
      const v = scale * x[o + i];
      if (Number.isNaN(v)) hasNaN = true;
      if (v > m) m = v;
    }
    let s = 0;
    for (let i = 0; i < cols; i++) s += Math.exp(scale * x[o + i] - m);
    for (let i = 0; i < cols; i++) out[o + i] = hasNaN ? NaN : Math.exp(scale * x[o + i] - m) / s;
  }
  return out;
}

/** logsumexp of one row (finite rows). */
function logSumExp(x: ArrayLike<number>, o: number, cols: number): number {
  let m = -Infinity;
  for (let i = 0; i < cols; i++) m = Math.max(m, x[o + i]);
  let s = 0;
  for (let i = 0; i < cols; i++) s += Math.exp(x[o + i] - m);
  return m + Math.log(s);
}

/**
 * loss[n] = logsumexp(row) - row[t]; dlogits = (softmax(row) - onehot(t)) * gradScale;
 * ignoreIndex rows give 0 and 0; an out-of-range target gives loss NaN and dlogits softmax * g.
 */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  rows: number,
  cols: number,
  gradScale: number,
  ignoreIndex = 0xffffffff,
): { loss: Float64Array; dlogits: Float64Array } {
  const loss = new Float64Array(rows);
  const dlogits = new Float64Array(rows * cols);
  for (let n = 0; n < rows; n++) {
    const t = targets[n];
    const o = n * cols;
    if (t === ignoreIndex) continue;
    const lse = logSumExp(logits, o, cols);
    loss[n] = t < cols ? lse - logits[o + t] : NaN;
    for (let i = 0; i < cols; i++) dlogits[o + i] = (Math.exp(logits[o + i] - lse) - (i === t ? 1 : 0)) * gradScale;
  }
  return { loss, dlogits };
}

/**
 * The kernels' total order on floats: -inf < ... < -0 == +0 < ... < +inf < NaN, ties broken by the
 * lower index. Returns true when (a, ia) ranks before (b, ib).
 */
export function ranksBefore(a: number, ia: number, b: number, ib: number): boolean {
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  if (an !== bn) return an;
  if (!an && a !== b) return a > b; // -0 === 0 in JS, so signed zeros tie
  return ia < ib;
}

export function argmaxRef(x: ArrayLike<number>, rows: number, cols: number): Uint32Array {
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let best = 0;
    for (let i = 1; i < cols; i++) if (ranksBefore(x[o + i], i, x[o + best], best)) best = i;
    out[r] = best;
  }
  return out;
}

/** The k best of each row in the kernels' order: values [rows, k] and indices [rows, k]. */
export function topkRef(x: ArrayLike<number>, rows: number, cols: number, k: number): { values: Float64Array; indices: Uint32Array } {
  const values = new Float64Array(rows * k);
  const indices = new Uint32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    // Insertion into a sorted list of the best k seen so far (a full sort of 70k-wide rows is slow).
    const best: number[] = [];
    for (let i = 0; i < cols; i++) {
      const last = best[best.length - 1];
      if (best.length === k && !ranksBefore(x[o + i], i, x[o + last], last)) continue;
      let pos = best.length;
      while (pos > 0 && ranksBefore(x[o + i], i, x[o + best[pos - 1]], best[pos - 1])) pos--;
      best.splice(pos, 0, i);
      if (best.length > k) best.pop();
    }
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = best[j];
      values[r * k + j] = x[o + best[j]];
    }
  }
  return { values, indices };
}
