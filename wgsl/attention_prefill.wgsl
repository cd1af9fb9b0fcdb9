// Causal grouped-query attention, prefill form (T > 1 new positions per sequence): a flash-attention
// style tiled online softmax that never materialises the T×L score matrix.
//
//   out[b,t,h,:] = Σ_j softmax_j(scale · q[b,t,h]·K[slot,kvh,j]) · V[slot,kvh,j,:],  j ≤ starts[b]+t
//
// Layouts (row-major f32): q/out [B,T,Hq,D]; kc/vc caches [S,Hkv,L,D]; slots/starts u32 [B];
// lse [B,T,Hq] (natural-log logsumexp of the scaled scores, for the backward pass).
//
// Work split: workgroup (x = row block, y = b·Hkv + kvh) owns BQ consecutive "rows" of one (b, KV
// head), where row ρ = t·G + g enumerates (position t, query head kvh·G + g) — i.e. the G = Hq/Hkv
// query heads that share a KV head are packed into the same block (that is just q's natural memory
// order), so each K/V tile staged in workgroup memory serves all of them: K/V traffic is read once
// per block instead of once per query head. Each row is served by TPR threads; thread `lane` of a
// row owns output dims lane, lane+TPR, ... and keeps the row's running max m, sum l and its slice of
// the accumulator in registers.
//
// Per key tile of BK positions (4 barriers):
//   1. stage K and V tiles in workgroup memory (K padded to an odd stride: the score loop reads K
//      rows at a stride of the row length, which would hit one bank for power-of-two D);
//   2. scores S = q·kᵀ for the BQ×BK tile (q was pre-multiplied by scale·log2 e, so softmax uses
//      exp2); causally masked entries get a sentinel instead;
//   3. each row's new max m' = max(m, max_tile S); P = exp2(S − m') (masked → 0);
//   4. l = l·exp2(m − m') + ΣP,  acc = acc·exp2(m − m') + P·V.
// Key tiles entirely above the causal diagonal of the block's last row are never visited, so a
// block at position t costs ~(start+t)/BK tiles. Cost: 4·rows·keys·D flops (halved by causality in
// a fresh prefill); K/V are read ceil(T·G/BQ) times per (b, kvh) from cache, q and out once.
//
// Out-of-range inputs are clamped, never read out of bounds: slots[b] ≥ S makes row b attend to
// nothing (out = 0, lse = −inf); starts[b] > L is treated as L (positions past the cache attend to
// all L cached positions).

struct Params {
  B: u32,
  T: u32,
  Hq: u32,
  Hkv: u32,
  S: u32,
  L: u32,
  G: u32,         // Hq / Hkv
  writeLse: u32,  // 1 when the caller wants lse
  qScale: f32,    // softmax scale · log2(e)
}

override HD: u32 = 64;   // head dim D
override BQ: u32 = 16;   // rows per workgroup
override BK: u32 = 16;   // keys per tile
override TPR: u32 = 16;  // threads per row; workgroup = BQ·TPR threads
override DPT: u32 = (HD + TPR - 1u) / TPR;  // output dims per thread (≤ MAXDPT)
override KS: u32 = HD | 1u;                 // odd stride of the staged K rows

const MAXDPT: u32 = 16u;
const MASKED: f32 = -3.0e38;  // below any real score; exp2(MASKED - m) underflows to 0
const LN2: f32 = 0.6931471805599453;
// -inf for lse of rows that attend to nothing (a constant expression cannot be infinite in WGSL).
var<private> NEG_INF_BITS: u32 = 0xff800000u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read> slots: array<u32>;
@group(0) @binding(5) var<storage, read> starts: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read_write> lse: array<f32>;

var<workgroup> qs: array<f32, BQ * HD>;
var<workgroup> ks: array<f32, BK * KS>;
var<workgroup> vs: array<f32, BK * HD>;
var<workgroup> ss: array<f32, BQ * BK>;
var<workgroup> ps: array<f32, BQ * BK>;

