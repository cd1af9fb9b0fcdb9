// Causal grouped-query attention, decode form (T == 1: one new position per sequence, the batched
// decode hot path). Same maths as attention_prefill.wgsl:
//
//   out[b,0,h,:] = Σ_{j ≤ n-1} softmax_j(scale · q[b,0,h]·K[slot,kvh,j]) · V[slot,kvh,j,:],
//   n = min(starts[b], L-1) + 1
//
// Layouts (row-major f32): q/out [B,1,Hq,D]; kc/vc caches [S,Hkv,L,D]; slots/starts u32 [B];
// lse [B,1,Hq].
//
// Work split: workgroup (x = head chunk, y = b·Hkv + kvh) serves up to HPW of the G = Hq/Hkv query
// heads that share KV head kvh (all G when G ≤ HPW), so every K/V row is fetched from memory once
// for all of them. The served head count nh is a runtime value, so one pipeline per head dim covers
// every G (lavapipe spends seconds compiling each pipeline).
// With one query row per head there is no row parallelism, so the keys are split over the WG
// threads: the context is walked in chunks of WG keys, thread i taking key i of each chunk.
//
// Per chunk (3 barriers, no float atomics):
//   1. thread i computes key i's score for each of the nh heads (q pre-multiplied by scale·log2 e,
//      so softmax uses exp2) into ss[h][i]; the K row stays in L1 across the heads;
//   2. RP threads per head reduce a strided share of the chunk's scores to partial maxima;
//   3. every thread folds the partials into the new running max m'[h] (all threads hold the same
//      copy) and turns its own scores into P = exp2(s − m'[h]);
//   4. thread owns (head, dim) pairs of the output and does acc = acc·exp2(m − m') + Σ_i P[h][i]·V[i][d],
//      l likewise — the max-subtracted online softmax of flash attention, across chunks.
// ss is double-buffered by chunk parity so step 1 of the next chunk may overwrite scores while slow
// threads still read the previous chunk's in step 4 (the next chunk's first barrier separates a
// buffer's reuse from its last reader). Cost: 4·G·n·D flops per (b, kvh); K and V are read from
// memory once per workgroup, q and out once.
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

override HD: u32 = 64;   // head dim D
override WG: u32 = 128;  // threads = keys per chunk
override HPW: u32 = 8;   // most query heads per workgroup (≤ MAXH)
override RP: u32 = 8;    // threads per head in the chunk-max reduction (HPW·RP ≤ WG)
override NP: u32 = (HPW * HD + WG - 1u) / WG;  // (head, dim) output pairs per thread (≤ MAXP)

const MAXH: u32 = 8u;
const MAXP: u32 = 16u;
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

var<workgroup> qs: array<f32, HPW * HD>;
var<workgroup> ss: array<f32, 2 * HPW * WG>;
var<workgroup> part: array<f32, HPW * RP>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.Hkv;
  let kvh = wid.y % p.Hkv;
  let h0 = wid.x * HPW;                // first head of this chunk within the group
  let nh = min(HPW, p.G - h0);         // heads actually served (the last chunk may be short)
  let qhead0 = b * p.Hq + kvh * p.G + h0;
  let slot = slots[b];
  var n = min(starts[b], p.L - 1u) + 1u;
  if (slot >= p.S) { n = 0u; }
  let cacheBase = (min(slot, p.S - 1u) * p.Hkv + kvh) * p.L * HD;

  for (var i = lid; i < HPW * HD; i += WG) {
    let h = i / HD;
    qs[i] = select(0.0, q[(qhead0 + h) * HD + i % HD] * p.qScale, h < nh);
  }
  workgroupBarrier();

  var mRun: array<f32, MAXH>;
  for (var h = 0u; h < HPW; h++) { mRun[h] = MASKED; }
  var acc: array<f32, MAXP>;
  var lSum: array<f32, MAXP>;

  let nChunks = (n + WG - 1u) / WG;
  for (var chunk = 0u; chunk < nChunks; chunk++) {
    let k0 = chunk * WG;
    let buf = (chunk & 1u) * HPW * WG;

    // 1. scores of key k0+lid for every head
    let key = k0 + lid;
    let kOff = cacheBase + min(key, n - 1u) * HD;
    for (var h = 0u; h < nh; h++) {
      var dot = 0.0;
      for (var d = 0u; d < HD; d++) {
        dot += qs[h * HD + d] * kc[kOff + d];
      }
      ss[buf + h * WG + lid] = select(MASKED, dot, key < n);
    }
    workgroupBarrier();

    // 2. partial maxima
    if (lid < nh * RP) {
      let h = lid / RP;
      var mx = MASKED;
      for (var c = lid % RP; c < WG; c += RP) {
        mx = max(mx, ss[buf + h * WG + c]);
      }
      part[lid] = mx;
    }
    workgroupBarrier();

    // 3. new running max per head; probabilities of this thread's key
    var mNew: array<f32, MAXH>;
    for (var h = 0u; h < nh; h++) {
      var mx = mRun[h];
      for (var j = 0u; j < RP; j++) {
        mx = max(mx, part[h * RP + j]);
      }
      mNew[h] = mx;
      let sc = ss[buf + h * WG + lid];
      ss[buf + h * WG + lid] = select(0.0, exp2(sc - mx), sc > MASKED);
    }
    workgroupBarrier();

    // 4. rescale and accumulate P·V for this thread's (head, dim) pairs
    let cnt = min(WG, n - k0);
    for (var j = 0u; j < NP; j++) {
      let pair = lid + j * WG;
      if (pair < nh * HD) {
        let h = pair / HD;
        let d = pair % HD;
        let alpha = exp2(mRun[h] - mNew[h]);
        var a = acc[j] * alpha;
        var ls = lSum[j] * alpha;
        var vOff = cacheBase + k0 * HD + d;
        for (var c = 0u; c < cnt; c++) {
          let pc = ss[buf + h * WG + c];
          ls += pc;
          a += pc * vc[vOff];
          vOff += HD;
        }
        acc[j] = a;
        lSum[j] = ls;
      }
    }
    for (var h = 0u; h < nh; h++) { mRun[h] = mNew[h]; }
  }

  for (var j = 0u; j < NP; j++) {
    let pair = lid + j * WG;
    let h = pair / HD;
    if (pair < nh * HD) {
      let d = pair % HD;
      let l = lSum[j];
      out[(qhead0 + h) * HD + d] = select(0.0, acc[j] / l, l > 0.0);
      if (d == 0u && p.writeLse != 0u) {
        lse[qhead0 + h] = select(bitcast<f32>(NEG_INF_BITS), (mRun[h] + log2(l)) * LN2, l > 0.0);
      }
    }
  }
}
