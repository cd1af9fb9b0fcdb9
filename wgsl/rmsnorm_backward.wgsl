// RMSNorm backward. Forward: y = x * r * w with r = 1/sqrt(mean(x^2) + eps) per row of width D,
// r saved by the forward (rstd). With g = dy * w:
//   dx = r * g - x * (r^3 / D) * sum_d(g * x)           (per row: one reduction)
//   dw[d] = sum over all rows of dy * x * r               (per column: a reduction over rows)
//
// dx_main / dx_vec4: the forward's row layout (rmsnorm.wgsl): TPR threads per row (a power of two,
// a tree reduction in workgroup memory), RPW rows per workgroup, scalar or vec4 (D % 4 == 0). Rows
// past the end still take part in the barriers. Cost: 3 reads (dy, x, w) twice (second mostly from
// cache) and 1 write per element, ~7 flops.
//
// dw without float atomics, deterministic (the summation order depends only on the shapes):
//   dw_partial: grid (ceil(D / WGC), blocks); thread (column d, block b) sums dy * x * r over the
//               rows [b * rows_per_block, (b + 1) * rows_per_block) in increasing order into
//               partial[b, d]. Neighbouring threads read neighbouring columns (coalesced).
//   dw_reduce:  one thread per column sums partial[0..blocks, d] in order and writes (or adds to,
//               when accumulating over micro-batches) dweight[d].
// With a single block the wrapper binds dweight as `partial` and skips dw_reduce (`accumulate`
// then applies in dw_partial). Cost: dy and x read once more, ~3 flops per element, plus
// blocks * D partials written and read.

struct Params {
  rows: u32,
  dim: u32,             // D (dx_main, dw_*) or D / 4 (dx_vec4)
  rows_per_block: u32,  // dw_partial
  blocks: u32,          // dw_partial, dw_reduce
  accumulate: u32,      // 1 = add into the output (dx in dx_*, dweight in dw_*) instead of overwriting it
}

override TPR: u32 = 64;  // dx: threads per row, a power of two
override RPW: u32 = 1;   // dx: rows per workgroup
override WG: u32 = TPR * RPW;
override WGC: u32 = 64;  // dw_*: columns per workgroup

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
// Other views (each entry point statically uses one view per binding):
@group(0) @binding(1) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(2) var<storage, read> x4: array<vec4f>;
@group(0) @binding(3) var<storage, read> weight4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> partial_out: array<f32>;  // dw_partial: [blocks, D]
@group(0) @binding(1) var<storage, read> partial_in: array<f32>;         // dw_reduce: [blocks, D]
@group(0) @binding(2) var<storage, read_write> dweight: array<f32>;      // dw_reduce: [D]

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
fn dx_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = lid % TPR;
  let row = (wid.x + wid.y * nwg.x) * RPW + lid / TPR;
  let live = row < p.rows;
  let n = select(0u, p.dim, live);
  let base = row * p.dim;
  var acc = 0.0;
  for (var i = t; i < n; i += TPR) {
    acc += dy[base + i] * weight[i] * x[base + i];
  }
  let dot = row_sum(lid, t, acc);
  if (!live) { return; }
  let r = rstd[row];
  let coef = r * r * r * dot / f32(p.dim);
  for (var i = t; i < n; i += TPR) {
    let g = r * (dy[base + i] * weight[i]) - x[base + i] * coef;
    // accumulating: the residual gradient this branch adds into, without a separate add pass
    if (p.accumulate != 0u) { dx[base + i] = dx[base + i] + g; } else { dx[base + i] = g; }
  }
}

@compute @workgroup_size(WG)
fn dx_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = lid % TPR;
  let row = (wid.x + wid.y * nwg.x) * RPW + lid / TPR;
  let live = row < p.rows;
  let n = select(0u, p.dim, live);
  let base = row * p.dim;
  var acc = 0.0;
  for (var i = t; i < n; i += TPR) {
    acc += dot(dy4[base + i] * weight4[i], x4[base + i]);
  }
  let total = row_sum(lid, t, acc);
  if (!live) { return; }
  let r = rstd[row];
  let coef = r * r * r * total / f32(p.dim * 4u);
  for (var i = t; i < n; i += TPR) {
    let g = r * (dy4[base + i] * weight4[i]) - x4[base + i] * coef;
    if (p.accumulate != 0u) { dx4[base + i] = dx4[base + i] + g; } else { dx4[base + i] = g; }
  }
}

@compute @workgroup_size(WGC)
fn dw_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x * WGC + lid;
  if (col >= p.dim) { return; }
  let b = wid.y;
  let start = b * p.rows_per_block;
  let end = min(p.rows, start + p.rows_per_block);
  var acc = 0.0;
  for (var row = start; row < end; row++) {
    let k = row * p.dim + col;
    acc += dy[k] * x[k] * rstd[row];
  }
  let o = b * p.dim + col;
  if (p.accumulate != 0u) { acc = partial_out[o] + acc; }
  partial_out[o] = acc;
}

@compute @workgroup_size(WGC)
fn dw_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x * WGC + lid;
  if (col >= p.dim) { return; }
  var acc = 0.0;
  for (var b = 0u; b < p.blocks; b++) {
    acc += partial_in[b * p.dim + col];
  }
  if (p.accumulate != 0u) { acc = dweight[col] + acc; }
  dweight[col] = acc;
}
