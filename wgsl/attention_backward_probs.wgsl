// Dense attention backward, the elementwise middle step (src/ops/attention-backward.ts, dense path):
// given the raw scores S = q·kᵀ and dP = dout·vᵀ of every (row, key) pair, materialised by two
// batched matmuls, write in place
//
//   P[ρ,j]  = exp(scale · S[ρ,j] − lse_r)        (0 where key j is masked for row ρ)
//   dS[ρ,j] = P[ρ,j] · (dP[ρ,j] − delta_r)
//
// so that dV = Pᵀ·dout, dK = scale·dSᵀ·q and dQ = scale·dS·k are three more batched matmuls.
// Layout: s/dp [B·Hkv, G·T, T]: batch entry bk = b·Hkv + kvh holds the G query heads of KV head kvh
// (head h = kvh·G + g) one after the other, row ρ = g·T + t for position t, column j = key position;
// lse/delta [B, T, Hq] as the forward and attention_backward_delta.wgsl write them. Masked: j > t
// (causal) or, for packed rows (segmented = 1), seg[b,t] ≠ seg[b,j] (the forward's block-diagonal mask).
// One workgroup per row ρ (its position, head, lse and delta are uniform across the workgroup, so
// the integer divisions happen once a row, not once an element), its threads striding over the keys;
// keys past the diagonal are written 0 without an exp. With probsGiven, s already holds P (the dense
// forward kept it) and is left as it is. The grid may be split over x and y (grid1d).

struct Params {
  rows: u32,     // B·Hkv·G·T
  T: u32,
  G: u32,
  Hkv: u32,
  qScale: f32,   // scale · log2(e): P = exp2(S·qScale − lse·log2(e))
  segmented: u32,
  probsGiven: u32,  // 1: s already holds P (the dense forward's, masked entries 0): only dS is formed
  pad0: u32,
}

override WG: u32 = 64;
const LOG2E: f32 = 1.4426950408889634;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;   // in: S, out: P
@group(0) @binding(2) var<storage, read_write> dp: array<f32>;  // in: dP, out: dS
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> delta: array<f32>;
@group(0) @binding(5) var<storage, read> seg: array<u32>;  // [B,T] segment ids (a dummy unless segmented)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let rho = wid.x + wid.y * nwg.x;
  if (rho >= p.rows) { return; }
  let t = rho % p.T;
  let bh = rho / p.T;           // (b·Hkv + kvh)·G + g = b·Hq + h
  let Hq = p.Hkv * p.G;
  let b = bh / Hq;
  let r = (b * p.T + t) * Hq + bh % Hq;
  let l2 = lse[r] * LOG2E;
  let dl = delta[r];
  let segRow = select(0u, seg[b * p.T + t], p.segmented != 0u);
  let o = rho * p.T;
  for (var j = lid; j < p.T; j += WG) {
    var pr = 0.0;
    var ds = 0.0;
    if (j <= t && (p.segmented == 0u || seg[b * p.T + j] == segRow)) {
      if (p.probsGiven != 0u) { pr = s[o + j]; } else { pr = exp2(s[o + j] * p.qScale - l2); }
      ds = pr * (dp[o + j] - dl);
    }
    if (p.probsGiven == 0u) { s[o + j] = pr; }
    dp[o + j] = ds;
  }
}
