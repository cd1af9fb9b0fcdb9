// Rotary position embedding, HF "rotate_half" convention (LlamaRotaryEmbedding /
// apply_rotary_pos_emb), out of place: x, out [tokens, H, D] (tokens = B*T), positions u32 [tokens],
// cos/sin tables f32 [max_pos, half] with half = rotary_dim / 2. For i < half:
//   out[i]        = x[i] * cos[pos, i] - x[i + half] * sin[pos, i]
//   out[i + half] = x[i + half] * cos[pos, i] + x[i] * sin[pos, i]
// and dims >= rotary_dim (partial rotary) are copied unchanged.
//
// The tables are built on the CPU (ropeTables in src/ops/rope.ts) from HF's float32 angles with
// float64 cos/sin: WGSL's cos/sin lose accuracy for the large angles of late positions.
//
// One thread per rotated pair plus one per pass-through element: per_row = half + (D - rotary_dim)
// threads per (token, head) row, laid out row-major so neighbouring threads touch neighbouring
// addresses. main_vec4 does the same on vec4 views of the bindings (4 pairs per thread) when half
// and D are multiples of 4 (head_dim 64/128): 4x fewer invocations, which is most of the cost on
// lavapipe. Grid split over x and y by grid1d. Cost: x read once, out written once, 2 table reads
// and 6 flops per pair. Positions >= max_pos cannot be reported from the GPU, so they are clamped
// to the last table row (documented in rope.ts).

struct Params {  // in elements for main, in vec4s for main_vec4 (except max_pos, heads)
  n: u32,        // rows * per_row threads
  per_row: u32,  // half + (dim - 2 * half)
  heads: u32,    // H: rows per token
  dim: u32,      // D
  half: u32,     // rotary_dim / 2
  max_pos: u32,  // table rows
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> cos_t: array<f32>;
@group(0) @binding(4) var<storage, read> sin_t: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
// vec4 views, used only by main_vec4 (each entry point binds one view).
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(3) var<storage, read> cos4: array<vec4f>;
@group(0) @binding(4) var<storage, read> sin4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> out4: array<vec4f>;

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
    let a = x[base + j];
    let b = x[base + j + p.half];
    out[base + j] = a * c - b * s;
    out[base + j + p.half] = b * c + a * s;
  } else {
    let d = j + p.half;  // 2 * half + (j - half): the pass-through dims
    out[base + d] = x[base + d];
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
    let a = x4[base + j];
    let b = x4[base + j + p.half];
    out4[base + j] = a * c - b * s;
    out4[base + j + p.half] = b * c + a * s;
  } else {
    let d = j + p.half;
    out4[base + d] = x4[base + d];
  }
}
