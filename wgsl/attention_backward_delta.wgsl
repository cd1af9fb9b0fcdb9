// Attention backward, step 1 of 3: the per-row softmax correction term of FlashAttention-2,
//
//   delta[r] = Σ_d dout[r,d] · out[r,d]      (= Σ_j P[r,j] · dP[r,j], since out = P·V and dP = dout·Vᵀ)
//
// over rows r = (b, t, h) of dout/out [B,T,Hq,D]; delta is [B,T,Hq]. The dK/dV and dQ kernels
// subtract it from dP to form dS = P ∘ (dP − delta) without ever materialising a whole row of P.
// One thread per row (D is small and a row is contiguous); the grid may be split over x and y
// (grid1d). Cost: 2·D flops and 2·D reads per row, a negligible share of the backward.

struct Params {
  rows: u32,  // B·T·Hq
  D: u32,
}

override WG: u32 = 64;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> delta: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * WG + lid;
  if (r >= p.rows) { return; }
  let o = r * p.D;
  var acc = 0.0;
  for (var d = 0u; d < p.D; d++) { acc += dout[o + d] * out[o + d]; }
  delta[r] = acc;
}