@compute @workgroup_size(BQ * TPR)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let WG = BQ * TPR;
  let rowsTotal = p.T * p.G;
  let row0 = wid.x * BQ;
  let b = wid.y / p.Hkv;
  let kvh = wid.y % p.Hkv;
  let slot = slots[b];
  let start = min(starts[b], p.L);
  // Keys this block needs: up to the causal limit of its last row, clipped to the cache.
  let tLast = (min(row0 + BQ, rowsTotal) - 1u) / p.G;
  var kEnd = min(start + tLast + 1u, p.L);
  if (slot >= p.S) { kEnd = 0u; }
  let cacheBase = (min(slot, p.S - 1u) * p.Hkv + kvh) * p.L * HD;

  // Stage the block's query rows, pre-scaled so scores come out in log2 units.
  for (var i = lid; i < BQ * HD; i += WG) {
    let row = row0 + i / HD;
    var x = 0.0;
    if (row < rowsTotal) {
      let t = row / p.G;
      let h = kvh * p.G + row % p.G;
      x = q[((b * p.T + t) * p.Hq + h) * HD + i % HD] * p.qScale;
    }
    qs[i] = x;
  }

  let r = lid / TPR;
  let lane = lid % TPR;
  var m = MASKED;
  var l = 0.0;
  var acc: array<f32, MAXDPT>;

  let nTiles = (kEnd + BK - 1u) / BK;
  for (var tile = 0u; tile < nTiles; tile++) {
    let k0 = tile * BK;
    workgroupBarrier();  // the previous tile's readers are done (and qs is staged)

    // 1. stage K, V
    for (var i = lid; i < BK * HD; i += WG) {
      let c = i / HD;
      let d = i % HD;
      let key = k0 + c;
      var kx = 0.0;
      var vx = 0.0;
      if (key < kEnd) {
        let off = cacheBase + key * HD + d;
        kx = kc[off];
        vx = vc[off];
      }
      ks[c * KS + d] = kx;
      vs[i] = vx;
    }
    workgroupBarrier();

    // 2. scores (masked where the key is after the row's position)
    for (var i = lid; i < BQ * BK; i += WG) {
      let rr = i / BK;
      let c = i % BK;
      let row = row0 + rr;
      let key = k0 + c;
      var s = MASKED;
      if (row < rowsTotal && key < kEnd && key <= start + row / p.G) {
        var dot = 0.0;
        for (var d = 0u; d < HD; d++) {
          dot += qs[rr * HD + d] * ks[c * KS + d];
        }
        s = dot;
      }
      ss[i] = s;
    }
    workgroupBarrier();

    // 3. new running max of this thread's row, and the tile's probabilities
    var mNew = m;
    for (var c = 0u; c < BK; c++) {
      mNew = max(mNew, ss[r * BK + c]);
    }
    for (var c = lane; c < BK; c += TPR) {
      let s = ss[r * BK + c];
      ps[r * BK + c] = select(0.0, exp2(s - mNew), s > MASKED);
    }
    workgroupBarrier();

    // 4. rescale and accumulate P·V
    let alpha = exp2(m - mNew);
    m = mNew;
    l *= alpha;
    for (var j = 0u; j < DPT; j++) {
      acc[j] *= alpha;
    }
    for (var c = 0u; c < BK; c++) {
      let pc = ps[r * BK + c];
      l += pc;
      for (var j = 0u; j < DPT; j++) {
        let d = lane + j * TPR;
        if (d < HD) {
          acc[j] += pc * vs[c * HD + d];
        }
      }
    }
  }

  let row = row0 + r;
  if (row >= rowsTotal) { return; }
  let t = row / p.G;
  let h = kvh * p.G + row % p.G;
  let o = (b * p.T + t) * p.Hq + h;
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var j = 0u; j < DPT; j++) {
    let d = lane + j * TPR;
    if (d < HD) {
      out[o * HD + d] = acc[j] * inv;
    }
  }
  if (lane == 0u && p.writeLse != 0u) {
    lse[o] = select(bitcast<f32>(NEG_INF_BITS), (m + log2(l)) * LN2, l > 0.0);
  }
}
