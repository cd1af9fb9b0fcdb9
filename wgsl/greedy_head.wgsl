// The final norm, the LM head and the argmax of a few rows, fused (src/ops/greedy-head.ts):
//
//   n[r] = rmsnorm(x[r]) ∘ w        (written out: the "hidden" an MTP module reads next)
//   id[r] = argmax_v  n[r] · W[v]   (W: the head [V, H]; ties to the lowest index)
//
// The separate ops are an RMSNorm, a matmul and an argmax: three dispatches, which on a software
// adapter cost more than a small head's arithmetic (bench/RESULTS.md). One workgroup per row: the
// normed row lives in workgroup memory; each thread scores vocabulary rows v = lid, lid + WG, ...
// keeping its first maximum, and the (key, index) pairs merge in a fixed-order tree. Values compare
// through argmax.wgsl's order-preserving u32 key, so the order is exact and NaN counts as the
// largest value (a poisoned row gives its first NaN's index, as ops/argmax.ts does).

struct Params {
  H: u32,     // hidden size (a multiple of 4)
  H4: u32,    // H / 4
  V: u32,     // vocabulary rows of the head
  eps: f32,
}

override WG: u32 = 128; // power of two
override NS4: u32 = 32; // ≥ H / 4

const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> head: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> normed: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> ids: array<u32>;

var<workgroup> n: array<vec4f, NS4>;
var<workgroup> red: array<f32, WG>;
var<workgroup> red_k: array<u32, WG>;
var<workgroup> red_i: array<u32, WG>;

// argmax.wgsl's monotone map f32 -> u32: -inf < negatives < ±0 < positives < +inf < NaN
fn order_key(v: f32) -> u32 {
  var b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; }
  if (b == 0x80000000u) { b = 0u; }
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x;
  let row = r * p.H4;

  var ss = 0.0;
  for (var c = lid; c < p.H4; c += WG) {
    let v = x[row + c];
    ss += dot(v, v);
  }
  red[lid] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let rstd = inverseSqrt(red[0] / f32(p.H) + p.eps);
  for (var c = lid; c < p.H4; c += WG) {
    let v = x[row + c] * rstd * w[c];
    n[c] = v;
    normed[row + c] = v;
  }
  workgroupBarrier();

  var best_k = 0u;
  var best_i = NONE;
  for (var v = lid; v < p.V; v += WG) {
    let hRow = v * p.H4;
    var acc = 0.0;
    for (var c = 0u; c < p.H4; c++) { acc += dot(head[hRow + c], n[c]); }
    let k = order_key(acc);
    if (k > best_k) {
      best_k = k;
      best_i = v;
    }
  }
  red_k[lid] = best_k;
  red_i[lid] = best_i;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let k2 = red_k[lid + s];
      let i2 = red_i[lid + s];
      if (k2 > best_k || (k2 == best_k && i2 < best_i)) {
        best_k = k2;
        best_i = i2;
        red_k[lid] = k2;
        red_i[lid] = i2;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { ids[r] = best_i; }
}
