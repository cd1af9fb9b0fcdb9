// Causal grouped-query attention, decode form (T == 1: one new position per sequence, the batched
// decode hot path). Same maths as attention_prefill.wgsl:
//
//   out[b,0,h,:] = Σ_{j < n} softmax_j(scale · q[b,0,h]·K[slot,kvh,j]) · V[slot,kvh,j,:],
//   n = min(starts[b], L-1) + 1
//
// Layouts (row-major f32): q/out [B,1,Hq,D]; kc/vc caches [S,Hkv,L,D]; slots/starts u32 [B];
// lse [B,1,Hq].
//
// Work split: workgroup (x = head chunk, y = b·Hkv + kvh) serves HPW of the G = Hq/Hkv query heads
// that share KV head kvh (all of them when G ≤ HPW; the wrapper rounds G up to a power of two ≤ 8
// to limit pipeline variants). Thread t = ks·HPW + h handles head h over key stream ks: keys
// ks, ks+KSPLIT, ks+2·KSPLIT, ... — the keys are split over the workgroup's KSPLIT streams.
// Adjacent threads are the heads of one key, so a K/V row is fetched once and broadcast to the
// HPW heads; with KSPLIT = 1 (the CPU setting) each K/V load instruction serves all HPW heads and
// the kernel has no barrier at all.
//
// Each thread runs its own flash-attention online softmax with its q row (pre-scaled by
// scale·log2 e, so softmax uses exp2) and its output row in registers, in blocks of KB keys:
//   s_j = q·k_j;  m' = max(m, s_j...);  l = l·exp2(m − m') + Σ exp2(s_j − m');
//   acc = acc·exp2(m − m') + Σ exp2(s_j − m')·v_j
// (one rescale per block of KB keys). No float atomics: the KSPLIT partial results of a head are
// merged in workgroup memory at the end, numerically stable:
//   M = max m_ks,  L = Σ l_ks·exp2(m_ks − M),  out = Σ acc_ks·exp2(m_ks − M) / L
// streaming the accumulators through DC dims at a time to keep workgroup memory small.
// Cost: 4·G·n·D flops per (b, kvh); K and V are read from memory once per workgroup, q and out
// once. Registers: q and acc rows, 2·D floats a thread.
//
// Measured on lavapipe (B=32 sequences × 512 positions, 14/2 heads of 64): about 2x faster than a
// chunked variant with keys across lanes and 3 barriers a chunk (lavapipe runs a kernel with
// barriers as coroutines and pays ~30 ns per 8-lane load whatever the address pattern), and
// about 4x quicker to compile. vec4 rows were slower still there (spilled unrolled registers).
//
// Row groups (RPW > 1, only with KSPLIT = 1): a workgroup serves RPW consecutive (b, kvh) pairs,
// lane r·HPW + h taking head h of the r-th. With KSPLIT = 1 a workgroup is only HPW threads (2 for
// the bundled model's heads), so on a CPU adapter most SIMD lanes of a workgroup idled and each of
// the B·Hkv tiny workgroups paid its own start-up; packing several rows fills the lanes. Their keys
// differ (K/V loads become gathers, which lavapipe pays the same per 8-lane load) and so may their
// key counts (the loop is divergent; there is no barrier on this path).
//
// Out-of-range inputs are clamped, never read out of bounds: slots[b] ≥ S gives out = 0 and
// lse = −inf; starts[b] ≥ L attends to all L cached positions.

struct Params {
  B: u32,
  Hq: u32,
  Hkv: u32,
  S: u32,
  L: u32,
  G: u32,         // Hq / Hkv
  writeLse: u32,  // 1 when the caller wants lse
  qScale: f32,    // softmax scale · log2(e)
}

override HD: u32 = 64;      // head dim D (≤ MAXD)
override HPW: u32 = 8;      // query heads per workgroup
override KSPLIT: u32 = 1;   // key streams; workgroup = HPW·KSPLIT threads
override DC: u32 = 8;       // dims per round of the final merge
override RPW: u32 = 1;      // (b, kvh) row groups per workgroup (> 1 only with KSPLIT = 1)
// Loops over the head dim run at least 40 trips (skipping d ≥ D): Mesa unrolls loops of ≤ 32 trips,
// which scalarises the 256-float q/acc rows and makes lavapipe take ~10-20 s to compile D ≤ 32.
override DLOOP: u32 = max(HD, 40u);

const MAXD: u32 = 256u;
override KB: u32 = 4u;  // keys per online-softmax block (at most MAXKB; 8 on a CPU adapter: ops/attention.ts decodeKeyBlock)
const MAXKB: u32 = 8u;
const MASKED: f32 = -3.0e38;
const LN2: f32 = 0.6931471805599453;
var<private> NEG_INF_BITS: u32 = 0xff800000u;
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read> slots: array<u32>;
@group(0) @binding(5) var<storage, read> starts: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read_write> lse: array<f32>;

var<workgroup> mS: array<f32, HPW * KSPLIT>;       // per-stream running max
var<workgroup> lS: array<f32, HPW * KSPLIT>;       // per-stream running sum
var<workgroup> headM: array<f32, HPW>;             // merged max per head
var<workgroup> headL: array<f32, HPW>;             // merged sum per head
var<workgroup> red: array<f32, HPW * KSPLIT * DC>; // rescaled accumulator slices

