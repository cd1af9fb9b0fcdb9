// RoPE backward. The forward rotates each pair (x[i], x[i + half]) of a (token, head) row by the
// angle of (pos, i), an orthogonal map, so the gradient is the transposed rotation, i.e. by -angle:
//   dx[i]        = dy[i] * cos[pos, i] + dy[i + half] * sin[pos, i]
//   dx[i + half] = dy[i + half] * cos[pos, i] - dy[i] * sin[pos, i]
// and the pass-through dims (>= rotary_dim, partial rotary) copy dy unchanged. Layout, tables and
// position clamping exactly as rope.wgsl / rope_inplace.wgsl (see there):
//   main, main_vec4:       out of place, one thread per pair plus one per pass-through element
//                          (per_row = half + D - rotary_dim threads per row); dy -> dx.
//   inplace, inplace_vec4: dy is rotated where it lies (one thread per pair, pass-through dims are
//                          left alone); dy is bound read_write at binding 1 and nothing at 5, which
//                          is why these entry points declare their own view of binding 1.
// *_vec4 work on 4 pairs per thread through vec4 views when half and D are multiples of 4.
// Grid split over x and y by grid1d. Cost: dy read once, dx written once, 2 table reads and 6 flops
// per pair; memory bound.

struct Params {  // in elements for main/inplace, in vec4s for *_vec4 (except max_pos, heads)
  n: u32,        // rows * per_row threads
  per_row: u32,  // threads per (token, head) row: half + (dim - 2 * half), or half in place
  heads: u32,    // H: rows per token
  dim: u32,      // D
  half: u32,     // rotary_dim / 2
  max_pos: u32,  // table rows
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> cos_t: array<f32>;
@group(0) @binding(4) var<storage, read> sin_t: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
// vec4 views, and the read_write view of binding 1 for the in-place entry points (each entry point
// statically uses one view per binding).
@group(0) @binding(1) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(3) var<storage, read> cos4: array<vec4f>;
@group(0) @binding(4) var<storage, read> sin4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> io: array<f32>;
@group(0) @binding(1) var<storage, read_write> io4: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + lid;
  if (idx >= p.n) { return; }
  let row = idx / p.per_row;
  let j = idx - row * p.per_row;
  let base = row * p.dim;
  if (j < p.half) {
    let pos = min(positions[row / p.heads], p.max_pos - 1u);
    let c = cos_t[pos * p.half + j];
    let s = sin_t[pos * p.half + j];
    let a = dy[base + j];
    let b = dy[base + j + p.half];
    dx[base + j] = a * c + b * s;
    dx[base + j + p.half] = b * c - a * s;
  } else {
    let d = j + p.half;  // 2 * half + (j - half): the pass-through dims
    dx[base + d] = dy[base + d];
  }
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + lid;
  if (idx >= p.n) { return; }
  let row = idx / p.per_row;
  let j = idx - row * p.per_row;
  let base = row * p.dim;
  if (j < p.half) {
    let pos = min(positions[row / p.heads], p.max_pos - 1u);
    let c = cos4[pos * p.half + j];
    let s = sin4[pos * p.half + j];
    let a = dy4[base + j];
    let b = dy4[base + j + p.half];
    dx4[base + j] = a * c + b * s;
    dx4[base + j + p.half] = b * c - a * s;
  } else {
    let d = j + p.half;
    dx4[base + d] = dy4[base + d];
  }
}

@compute @workgroup_size(WG)
fn inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + lid;
  if (idx >= p.n) { return; }
  let row = idx / p.per_row;
  let j = idx - row * p.per_row;
  let base = row * p.dim;
  let pos = min(positions[row / p.heads], p.max_pos - 1u);
  let c = cos_t[pos * p.half + j];
  let s = sin_t[pos * p.half + j];
  let a = io[base + j];
  let b = io[base + j + p.half];
  io[base + j] = a * c + b * s;
  io[base + j + p.half] = b * c - a * s;
}

@compute @workgroup_size(WG)
fn inplace_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + lid;
  if (idx >= p.n) { return; }
  let row = idx / p.per_row;
  let j = idx - row * p.per_row;
  let base = row * p.dim;
  let pos = min(positions[row / p.heads], p.max_pos - 1u);
  let c = cos4[pos * p.half + j];
  let s = sin4[pos * p.half + j];
  let a = io4[base + j];
  let b = io4[base + j + p.half];
  io4[base + j] = a * c + b * s;
  io4[base + j + p.half] = b * c - a * s;
}
