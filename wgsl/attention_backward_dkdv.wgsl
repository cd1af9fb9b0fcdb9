// Attention backward, step 2 of 3: dK and dV of causal grouped-query attention (FlashAttention-2
// style: P is recomputed from q, k and the forward's lse, never stored; no float atomics).
//
//   P[r,j]  = exp(scale · q_r·k_j − lse_r)      (causal: 0 unless j ≤ t(r))
//   dP[r,j] = dout_r · v_j
//   dS[r,j] = P[r,j] · (dP[r,j] − delta_r)       (delta from attention_backward_delta.wgsl)
//   dV[j]   = Σ_r P[r,j] · dout_r
//   dK[j]   = scale · Σ_r dS[r,j] · q_r
// where r runs over the query rows of every query head of the group sharing KV head kvh.
//
// Layouts (row-major f32): q/dout [B,T,Hq,D]; kc/vc caches [S,Hkv,L,D] (training: slot b holds row
// b's T keys at positions 0..T-1); lse/delta [B,T,Hq]; dk/dv [B,T,Hkv,D].
//
// Work split: workgroup (x = key block, y = b·Hkv + kvh) owns NK consecutive keys of one (b, KV
// head); a key belongs to a group of TPR lanes, which hold its dK/dV rows in registers (DPT =
// ⌈D/TPR⌉ dims a lane: dims lane, lane+TPR, ...). The workgroup walks the query rows
// ρ = t·G + g (q's memory order: position t, query head kvh·G + g) from the first row at or after
// its first key, ρ = key0·G, to the end, in tiles of BQ rows — so the sum over the G heads of the
// group and over positions happens in registers, in a fixed order (deterministic). Per tile
// (2 barriers):
//   1. lane l of key j computes P and dS for rows l, l+TPR, ... of the tile (RN = ⌈BQ/TPR⌉ rows:
//      2·2·D flops each) and publishes them in workgroup memory;
//   2. every lane adds Σ_i P[i,j]·dout_i and Σ_i dS[i,j]·q_i into its DPT dims.
// q, dout, k and v are read straight from memory (cache-resident; on lavapipe a workgroup-memory
// load costs about what a cached global load does, so staging them would only add barriers).
// Cost: 8·D flops per causal (row, key) pair, ≈ 8·D·G·T²/2 per (b, kvh); the key block's k/v rows
// are read once per tile, q/dout once per tile by the score lanes and once by the accumulation.
//
// The caller guarantees slots = 0..B-1, starts = 0 and L ≥ T, so no clamping of those is needed; key
// and row indices are clamped so out-of-tile lanes never read out of bounds.
//
// Packed rows (segmented = 1): P is also 0 between a row and a key of different segments (seg [B,T],
// the forward's block-diagonal causal mask), so a key gathers gradient from its own example only.

struct Params {
  B: u32,
  T: u32,
  Hq: u32,
  Hkv: u32,
  L: u32,
  G: u32,        // Hq / Hkv
  qScale: f32,   // scale · log2(e): P = exp2(q·k·qScale − lse·log2(e))
  scale: f32,
  D: u32,        // = HD, as a runtime loop bound: Mesa fully unrolls constant loops of ≤ 32 trips,
                 // which made lavapipe compile these kernels ~10x slower (20-30 s at D = 32)
  segmented: u32, // 1: rows and keys of different segments do not attend (seg is bound)
}

override HD: u32 = 64;   // head dim D
override TPR: u32 = 8;   // lanes per key
override NK: u32 = 16;   // keys per workgroup; workgroup = NK·TPR threads
override BQ: u32 = 16;   // query rows per tile
override RN: u32 = (BQ + TPR - 1u) / TPR;   // score rows per lane (≤ MAXRN)
override DPT: u32 = (HD + TPR - 1u) / TPR;  // dK/dV dims per lane (≤ MAXDPT)

const MAXRN: u32 = 8u;
const MAXDPT: u32 = 32u;
const LOG2E: f32 = 1.4426950408889634;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;
@group(0) @binding(9) var<storage, read> seg: array<u32>;  // [B,T] segment ids (a dummy unless segmented)

