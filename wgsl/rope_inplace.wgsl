// Rotary position embedding in place: x [tokens, H, D] is rotated where it lies. Same math, tables,
// thread layout (main: one pair per thread; main_vec4: 4 pairs per thread through vec4 views, when
// half and D are multiples of 4) and clamping as rope.wgsl (see there); a separate file because
// WebGPU forbids binding one buffer as both read and read_write. In place is safe because each
// thread reads and writes only its own pairs (x[i], x[i + half]); the pass-through dims
// (>= rotary_dim) are not touched, so only `half` threads (or half/4) per (token, head) row run.

struct Params {  // in elements for main, in vec4s for main_vec4 (except max_pos, heads)
  n: u32,        // rows * half threads
  heads: u32,    // H: rows per token
  dim: u32,      // D
  half: u32,     // rotary_dim / 2
  max_pos: u32,  // table rows
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> cos_t: array<f32>;
@group(0) @binding(4) var<storage, read> sin_t: array<f32>;
// vec4 views, used only by main_vec4.
@group(0) @binding(1) var<storage, read_write> x4: array<vec4f>;
@group(0) @binding(3) var<storage, read> cos4: array<vec4f>;
@group(0) @binding(4) var<storage, read> sin4: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + lid;
  if (idx >= p.n) { return; }
  let row = idx / p.half;
  let j = idx - row * p.half;
  let base = row * p.dim;
  let pos = min(positions[row / p.heads], p.max_pos - 1u);
  let c = cos_t[pos * p.half + j];
  let s = sin_t[pos * p.half + j];
  let a = x[base + j];
  let b = x[base + j + p.half];
  x[base + j] = a * c - b * s;
  x[base + j + p.half] = b * c + a * s;
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + lid;
  if (idx >= p.n) { return; }
  let row = idx / p.half;
  let j = idx - row * p.half;
  let base = row * p.dim;
  let pos = min(positions[row / p.heads], p.max_pos - 1u);
  let c = cos4[pos * p.half + j];
  let s = sin4[pos * p.half + j];
  let a = x4[base + j];
  let b = x4[base + j + p.half];
  x4[base + j] = a * c - b * s;
  x4[base + j + p.half] = b * c + a * s;
}
