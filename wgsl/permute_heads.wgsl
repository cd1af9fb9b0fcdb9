// Swaps the two middle axes of a row-major f32 tensor: x [A, X, Y, D] -> out [A, Y, X, D].
// The dense attention backward (src/ops/attention-backward.ts) uses it to move q and dout from the
// token-major layout [B, T, H, D] to head-major [B, H, T, D], where each (b, head) is one contiguous
// T x D matrix a batched matmul can take, and to move the gradients back.
// One thread per output element, consecutive threads along D: the writes are contiguous and so are
// the reads within a row of D. `main4` (D % 4 == 0) moves a vec4 per item and ITEMS items per
// thread, a quarter of the loads and an ITEMS-th of the workgroups (on lavapipe each costs a per-lane
// sequence, and the start of a workgroup microseconds). The grid may be split over x and y (grid1d).

struct Params {
  total: u32,  // A·X·Y·D (main4: in vec4s, and D in vec4s)
  X: u32,
  Y: u32,
  D: u32,
}

override WG: u32 = 256;
override ITEMS: u32 = 4;   // main4: vec4s per thread

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
// main4's view of the same bindings (each entry point uses its own set)
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out4: array<vec4f>;

// The input index of output index i (the same in elements and in vec4s, D counted alike).
fn source(i: u32) -> u32 {
  // out index i = ((a·Y + y)·X + xi)·D + d
  let d = i % p.D;
  let r = i / p.D;
  let xi = r % p.X;
  let r2 = r / p.X;
  let y = r2 % p.Y;
  let a = r2 / p.Y;
  return ((a * p.X + xi) * p.Y + y) * p.D + d;
}

@compute @workgroup_size(WG)
fn main4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.x + wid.y * nwg.x) * WG * ITEMS;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG + lid;
    if (i >= p.total) { return; }
    out4[i] = x4[source(i)];
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  out[i] = x[source(i)];
}
