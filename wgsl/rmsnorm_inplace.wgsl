// In-place RMSNorm: x = (x * rstd) * weight per row over the last dim (e.g. Qwen3's per-head q/k
// norm applied to the projection output it came from); rstd[row] stored when p.write_rstd != 0.
// Same algorithm, layout (TPR threads per row, RPW rows per workgroup), tuning and cost as
// rmsnorm.wgsl (see there); a separate file because WebGPU forbids binding one buffer as both read
// and read_write. In place is safe: each thread rewrites exactly the elements it read itself, and
// all reads of a row finish before the barriers of its reduction.
//   main:      scalar, any D
//   main_vec4: vec4 view, D % 4 == 0

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
  write_rstd: u32,
}

override TPR: u32 = 64;  // threads per row, a power of two
override RPW: u32 = 1;   // rows per workgroup
override WG: u32 = TPR * RPW;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
// vec4 views of bindings 1..2, used only by main_vec4.
@group(0) @binding(1) var<storage, read_write> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read> weight4: array<vec4f>;

var<workgroup> partial: array<f32, WG>;

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
    x[base + i] = (x[base + i] * r) * weight[i];
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
    x4[base + i] = (x4[base + i] * r) * weight4[i];
  }
  if (t == 0u && n > 0u && p.write_rstd != 0u) { rstd[row] = r; }
}
