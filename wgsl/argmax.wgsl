// Row argmax: out[r] = index of the largest x[r, i] (greedy decoding), ties -> the lowest index.
//
// Floats are compared through an order-preserving u32 key (sign-magnitude -> offset binary), so
// every comparison is an exact integer compare that no fast-math flag can reorder, and the special
// values get a defined place in the order:
//   -inf < negatives < -0 == +0 < positives < +inf < NaN
// i.e. NaN counts as the largest value, as in numpy/torch argmax: a row with a NaN returns the
// index of its first NaN (a poisoned row shows up as a deterministic, visible token, not a random
// one); a row of all -inf returns 0.
//
// One workgroup per row (grid1d for many rows). Each thread scans its strided slice keeping the
// first maximum it sees (strict >, and its indices increase, so ties keep the lower index); the WG
// (key, index) pairs are then merged by a fixed-order tree in workgroup memory, preferring the
// larger key and on equal keys the lower index: log2(WG) barriers, deterministic.
// Cost per row: 1 read of C floats + a few integer ops per element; bandwidth bound.

struct Params { rows: u32, cols: u32 }

override WG: u32 = 256; // power of two

const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

var<workgroup> red_k: array<u32, WG>;
var<workgroup> red_i: array<u32, WG>;

// Monotone map f32 -> u32 (see the header). Real values map to >= 0x007fffff, so key 0 with index
// NONE is a sentinel every element beats.
fn order_key(v: f32) -> u32 {
  var b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; } // NaN
  if (b == 0x80000000u) { b = 0u; } // -0 -> +0
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;

  var best_k = 0u;
  var best_i = NONE;
  for (var i = lid; i < p.cols; i += WG) {
    let k = order_key(x[base + i]);
    if (k > best_k) {
      best_k = k;
      best_i = i;
    }
  }

  red_k[lid] = best_k;
  red_i[lid] = best_i;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let k2 = red_k[lid + stride];
      let i2 = red_i[lid + stride];
      if (k2 > best_k || (k2 == best_k && i2 < best_i)) {
        best_k = k2;
        best_i = i2;
        red_k[lid] = k2;
        red_i[lid] = i2;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[row] = best_i; }
}
