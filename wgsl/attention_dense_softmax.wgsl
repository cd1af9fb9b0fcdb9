// Dense attention forward, the row step (src/ops/attention-dense.ts): given the raw scores S = q·kᵀ
// of every (row, key) pair, materialised by a batched matmul, write in place
//
//   P[ρ,j] = exp(scale·S[ρ,j] − lse_r)   (0 where key j is masked for row ρ),  lse_r = ln Σ_j exp(scale·S[ρ,j])
//
// so that out = P·v is one more batched matmul. Layout as attention_backward_probs.wgsl: s
// [B·Hkv, G·T, T], row ρ = g·T + t of batch entry b·Hkv + kvh (head h = kvh·G + g, position t),
// column j = key position; lse [B, T, Hq] as the flash forward writes it (the backward reads it).
// Masked: j > t (causal) or, for packed rows (segmented = 1), seg[b,t] ≠ seg[b,j]. Only j ≤ t is read
// (the scores matmul may leave the rest unwritten: its causal hint); every j is written, masked
// ones as exact zeros (the P·v product's causal hint skips them, and relies on their being 0).
// One workgroup per row, its threads striding over the keys. Each thread keeps an online max and
// sum of its keys (one pass), the workgroup combines the WG pairs after a single barrier (every
// thread reads them all, in the same order: deterministic), then each thread writes its keys' P.
// Barriers are what cost on a software adapter (a tree reduction's dozen a row made this kernel
// 3x slower than the backward's probs kernel, which has none). The grid may be split over x and y.

struct Params {
  rows: u32,     // B·Hkv·G·T
  T: u32,
  G: u32,
  Hkv: u32,
  qScale: f32,   // scale · log2(e): scores in the log2 domain
  segmented: u32,
  pad0: u32,     // (the backward's probs kernel shares these params: its probsGiven)
  pad1: u32,
}

override WG: u32 = 16;
const LN2: f32 = 0.6931471805599453;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;  // in: S, out: P
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> seg: array<u32>;      // [B,T] segment ids (a dummy unless segmented)

var<workgroup> pm: array<f32, WG>;  // each thread's max (log2 domain) ...
var<workgroup> ps: array<f32, WG>;  // ... and its sum of exp2(x − max)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let rho = wid.x + wid.y * nwg.x;
  if (rho >= p.rows) { return; }  // uniform across the workgroup: the barrier below is safe
  let t = rho % p.T;
  let bh = rho / p.T;           // (b·Hkv + kvh)·G + g = b·Hq + h
  let Hq = p.Hkv * p.G;
  let b = bh / Hq;
  let r = (b * p.T + t) * Hq + bh % Hq;
  let segRow = select(0u, seg[b * p.T + t], p.segmented != 0u);
  let o = rho * p.T;
  var m = -3.0e38;
  var sum = 0.0;
  for (var j = lid; j <= t; j += WG) {
    if (p.segmented == 0u || seg[b * p.T + j] == segRow) {
      let x = s[o + j] * p.qScale;
      if (x > m) {
        sum = sum * exp2(m - x) + 1.0;
        m = x;
      } else {
        sum += exp2(x - m);
      }
    }
  }
  pm[lid] = m;
  ps[lid] = sum;
  workgroupBarrier();
  var M = -3.0e38;
  for (var i = 0u; i < WG; i++) { M = max(M, pm[i]); }
  var total = 0.0;  // ≥ 1: key t (the row's own) is never masked
  for (var i = 0u; i < WG; i++) { total += ps[i] * exp2(pm[i] - M); }
  let inv = 1.0 / total;
  for (var j = lid; j < p.T; j += WG) {
    var pr = 0.0;
    if (j <= t && (p.segmented == 0u || seg[b * p.T + j] == segRow)) { pr = exp2(s[o + j] * p.qScale - M) * inv; }
    s[o + j] = pr;
  }
  if (lid == 0u) { lse[r] = (M + log2(total)) * LN2; }
}