var<workgroup> pS: array<f32, BQ * NK>;   // P of the tile, [row][key]
var<workgroup> dsS: array<f32, BQ * NK>;  // dS of the tile, [row][key]

@compute @workgroup_size(NK * TPR)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let key0 = wid.x * NK;
  let b = wid.y / p.Hkv;
  let kvh = wid.y % p.Hkv;
  let kl = lid / TPR;
  let lane = lid % TPR;
  let key = key0 + kl;
  let keyOk = key < p.T;
  let kOff = ((b * p.Hkv + kvh) * p.L + min(key, p.T - 1u)) * HD;
  let rowsTotal = p.T * p.G;
  var segKey = 0u;
  if (p.segmented != 0u) { segKey = seg[b * p.T + min(key, p.T - 1u)]; }

  var dkA: array<f32, MAXDPT>;
  var dvA: array<f32, MAXDPT>;
  for (var j = 0u; j < DPT; j++) {
    dkA[j] = 0.0;
    dvA[j] = 0.0;
  }

  // Rows before key0·G are at positions < key0: every key of the block is masked for them.
  for (var r0 = key0 * p.G; r0 < rowsTotal; r0 += BQ) {
    // 1. P and dS for rows lane, lane+TPR, ... of the tile, this lane's key.
    var s: array<f32, MAXRN>;
    var dp: array<f32, MAXRN>;
    var qo: array<u32, MAXRN>;  // element offset of each row in q / dout
    for (var n = 0u; n < RN; n++) {
      let rr = min(r0 + lane + n * TPR, rowsTotal - 1u);
      qo[n] = ((b * p.T + rr / p.G) * p.Hq + kvh * p.G + rr % p.G) * HD;
      s[n] = 0.0;
      dp[n] = 0.0;
    }
    for (var d = 0u; d < p.D; d++) {
      let kd = kc[kOff + d];
      let vd = vc[kOff + d];
      for (var n = 0u; n < RN; n++) {
        s[n] += q[qo[n] + d] * kd;
        dp[n] += dout[qo[n] + d] * vd;
      }
    }
    for (var n = 0u; n < RN; n++) {
      let i = lane + n * TPR;
      let row = r0 + i;
      var ok = keyOk && i < BQ && row < rowsTotal && key <= row / p.G;
      if (p.segmented != 0u) { ok = ok && seg[b * p.T + min(row, rowsTotal - 1u) / p.G] == segKey; }
      let r = qo[n] / HD;
      let pr = select(0.0, exp2(s[n] * p.qScale - lse[r] * LOG2E), ok);
      if (i < BQ) {
        pS[i * NK + kl] = pr;
        dsS[i * NK + kl] = select(0.0, pr * (dp[n] - delta[r]), ok);
      }
    }
    workgroupBarrier();

    // 2. dV += Σ_i P[i,key]·dout_i, dK += Σ_i dS[i,key]·q_i over this lane's dims.
    let nRows = min(BQ, rowsTotal - r0);
    for (var i = 0u; i < nRows; i++) {
      let rr = r0 + i;
      let o = ((b * p.T + rr / p.G) * p.Hq + kvh * p.G + rr % p.G) * HD;
      let pr = pS[i * NK + kl];
      let ds = dsS[i * NK + kl];
      for (var j = 0u; j < DPT; j++) {
        let dc = min(lane + j * TPR, HD - 1u);
        dvA[j] += pr * dout[o + dc];
        dkA[j] += ds * q[o + dc];
      }
    }
    workgroupBarrier();  // the tile's readers are done before the next tile overwrites pS/dsS
  }

  if (keyOk) {
    let o = ((b * p.T + key) * p.Hkv + kvh) * HD;
    for (var j = 0u; j < DPT; j++) {
      let d = lane + j * TPR;
      if (d < HD) {
        dk[o + d] = dkA[j] * p.scale;
        dv[o + d] = dvA[j];
      }
    }
  }
}
