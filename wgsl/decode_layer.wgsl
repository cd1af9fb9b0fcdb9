// One whole transformer layer for a few new tokens of one sequence, in one dispatch (the decode step
// of a small model; src/ops/decode-layer.ts). For each of the T rows of sequence b (positions
// start_b .. start_b + T − 1, written into cache slot slot_b):
//
//   n = rmsnorm(x) · w_in;  q, k, v = n·Wqᵀ, n·Wkᵀ, n·Wvᵀ;  RoPE on q and k;  k, v -> cache
//   a = softmax(scale · q·Kᵀ over the keys up to the row's own position) · V      (grouped-query)
//   x += a·Woᵀ
//   n = rmsnorm(x) · w_post;  x += (silu(n·Wgᵀ) ∘ n·Wuᵀ)·Wdᵀ          (written to xo)
//
// Why one kernel: on a software adapter (lavapipe) every dispatch costs ~50-100 µs of driver and
// thread-pool overhead whatever its size, and the twelve small kernels of a layer spent more time
// there than in arithmetic. A workgroup per sequence keeps every intermediate vector in workgroup
// memory and separates the phases with barriers instead of dispatches; the T rows share each weight
// read (T sums a thread), so drafting's verify pass (T = 2) reads the weights once. On a real GPU
// a single workgroup a sequence leaves most of the chip idle; the wrapper takes this path only for
// small models on a software adapter (decodeLayerFits).
//
// Split rows (TO = 1, grid [B, T]): a workgroup runs on one core, so with fewer rows than cores the
// wrapper gives each row its own workgroup. Row r's workgroup still computes the keys and values of
// all T rows (its attention needs rows ≤ r, and another workgroup's writes are not visible to it)
// but the query, attention and MLP of row r alone. Hence x is read-only and the output goes to xo.
//
// Layouts: x, xo [B, T, H]; Wq [Nq, H], Wk/Wv [Nkv, H], Wo [H, Nq], Wg/Wu [I, H],
// Wd [H, I] (HF Linear: out × in), read as vec4 rows (H, Nq, I multiples of 4); caches
// [S, Hkv, L, D]; RoPE tables [maxPos, half] (pairs (i, i + half) of each head, dims ≥ 2·half pass
// through). Loop bounds over H, Nq, I, D come from the params, not constants: Mesa fully unrolls
// constant loops of ≤ 32 trips, which made such kernels compile ~10x slower.

struct Params {
  H: u32,
  Nq: u32,        // Hq·D
  Nkv: u32,       // Hkv·D
  I: u32,
  Hq: u32,
  Hkv: u32,
  D: u32,
  half: u32,      // rotary_dim / 2
  L: u32,         // cache positions
  maxPos: u32,    // RoPE table rows
  eps: f32,
  qScale: f32,    // scale · log2(e): scores are kept in the log2 domain
  pad3: u32,      // padding: the arrays below start at a 16-byte boundary
  pad0: u32,
  pad1: u32,
  pad2: u32,
  slots: array<vec4u, 2>,   // cache slot of sequence b (b < 8)
  starts: array<vec4u, 2>,  // position of sequence b's first new row
}

override WG: u32 = 128;
override T: u32 = 1;         // rows per sequence (1: a decode step; 2+: a draft-and-verify pass)
override XS: u32 = 128;      // ≥ T·H        (the rows' residual stream)
override NS4: u32 = 32;      // ≥ T·H/4      (normed rows, as vec4)
override TO: u32 = 1;        // rows a workgroup finishes: T, or 1 when a sequence's rows are split over T workgroups
override QS: u32 = 128;      // ≥ TO·Nq
override KVS: u32 = 64;      // ≥ T·Nkv
override AS4: u32 = 32;      // ≥ TO·Nq/4    (attention output rows, as vec4)
override G: u32 = 1;         // query heads per kv head (Hq / Hkv); G·TO ≤ 16
override BIGS: u32 = 512;    // ≥ max(TO·Hq·L, TO·I) (the rows' scores, then their MLP activations)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wIn: array<f32>;
@group(0) @binding(3) var<storage, read> wq: array<vec4f>;
@group(0) @binding(4) var<storage, read> wk: array<vec4f>;
@group(0) @binding(5) var<storage, read> wv: array<vec4f>;
@group(0) @binding(6) var<storage, read> wo: array<vec4f>;
@group(0) @binding(7) var<storage, read> wPost: array<f32>;
@group(0) @binding(8) var<storage, read> wg: array<vec4f>;
@group(0) @binding(9) var<storage, read> wu: array<vec4f>;
@group(0) @binding(10) var<storage, read> wd: array<vec4f>;
@group(0) @binding(11) var<storage, read_write> kc: array<f32>;
@group(0) @binding(12) var<storage, read_write> vc: array<f32>;
@group(0) @binding(13) var<storage, read> cosT: array<f32>;
@group(0) @binding(14) var<storage, read> sinT: array<f32>;
@group(0) @binding(15) var<storage, read_write> xo: array<f32>;  // the layer's output rows (never x: split workgroups read every input row)

