// Swaps the two middle axes of a row-major f32 tensor: x [A, X, Y, D] -> out [A, Y, X, D].
// The dense attention backward (src/ops/attention-backward.ts) uses it to move q and dout from the
// token-major layout [B, T, H, D] to head-major [B, H, T, D], where each (b, head) is one contiguous
// T x D matrix a batched matmul can take, and to move the gradients back.
// One thread per output element, consecutive threads along D: the writes are contiguous and so are
// the reads within a row of D. The grid may be split over x and y (grid1d).

struct Params {
  total: u32,  // A·X·Y·D
  X: u32,
  Y: u32,
  D: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  // out index i = ((a·Y + y)·X + xi)·D + d
  let d = i % p.D;
  let r = i / p.D;
  let xi = r % p.X;
  let r2 = r / p.X;
  let y = r2 % p.Y;
  let a = r2 / p.Y;
  out[i] = x[((a * p.X + xi) * p.Y + y) * p.D + d];
}
