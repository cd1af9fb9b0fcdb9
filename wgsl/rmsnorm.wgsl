// RMSNorm over the last dim: y = (x * rstd) * weight, rstd = 1 / sqrt(mean(x^2) + eps), per row;
// rstd[row] is also stored when p.write_rstd != 0 (saved for the backward pass; the wrapper binds a
// 4-byte dummy otherwise).
//   main:      scalar loads, any D
//   main_vec4: vec4 views of the same bindings, D % 4 == 0 (hidden 896, head_dim 64/128, ...)
//
// Each row is reduced by TPR threads (a power of two): each sums the squares of a strided slice of
// the row (D/TPR elements, so D up to ~8192 is just a longer loop), then the TPR partial sums are
// added by a tree in workgroup memory, log2(TPR) halving steps each followed by a barrier. No
// atomics, and the summation order is fixed, so results are deterministic. A workgroup holds RPW
// rows side by side (WG = TPR * RPW threads): with one row per workgroup and short rows (Qwen3's
// per-head q/k norm, D = 128, rows = tokens * heads) most threads would idle, and on lavapipe,
// where a workgroup is a loop on one CPU thread, per-workgroup and per-invocation overheads
// dominate: there the wrapper picks TPR <= 4 (of vec4s) and RPW = 16, ~3x faster than 128 scalar
// threads per row. On GPUs long rows get RPW = 1: one workgroup per row. Rows past the end still
// take part in the barriers (they just sum nothing), which keeps every barrier in uniform control
// flow. Grid over ceil(rows / RPW) workgroups, split by grid1d.
// Cost: 2 reads of x (the second mostly from cache), 1 write, ~4 flops per element.
// All f32, rounding as HF's Qwen2RMSNorm: (x * rstd) first, then * weight.

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
  write_rstd: u32,
}

override TPR: u32 = 64;  // threads per row, a power of two (the tree halves it)
override RPW: u32 = 1;   // rows per workgroup
override WG: u32 = TPR * RPW;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;
// vec4 views of bindings 1..3, used only by main_vec4 (each entry point binds one view).
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read> weight4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4f>;

var<workgroup> partial: array<f32, WG>;

// The sum of `acc` over the TPR threads of this thread's row, returned to all of them. Every thread
// of the workgroup must call it (it has barriers).
fn row_sum(lid: u32, t: u32, acc: f32) -> f32 {
  // a thread a row: no tree, no barrier (a barrier makes lavapipe run the workgroup as coroutines)
  if (TPR == 1u) { return acc; }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (t < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  return partial[lid - t];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = lid % TPR;
  let row = (wid.x + wid.y * nwg.x) * RPW + lid / TPR;
  let n = select(0u, p.dim, row < p.rows);
  let base = row * p.dim;
  var acc = 0.0;
  for (var i = t; i < n; i += TPR) {
    let v = x[base + i];
    acc += v * v;
  }
  let r = 1.0 / sqrt(row_sum(lid, t, acc) / f32(p.dim) + p.eps);
  for (var i = t; i < n; i += TPR) {
    out[base + i] = (x[base + i] * r) * weight[i];
  }
  if (t == 0u && n > 0u && p.write_rstd != 0u) { rstd[row] = r; }
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = lid % TPR;
  let row = (wid.x + wid.y * nwg.x) * RPW + lid / TPR;
  let dim4 = p.dim / 4u;
  let n = select(0u, dim4, row < p.rows);
  let base = row * dim4;
  var acc = 0.0;
  for (var i = t; i < n; i += TPR) {
    let v = x4[base + i];
    acc += dot(v, v);
  }
  let r = 1.0 / sqrt(row_sum(lid, t, acc) / f32(p.dim) + p.eps);
  for (var i = t; i < n; i += TPR) {
    out4[base + i] = (x4[base + i] * r) * weight4[i];
  }
  if (t == 0u && n > 0u && p.write_rstd != 0u) { rstd[row] = r; }
}
