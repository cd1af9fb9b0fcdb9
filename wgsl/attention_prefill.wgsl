// Causal grouped-query attention, prefill form (T > 1 new positions per sequence): a flash-attention
// style tiled online softmax that never materialises the T×L score matrix.
//
//   out[b,t,h,:] = Σ_j softmax_j(scale · q[b,t,h]·K[slot,kvh,j]) · V[slot,kvh,j,:],  j ≤ starts[b]+t
//
// Layouts (row-major f32): q/out [B,T,Hq,D]; kc/vc caches [S,Hkv,L,D]; slots/starts u32 [B];
// lse [B,T,Hq] (natural-log logsumexp of the scaled scores, for the backward pass).
//
// Work split: workgroup (x = row block, y = b·Hkv + kvh) owns BQ consecutive "rows" of one (b, KV
// head), where row ρ = t·G + g enumerates (position t, query head kvh·G + g): the G = Hq/Hkv query
// heads sharing a KV head are packed into one block (that is q's natural memory order), so each
// K/V tile staged in workgroup memory serves all of them. Threads form RG row groups × TPR lanes; a
// thread owns RM rows (a register micro-tile, so every value it loads feeds RM or more FMAs):
//   scores:  rows × keys  lane, lane+TPR, ... (CN = ⌈BK/TPR⌉ keys) — RM·CN accumulators
//   output:  rows × dims  lane, lane+TPR, ... (DPT = ⌈D/TPR⌉ dims) — RM·DPT accumulators
// and keeps its rows' running max m and its share of the running sum l in registers. q is read
// straight from memory (cache-resident after the first tile) so workgroup memory holds only K/V/P.
//
// Per key tile of BK positions (4 barriers):
//   1. stage the K and V tiles in workgroup memory (K rows padded to an odd stride: the score loop
//      reads K at a stride of the row length, which would hit one bank for power-of-two D). With
//      SHAREKV (large D, little workgroup memory) V is staged into the K buffer during step 3;
//   2. scores s = q·k·scale·log2(e) in registers (softmax then uses exp2), causally masked; each
//      thread publishes its per-row maximum;
//   3. m' = max(m, row max); P = exp2(s − m') into workgroup memory; l = l·exp2(m − m') + ΣP;
//   4. acc = acc·exp2(m − m') + P·V.
// Key tiles entirely above the causal diagonal of the block's last row are never visited. Cost:
// 4·rows·keys·D flops (halved by causality in a fresh prefill); K/V are read once per row block.
//
// Out-of-range inputs are clamped, never read out of bounds: slots[b] ≥ S makes row b attend to
// nothing (out = 0, lse = −inf); starts[b] > L is treated as L (positions past the cache attend to
// all L cached positions).
//
// Packed rows (segmented = 1, training layout: starts 0, the cache holds this call's T keys): seg
// [B,T] gives each token a segment id (one example of a packed row), and a query attends only to the
// keys of its own segment: j ≤ t and seg[b,j] == seg[b,t] (block-diagonal causal). The tile's key
// segments are staged with K; the rows' are loaded once. segmented = 0 leaves the mask as above.

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
  segmented: u32, // 1: mask keys of other segments (seg is bound), 0: plain causal
}

override HD: u32 = 64;   // head dim D
override RM: u32 = 4;    // rows per thread (≤ MAXRM)
override RG: u32 = 8;    // row groups; workgroup = RG·TPR threads, BQ = RG·RM rows
override TPR: u32 = 16;  // lanes per row group
override BK: u32 = 32;   // keys per tile: a multiple of TPR, or below it (lanes ≥ BK then skip scores)
override SHAREKV: bool = false;  // stage V into the K buffer once the scores are done (large D)
override BQ: u32 = RG * RM;
override CN: u32 = (BK + TPR - 1u) / TPR;   // keys per thread in the score tile (≤ MAXCN)
override DPT: u32 = (HD + TPR - 1u) / TPR;  // output dims per thread (≤ MAXDPT)
override KS: u32 = HD | 1u;                 // odd stride of the staged K rows
override VSIZE: u32 = BK * HD;              // the wrapper passes 1 with SHAREKV