var<workgroup> xs: array<f32, XS>;
var<workgroup> ns: array<vec4f, NS4>;
var<workgroup> qs: array<f32, QS>;
var<workgroup> ks: array<f32, KVS>;
var<workgroup> vs: array<f32, KVS>;
var<workgroup> att: array<vec4f, AS4>;
var<workgroup> big: array<f32, BIGS>;
var<workgroup> red: array<f32, WG>;
var<workgroup> stat: array<f32, 256>;  // per (row r, head h): max (log2 domain) at 2(r·Hq+h), 1/sum after it (TO·Hq ≤ 128)

// The attention's per-lane sums, (query head g of the kv head, row r) at g·TO + r. Indexed only by
// counters of fully unrolled loops (G, TO are constants): registers, not scratch memory.
var<private> hacc: array<f32, 16>;

/** Σ over the workgroup of v (a fixed tree: deterministic); every thread gets the result. */
fn reduceSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w /= 2u) {
    if (lid < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();  // all have read red[0] before the next reduction writes it
  return r;
}

fn setNs(i: u32, v: f32) { ns[i >> 2u][i & 3u] = v; }
fn setAtt(i: u32, v: f32) { att[i >> 2u][i & 3u] = v; }
/** Four consecutive floats of `big` as a vec4 (`big` is a plain f32 array: indexing a vec4 array by a computed component was slow). */
fn bigQuad(i: u32) -> vec4f { return vec4f(big[4u * i], big[4u * i + 1u], big[4u * i + 2u], big[4u * i + 3u]); }

/** ns[r] = rmsnorm(xs[first + r]) · w for r < count; `post` picks the post-attention norm's weights. */
fn normRows(lid: u32, post: bool, first: u32, count: u32) {
  for (var r = 0u; r < count; r++) {
    let xo = (first + r) * p.H;
    var ss = 0.0;
    for (var i = lid; i < p.H; i += WG) {
      let v = xs[xo + i];
      ss += v * v;
    }
    let rstd = inverseSqrt(reduceSum(ss, lid) / f32(p.H) + p.eps);
    // `post` is uniform: one weight read an element, not both
    if (post) {
      for (var i = lid; i < p.H; i += WG) { setNs(r * p.H + i, xs[xo + i] * rstd * wPost[i]); }
    } else {
      for (var i = lid; i < p.H; i += WG) { setNs(r * p.H + i, xs[xo + i] * rstd * wIn[i]); }
    }
  }
  workgroupBarrier();
}

/** The pair (a, e) = dims (i, i + half) of a head at position pos, rotated by RoPE. */
fn rotated(a: f32, e: f32, pos: u32, i: u32) -> vec2f {
  let t = min(pos, p.maxPos - 1u) * p.half + i;
  let c = cosT[t];
  let s = sinT[t];
  return vec2f(a * c - e * s, e * c + a * s);
}

/** Key element kv (dimension d of kv head kvh) into every (query head, row) score sum. */
fn addKey(kv: f32, kvh: u32, d: u32) {
  for (var g = 0u; g < G; g++) {
    for (var r = 0u; r < TO; r++) { hacc[g * TO + r] += qs[r * p.Nq + (kvh * G + g) * p.D + d] * kv; }
  }
}

/** Value element vv of key j into every (query head, row) output sum, weighted by its probability. */
fn addValue(vv: f32, kvh: u32, j: u32, SR: u32, nkAll: u32) {
  for (var g = 0u; g < G; g++) {
    for (var r = 0u; r < TO; r++) { hacc[g * TO + r] += big[r * SR + (kvh * G + g) * nkAll + j] * vv; }
  }
}

fn clearSums() {
  for (var i = 0u; i < G * TO; i++) { hacc[i] = 0.0; }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  let r0 = wid.y * TO;  // this workgroup's first row (0 unless the rows are split)
  let slot = p.slots[b >> 2u][b & 3u];
  let start = p.starts[b >> 2u][b & 3u];
  let H4 = p.H / 4u;
  let Nq4 = p.Nq / 4u;
  let I4 = p.I / 4u;

  // 1. the rows of x into workgroup memory; input norm
  for (var i = lid; i < T * p.H; i += WG) { xs[i] = x[b * T * p.H + i]; }
  workgroupBarrier();
  normRows(lid, false, 0u, T);  // every row: its key and value are needed by the later rows

  // 2. q (of this workgroup's rows), k and v (of all T rows): one output row a thread at a time, its
  //    weight row read once for all rows
  for (var j = lid; j < p.Nq + 2u * p.Nkv; j += WG) {
    var acc: array<f32, 4>;  // T ≤ 4 (function-scope arrays need a constant size)
    for (var r = 0u; r < T; r++) { acc[r] = 0.0; }
    if (j < p.Nq) {
      for (var k = 0u; k < H4; k++) {
        let w = wq[j * H4 + k];
        for (var r = 0u; r < TO; r++) { acc[r] += dot(w, ns[(r0 + r) * H4 + k]); }
      }
      for (var r = 0u; r < TO; r++) { qs[r * p.Nq + j] = acc[r]; }
    } else if (j < p.Nq + p.Nkv) {
      let jj = j - p.Nq;
      for (var k = 0u; k < H4; k++) {
        let w = wk[jj * H4 + k];
        for (var r = 0u; r < T; r++) { acc[r] += dot(w, ns[r * H4 + k]); }
      }
      for (var r = 0u; r < T; r++) { ks[r * p.Nkv + jj] = acc[r]; }
    } else {
      let jj = j - p.Nq - p.Nkv;
      for (var k = 0u; k < H4; k++) {
        let w = wv[jj * H4 + k];
        for (var r = 0u; r < T; r++) { acc[r] += dot(w, ns[r * H4 + k]); }
      }
      for (var r = 0u; r < T; r++) { vs[r * p.Nkv + jj] = acc[r]; }
    }
  }
  workgroupBarrier();

  // 3. RoPE on q's heads (this workgroup's rows) and k's (all rows), each row at its own position
  for (var idx = lid; idx < TO * p.Hq * p.half; idx += WG) {
    let r = idx / (p.Hq * p.half);
    let o = r * p.Nq + ((idx / p.half) % p.Hq) * p.D + idx % p.half;
    let v = rotated(qs[o], qs[o + p.half], start + r0 + r, idx % p.half);
    qs[o] = v.x;
    qs[o + p.half] = v.y;
  }
  for (var idx = lid; idx < T * p.Hkv * p.half; idx += WG) {
    let r = idx / (p.Hkv * p.half);
    let o = r * p.Nkv + ((idx / p.half) % p.Hkv) * p.D + idx % p.half;
    let v = rotated(ks[o], ks[o + p.half], start + r, idx % p.half);
    ks[o] = v.x;
    ks[o + p.half] = v.y;
  }
  workgroupBarrier();

  // 4. k and v of this workgroup's rows into the cache (the attention below reads the new rows'
  //    keys and values from workgroup memory, so no workgroup reads another's writes)
  for (var idx = lid; idx < TO * p.Nkv; idx += WG) {
    let r = r0 + idx / p.Nkv;
    let kvh = (idx % p.Nkv) / p.D;
    let d = idx % p.D;
    let o = ((slot * p.Hkv + kvh) * p.L + start + r) * p.D + d;
    kc[o] = ks[r0 * p.Nkv + idx];
    vc[o] = vs[r0 * p.Nkv + idx];
  }

  // 5. attention of this workgroup's rows, kv head by kv head: a lane per key for the scores, a lane
  //    per dimension for P·V, and each key and value element loaded once for the G query heads
  //    sharing it and all the rows (on lavapipe every lane-load is a costly scalar sequence, the
  //    multiply-adds are cheap): a verify pass's second row costs a few multiply-adds a key, not a
  //    second walk of the cache. Keys before `start` come from the cache, the new rows' from ks / vs.
  //    Scores of row r, head h, key j sit in `big` at r·SR + h·nkAll + j; keys past a row's own
  //    position are masked.
  let nkAll = start + r0 + TO;  // keys of this workgroup's last row
  let SR = p.Hq * nkAll;
  for (var kvh = 0u; kvh < p.Hkv; kvh++) {
    for (var j = lid; j < nkAll; j += WG) {
      clearSums();
      if (j < start) {
        let ko = ((slot * p.Hkv + kvh) * p.L + j) * p.D;
        for (var d = 0u; d < p.D; d++) { addKey(kc[ko + d], kvh, d); }
      } else {
        let ko = (j - start) * p.Nkv + kvh * p.D;
        for (var d = 0u; d < p.D; d++) { addKey(ks[ko + d], kvh, d); }
      }
      for (var g = 0u; g < G; g++) {
        for (var r = 0u; r < TO; r++) {
          big[r * SR + (kvh * G + g) * nkAll + j] = select(hacc[g * TO + r] * p.qScale, -3.0e38, j > start + r0 + r);
        }
      }
    }
  }
  workgroupBarrier();
  // per (row, head): max and 1/sum over the row's keys (a thread each, walking them)
  for (var rh = lid; rh < TO * p.Hq; rh += WG) {
    let o = (rh / p.Hq) * SR + (rh % p.Hq) * nkAll;
    let nk = start + r0 + rh / p.Hq + 1u;
    var m = -3.0e38;
    for (var j = 0u; j < nk; j++) { m = max(m, big[o + j]); }
    var sum = 0.0;
    for (var j = 0u; j < nk; j++) { sum += exp2(big[o + j] - m); }
    stat[2u * rh] = m;
    stat[2u * rh + 1u] = 1.0 / sum;
  }
  workgroupBarrier();
  for (var idx = lid; idx < TO * SR; idx += WG) {
    let rh = idx / nkAll;  // = r·Hq + h
    big[idx] = exp2(big[idx] - stat[2u * rh]) * stat[2u * rh + 1u];  // masked keys: exp2(-huge) = 0
  }
  workgroupBarrier();
  // a = P·V: a lane per dimension d, the keys walked in order
  for (var kvh = 0u; kvh < p.Hkv; kvh++) {
    for (var d = lid; d < p.D; d += WG) {
      clearSums();
      let vo = (slot * p.Hkv + kvh) * p.L * p.D + d;
      for (var j = 0u; j < start; j++) { addValue(vc[vo + j * p.D], kvh, j, SR, nkAll); }
      for (var j = start; j < nkAll; j++) { addValue(vs[(j - start) * p.Nkv + kvh * p.D + d], kvh, j, SR, nkAll); }
      for (var g = 0u; g < G; g++) {
        for (var r = 0u; r < TO; r++) { setAtt(r * p.Nq + (kvh * G + g) * p.D + d, hacc[g * TO + r]); }
      }
    }
  }
  workgroupBarrier();

  // 6. x += a·Woᵀ
  for (var i = lid; i < p.H; i += WG) {
    var acc: array<f32, 4>;  // T ≤ 4 (function-scope arrays need a constant size)
    for (var r = 0u; r < TO; r++) { acc[r] = 0.0; }
    for (var k = 0u; k < Nq4; k++) {
      let w = wo[i * Nq4 + k];
      for (var r = 0u; r < TO; r++) { acc[r] += dot(w, att[r * Nq4 + k]); }
    }
    for (var r = 0u; r < TO; r++) { xs[(r0 + r) * p.H + i] += acc[r]; }
  }
  workgroupBarrier();

  // 7. post-attention norm; the MLP's activations silu(g)·u into `big`
  normRows(lid, true, r0, TO);
  for (var i = lid; i < p.I; i += WG) {
    var g: array<f32, 4>;  // TO ≤ 4 (function-scope arrays need a constant size)
    var u: array<f32, 4>;  // TO ≤ 4 (function-scope arrays need a constant size)
    for (var r = 0u; r < TO; r++) {
      g[r] = 0.0;
      u[r] = 0.0;
    }
    for (var k = 0u; k < H4; k++) {
      let wgk = wg[i * H4 + k];
      let wuk = wu[i * H4 + k];
      for (var r = 0u; r < TO; r++) {
        g[r] += dot(wgk, ns[r * H4 + k]);
        u[r] += dot(wuk, ns[r * H4 + k]);
      }
    }
    for (var r = 0u; r < TO; r++) { big[r * p.I + i] = g[r] / (1.0 + exp(-g[r])) * u[r]; }
  }
  workgroupBarrier();

  // 8. x += act·Wdᵀ, back to global memory
  for (var i = lid; i < p.H; i += WG) {
    var acc: array<f32, 4>;  // TO ≤ 4 (function-scope arrays need a constant size)
    for (var r = 0u; r < TO; r++) { acc[r] = 0.0; }
    for (var k = 0u; k < I4; k++) {
      let w = wd[i * I4 + k];
      for (var r = 0u; r < TO; r++) { acc[r] += dot(w, bigQuad(r * I4 + k)); }
    }
    for (var r = 0u; r < TO; r++) { xo[(b * T + r0 + r) * p.H + i] = xs[(r0 + r) * p.H + i] + acc[r]; }
  }
}
