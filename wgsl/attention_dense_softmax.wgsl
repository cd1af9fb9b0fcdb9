// Dense attention forward, the middle step (src/ops/attention-dense.ts): row-wise masked softmax of
// the raw scores S = q·kᵀ, materialised by a batched matmul, written in place as probabilities, and
// the row's log-sum-exp for the backward:
//
//   P[ρ,j] = exp(scale·S[ρ,j] − lse_r) for the keys j the row attends to, else 0
//   lse_r  = log Σ_j exp(scale·S[ρ,j])   (natural log, as attention_prefill.wgsl writes it)
//
// Layout as attention_backward_probs.wgsl: s [B·Hkv, G·T, T], row ρ = g·T + t of batch entry
// b·Hkv + kvh (query head h = kvh·G + g), column j = key position; lse [B, T, Hq]. Attended: j ≤ t,
// and for packed rows (segmented = 1) seg[b,t] = seg[b,j]. Every row attends at least to itself.
// One workgroup per row (the grid may be split over x and y, grid1d): its threads stride over the
// keys for the max, then the sum (each reduced in workgroup memory, a fixed tree: deterministic), then
// write P.

struct Params {
  rows: u32,     // B·Hkv·G·T
  T: u32,
  G: u32,
  Hkv: u32,
  qScale: f32,   // scale · log2(e)
  segmented: u32,
}

override WG: u32 = 64;
const LN2: f32 = 0.6931471805599453;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;   // in: S, out: P
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> seg: array<u32>;  // [B,T] segment ids (a dummy unless segmented)

var<workgroup> red: array<f32, WG>;

/** The tree reduction of red[0..WG) (max or sum): every thread gets the result. */
fn reduce(v: f32, lid: u32, isMax: bool) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w /= 2u) {
    if (lid < w) {
      let o = red[lid + w];
      red[lid] = select(red[lid] + o, max(red[lid], o), isMax);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();  // everyone has read red[0] before the next reduction overwrites it
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let rho = wid.x + wid.y * nwg.x;
  if (rho >= p.rows) { return; }
  let t = rho % p.T;
  let bh = rho / p.T;           // b·Hq + h
  let Hq = p.Hkv * p.G;
  let b = bh / Hq;
  let r = (b * p.T + t) * Hq + bh % Hq;
  let segRow = select(0u, seg[b * p.T + t], p.segmented != 0u);
  let o = rho * p.T;
  var m = -3.0e38;
  for (var j = lid; j <= t; j += WG) {
    if (p.segmented == 0u || seg[b * p.T + j] == segRow) { m = max(m, s[o + j] * p.qScale); }
  }
  m = reduce(m, lid, true);
  var sum = 0.0;
  for (var j = lid; j <= t; j += WG) {
    if (p.segmented == 0u || seg[b * p.T + j] == segRow) { sum += exp2(s[o + j] * p.qScale - m); }
  }
  sum = reduce(sum, lid, false);
  let l2 = m + log2(sum);  // lse · log2(e)
  for (var j = lid; j < p.T; j += WG) {
    var pr = 0.0;
    if (j <= t && (p.segmented == 0u || seg[b * p.T + j] == segRow)) { pr = exp2(s[o + j] * p.qScale - l2); }
    s[o + j] = pr;
  }
  if (lid == 0u) { lse[r] = l2 * LN2; }
}