@compute @workgroup_size(HPW * KSPLIT * RPW)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lidAll: u32) {
  // this lane's row group (a lane past the last one repeats it and never writes)
  let group = wid.y * RPW + lidAll / (HPW * KSPLIT);
  let groupOk = group < p.B * p.Hkv;
  let y = min(group, p.B * p.Hkv - 1u);
  let lid = lidAll % (HPW * KSPLIT);
  let b = y / p.Hkv;
  let kvh = y % p.Hkv;
  let h0 = wid.x * HPW;                // first head of this chunk within the group
  let nh = min(HPW, p.G - h0);         // heads actually served (G may be below HPW)
  let qhead0 = b * p.Hq + kvh * p.G + h0;
  let h = lid % HPW;
  let ks = select(lid / HPW, 0u, KSPLIT == 1u);  // a literal 0 lets the compiler see uniform keys
  let slot = slots[b];
  var n = min(starts[b], p.L - 1u) + 1u;
  if (slot >= p.S) { n = 0u; }
  let cacheBase = (min(slot, p.S - 1u) * p.Hkv + kvh) * p.L * HD;
  // Lanes past nh work on a copy of the last real head and never write: no divergent branches.
  let qOff = (qhead0 + min(h, nh - 1u)) * HD;
  var qr: array<f32, MAXD>;
  var acc: array<f32, MAXD>;
  for (var d = 0u; d < DLOOP; d++) {
    if (d < HD) {
      qr[d] = q[qOff + d] * p.qScale;
      acc[d] = 0.0;
    }
  }
  var m = MASKED;
  var l = 0.0;
  // This stream's keys: ks, ks+KSPLIT, ...; blocks of KB of them share one rescale.
  let nMine = select(0u, (n - ks + KSPLIT - 1u) / KSPLIT, ks < n);
  for (var i0 = 0u; i0 < nMine; i0 += KB) {
    var s: array<f32, MAXKB>;
    var mNew = m;
    for (var j = 0u; j < KB; j++) {
      let i = i0 + j;
      let key = ks + min(i, nMine - 1u) * KSPLIT;  // clamped: the tail repeats a real key
      let kOff = cacheBase + key * HD;
      var dot = 0.0;
      for (var d = 0u; d < DLOOP; d++) {
        if (d < HD) { dot += qr[d] * kc[kOff + d]; }
      }
      s[j] = select(MASKED, dot, i < nMine);
      mNew = max(mNew, s[j]);
    }
    let alpha = exp2(m - mNew);
    m = mNew;
    var pr: array<f32, MAXKB>;
    var psum = 0.0;
    for (var j = 0u; j < KB; j++) {
      pr[j] = select(0.0, exp2(s[j] - mNew), s[j] > MASKED);
      psum += pr[j];
    }
    l = l * alpha + psum;
    let v0 = cacheBase + (ks + i0 * KSPLIT) * HD;
    let last = cacheBase + (ks + (nMine - 1u) * KSPLIT) * HD;
    for (var d = 0u; d < DLOOP; d++) {
      if (d < HD) {
        var a = acc[d] * alpha;
        for (var j = 0u; j < KB; j++) {
          a += pr[j] * vc[min(v0 + j * KSPLIT * HD, last) + d];
        }
        acc[d] = a;
      }
    }
  }

  if (KSPLIT == 1u) {
    if (h < nh && groupOk) {
      let inv = select(0.0, 1.0 / l, l > 0.0);
      for (var d = 0u; d < DLOOP; d++) {
        if (d < HD) { out[(qhead0 + h) * HD + d] = acc[d] * inv; }
      }
      if (p.writeLse != 0u) {
        lse[qhead0 + h] = select(bitcast<f32>(NEG_INF_BITS), (m + log2(l)) * LN2, l > 0.0);
      }
    }
    return;
  }

  // Merge the KSPLIT streams of each head.
  mS[lid] = m;
  lS[lid] = l;
  workgroupBarrier();
  if (ks == 0u) {
    var mx = MASKED;
    for (var x = 0u; x < KSPLIT; x++) { mx = max(mx, mS[x * HPW + h]); }
    var lt = 0.0;
    for (var x = 0u; x < KSPLIT; x++) { lt += lS[x * HPW + h] * exp2(mS[x * HPW + h] - mx); }
    headM[h] = mx;
    headL[h] = lt;
    if (h < nh && p.writeLse != 0u) {
      lse[qhead0 + h] = select(bitcast<f32>(NEG_INF_BITS), (mx + log2(lt)) * LN2, lt > 0.0);
    }
  }
  workgroupBarrier();
  let w = exp2(m - headM[h]);
  for (var dc0 = 0u; dc0 < HD; dc0 += DC) {
    for (var j = 0u; j < DC; j++) {
      red[lid * DC + j] = select(0.0, acc[min(dc0 + j, HD - 1u)] * w, dc0 + j < HD);
    }
    workgroupBarrier();
    for (var e = lid; e < nh * DC; e += HPW * KSPLIT) {
      let hh = e / DC;
      let j = e % DC;
      var a = 0.0;
      for (var x = 0u; x < KSPLIT; x++) { a += red[(x * HPW + hh) * DC + j]; }
      let lt = headL[hh];
      if (dc0 + j < HD) { out[(qhead0 + hh) * HD + dc0 + j] = select(0.0, a / lt, lt > 0.0); }
    }
    workgroupBarrier();
  }
}