const MAXRM: u32 = 4u;
const MAXCN: u32 = 8u;
const MAXDPT: u32 = 16u;
const MAXACC: u32 = 64u;  // ≥ RM·DPT
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
@group(0) @binding(8) var<storage, read> seg: array<u32>;  // [B,T] segment ids (a dummy unless segmented)

var<workgroup> ks: array<f32, BK * KS>;
var<workgroup> vs: array<f32, VSIZE>;   // unused (1 float) when SHAREKV
var<workgroup> ps: array<f32, BQ * BK>;   // probabilities of the tile
var<workgroup> red: array<f32, BQ * TPR>; // per-lane row maxima, then per-lane row sums
var<workgroup> segK: array<u32, BK>;      // the tile's key segments (segmented only)

@compute @workgroup_size(RG * TPR)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let WG = RG * TPR;
  let rowsTotal = p.T * p.G;
  let blockRow0 = wid.x * BQ;
  let b = wid.y / p.Hkv;
  let kvh = wid.y % p.Hkv;
  let slot = slots[b];
  let start = min(starts[b], p.L);
  // Keys this block needs: up to the causal limit of its last row, clipped to the cache.
  let tLast = (min(blockRow0 + BQ, rowsTotal) - 1u) / p.G;
  var kEnd = min(start + tLast + 1u, p.L);
  if (slot >= p.S) { kEnd = 0u; }
  let cacheBase = (min(slot, p.S - 1u) * p.Hkv + kvh) * p.L * HD;

  let rg = lid / TPR;
  let lane = lid % TPR;
  let r0 = rg * RM;  // first row of this thread within the block
  var qOff: array<u32, MAXRM>;   // element offset of each row in q / out
  var qPos: array<u32, MAXRM>;   // absolute position of each row
  var rowOk: array<bool, MAXRM>;
  var segQ: array<u32, MAXRM>;   // segment of each row (segmented only)
  for (var i = 0u; i < RM; i++) {
    let row = blockRow0 + r0 + i;
    rowOk[i] = row < rowsTotal;
    let rr = min(row, rowsTotal - 1u);
    let t = rr / p.G;
    qPos[i] = start + t;
    qOff[i] = ((b * p.T + t) * p.Hq + kvh * p.G + rr % p.G) * HD;
    segQ[i] = 0u;
    if (p.segmented != 0u) { segQ[i] = seg[b * p.T + t]; }
  }

  var m: array<f32, MAXRM>;
  var l: array<f32, MAXRM>;    // this lane's share of the row sums
  var acc: array<f32, MAXACC>;
  for (var i = 0u; i < RM; i++) {
    m[i] = MASKED;
    l[i] = 0.0;
  }
  for (var a = 0u; a < RM * DPT; a++) { acc[a] = 0.0; }

  let nTiles = (kEnd + BK - 1u) / BK;
  for (var tile = 0u; tile < nTiles; tile++) {
    let k0 = tile * BK;
    workgroupBarrier();  // the previous tile's readers are done

    // 1. stage K, V (coalesced: consecutive threads read consecutive floats of the tile)
    for (var e = lid; e < BK * HD; e += WG) {
      let c = e / HD;
      var kx = 0.0;
      var vx = 0.0;
      if (k0 + c < kEnd) {
        let off = cacheBase + k0 * HD + e;
        kx = kc[off];
        if (!SHAREKV) { vx = vc[off]; }
      }
      ks[c * KS + e % HD] = kx;
      if (!SHAREKV) { vs[min(e, VSIZE - 1u)] = vx; }
    }
    if (p.segmented != 0u) {
      for (var c = lid; c < BK; c += WG) { segK[c] = seg[b * p.T + min(k0 + c, p.T - 1u)]; }
    }
    workgroupBarrier();

    // 2. score micro-tile: RM rows × CN keys
    var s: array<f32, 32>;  // MAXRM·MAXCN
    for (var a = 0u; a < RM * CN; a++) { s[a] = 0.0; }
    for (var d = 0u; d < HD; d++) {
      var kv: array<f32, MAXCN>;
      for (var n = 0u; n < CN; n++) { kv[n] = ks[min(lane + n * TPR, BK - 1u) * KS + d]; }
      for (var i = 0u; i < RM; i++) {
        let qd = q[qOff[i] + d];
        for (var n = 0u; n < CN; n++) { s[i * CN + n] += qd * kv[n]; }
      }
    }
    for (var i = 0u; i < RM; i++) {
      var mx = MASKED;
      for (var n = 0u; n < CN; n++) {
        let key = k0 + lane + n * TPR;
        let sameSeg = p.segmented == 0u || segK[min(lane + n * TPR, BK - 1u)] == segQ[i];
        let ok = rowOk[i] && lane + n * TPR < BK && key < kEnd && key <= qPos[i] && sameSeg;
        let sc = select(MASKED, s[i * CN + n] * p.qScale, ok);
        s[i * CN + n] = sc;
        mx = max(mx, sc);
      }
      red[(r0 + i) * TPR + lane] = mx;
    }
    workgroupBarrier();

    // 3. new running max, probabilities, rescale
    for (var i = 0u; i < RM; i++) {
      var mNew = m[i];
      for (var x = 0u; x < TPR; x++) { mNew = max(mNew, red[(r0 + i) * TPR + x]); }
      let alpha = exp2(m[i] - mNew);
      m[i] = mNew;
      var lsum = l[i] * alpha;
      for (var n = 0u; n < CN; n++) {
        let sc = s[i * CN + n];
        let pr = select(0.0, exp2(sc - mNew), sc > MASKED);
        lsum += pr;
        if (lane + n * TPR < BK) { ps[(r0 + i) * BK + lane + n * TPR] = pr; }
      }
      l[i] = lsum;
      for (var j = 0u; j < DPT; j++) { acc[i * DPT + j] *= alpha; }
    }
    if (SHAREKV) {  // every thread finished reading K before the last barrier
      for (var e = lid; e < BK * HD; e += WG) {
        let c = e / HD;
        var vx = 0.0;
        if (k0 + c < kEnd) { vx = vc[cacheBase + k0 * HD + e]; }
        ks[c * KS + e % HD] = vx;
      }
    }
    workgroupBarrier();

    // 4. output micro-tile += P · V: RM rows × DPT dims
    for (var c = 0u; c < BK; c++) {
      var v: array<f32, MAXDPT>;
      for (var j = 0u; j < DPT; j++) {
        let d = lane + j * TPR;
        let dc = min(d, HD - 1u);
        var vx: f32;
        if (SHAREKV) { vx = ks[c * KS + dc]; } else { vx = vs[min(c * HD + dc, VSIZE - 1u)]; }
        v[j] = select(0.0, vx, d < HD);
      }
      for (var i = 0u; i < RM; i++) {
        let pc = ps[(r0 + i) * BK + c];
        for (var j = 0u; j < DPT; j++) { acc[i * DPT + j] += pc * v[j]; }
      }
    }
  }

  // Row sums: add up the lanes' shares.
  workgroupBarrier();
  for (var i = 0u; i < RM; i++) { red[(r0 + i) * TPR + lane] = l[i]; }
  workgroupBarrier();
  for (var i = 0u; i < RM; i++) {
    if (!rowOk[i]) { continue; }
    var lt = 0.0;
    for (var x = 0u; x < TPR; x++) { lt += red[(r0 + i) * TPR + x]; }
    let inv = select(0.0, 1.0 / lt, lt > 0.0);
    for (var j = 0u; j < DPT; j++) {
      let d = lane + j * TPR;
      if (d < HD) { out[qOff[i] + d] = acc[i * DPT + j] * inv; }
    }
    if (lane == 0u && p.writeLse != 0u) {
      lse[qOff[i] / HD] = select(bitcast<f32>(NEG_INF_BITS), (m[i] + log2(lt)) * LN2, lt > 0.0);
    }
  }
}
