// Attention backward, step 3 of 3: dQ of causal grouped-query attention (FlashAttention-2 style: P
// recomputed from q, k and the forward's lse; no float atomics, every dQ element has one writer).
//
//   P[r,j]  = exp(scale · q_r·k_j − lse_r)      (causal: 0 unless j ≤ t(r))
//   dS[r,j] = P[r,j] · (dout_r·v_j − delta_r)
//   dQ[r]   = scale · Σ_{j ≤ t(r)} dS[r,j] · k_j
//
// Layouts (row-major f32): q/dout/dq [B,T,Hq,D]; kc/vc caches [S,Hkv,L,D] (training: slot b, keys
// at positions 0..T-1); lse/delta [B,T,Hq].
//
// Work split (like the forward prefill kernel): workgroup (x = row block, y = b·Hkv + kvh) owns NR
// consecutive rows ρ = t·G + g of one (b, KV head) — the G query heads sharing KV head kvh are packed
// into one block, so each key tile serves all of them. A row belongs to a group of TPR lanes that
// hold its dQ row in registers (DPT = ⌈D/TPR⌉ dims a lane). Key tiles of BK keys run from 0 up to
// the causal limit of the block's last row, in order (deterministic). Per tile (2 barriers):
//   1. lane l of row i computes dS for keys l, l+TPR, ... of the tile (CN = ⌈BK/TPR⌉ keys: 2·2·D
//      flops each) and publishes it in workgroup memory;
//   2. every lane adds Σ_c dS[i,c]·k_c into its DPT dims.
// Cost: 6·D flops per causal (row, key) pair, ≈ 6·D·G·T²/2 per (b, kvh); k/v are read once per row
// block (from cache), q/dout rows once per tile.
//
// Packed rows (segmented = 1): keys of another segment than the row's (seg [B,T]) get P = 0, the
// forward's block-diagonal causal mask.

struct Params {
  B: u32,
  T: u32,
  Hq: u32,
  Hkv: u32,
  L: u32,
  G: u32,        // Hq / Hkv
  qScale: f32,   // scale · log2(e)
  scale: f32,
  D: u32,        // = HD, as a runtime loop bound: Mesa fully unrolls constant loops of ≤ 32 trips,
                 // which made lavapipe compile these kernels ~10x slower (20-30 s at D = 32)
  segmented: u32, // 1: keys of other segments are masked (seg is bound)
}

override HD: u32 = 64;   // head dim D
override TPR: u32 = 8;   // lanes per row
override NR: u32 = 16;   // rows per workgroup; workgroup = NR·TPR threads
override BK: u32 = 16;   // keys per tile
override CN: u32 = (BK + TPR - 1u) / TPR;   // score keys per lane (≤ MAXCN)
override DPT: u32 = (HD + TPR - 1u) / TPR;  // dQ dims per lane (≤ MAXDPT)

const MAXCN: u32 = 8u;
const MAXDPT: u32 = 32u;
const LOG2E: f32 = 1.4426950408889634;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;
@group(0) @binding(8) var<storage, read> seg: array<u32>;  // [B,T] segment ids (a dummy unless segmented)

var<workgroup> dsS: array<f32, NR * BK>;  // dS of the tile, [row][key]

@compute @workgroup_size(NR * TPR)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row0 = wid.x * NR;
  let b = wid.y / p.Hkv;
  let kvh = wid.y % p.Hkv;
  let rl = lid / TPR;
  let lane = lid % TPR;
  let rowsTotal = p.T * p.G;
  let row = row0 + rl;
  let rowOk = row < rowsTotal;
  let rr = min(row, rowsTotal - 1u);
  let t = rr / p.G;
  let r = (b * p.T + t) * p.Hq + kvh * p.G + rr % p.G;  // row index in lse / delta
  let qo = r * HD;
  let lseR = lse[r] * LOG2E;
  let deltaR = delta[r];
  var segRow = 0u;
  if (p.segmented != 0u) { segRow = seg[b * p.T + t]; }
  let cacheBase = (b * p.Hkv + kvh) * p.L * HD;
  // Keys this block needs: up to the causal limit of its last row.
  let kEnd = (min(row0 + NR, rowsTotal) - 1u) / p.G + 1u;

  var acc: array<f32, MAXDPT>;
  for (var j = 0u; j < DPT; j++) { acc[j] = 0.0; }

  for (var k0 = 0u; k0 < kEnd; k0 += BK) {
    // 1. dS for keys lane, lane+TPR, ... of the tile, this lane's row.
    var s: array<f32, MAXCN>;
    var dp: array<f32, MAXCN>;
    var ko: array<u32, MAXCN>;
    for (var n = 0u; n < CN; n++) {
      ko[n] = cacheBase + min(k0 + lane + n * TPR, kEnd - 1u) * HD;
      s[n] = 0.0;
      dp[n] = 0.0;
    }
    for (var d = 0u; d < p.D; d++) {
      let qd = q[qo + d];
      let gd = dout[qo + d];
      for (var n = 0u; n < CN; n++) {
        s[n] += qd * kc[ko[n] + d];
        dp[n] += gd * vc[ko[n] + d];
      }
    }
    for (var n = 0u; n < CN; n++) {
      let c = lane + n * TPR;
      var ok = rowOk && c < BK && k0 + c <= t;
      if (p.segmented != 0u) { ok = ok && seg[b * p.T + min(k0 + c, kEnd - 1u)] == segRow; }
      let pr = select(0.0, exp2(s[n] * p.qScale - lseR), ok);
      if (c < BK) { dsS[rl * BK + c] = select(0.0, pr * (dp[n] - deltaR), ok); }
    }
    workgroupBarrier();

    // 2. dQ += Σ_c dS[row,c]·k_c over this lane's dims.
    let nKeys = min(BK, kEnd - k0);
    for (var c = 0u; c < nKeys; c++) {
      let ds = dsS[rl * BK + c];
      let ko2 = cacheBase + (k0 + c) * HD;
      for (var j = 0u; j < DPT; j++) {
        acc[j] += ds * kc[ko2 + min(lane + j * TPR, HD - 1u)];
      }
    }
    workgroupBarrier();  // the tile's readers are done before the next tile overwrites dsS
  }

  if (rowOk) {
    for (var j = 0u; j < DPT; j++) {
      let d = lane + j * TPR;
      if (d < HD) { dq[qo + d] = acc[j] * p.scale; }
    }
  }
}
