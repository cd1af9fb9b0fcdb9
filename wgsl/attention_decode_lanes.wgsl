// Causal grouped-query attention, decode form (T == 1), for CPU adapters: one lane per (sequence,
// KV head) pair, serving all G = Hq/Hkv query heads that share it. Same maths and the same order of
// operations per head as attention_decode.wgsl with one key stream and KB = 8 (what a CPU adapter
// runs; its results, bit for bit):
//
//   out[b,0,h,:] = Σ_{j < n} softmax_j(scale · q[b,0,h]·K[slot,kvh,j]) · V[slot,kvh,j,:],
//   n = min(starts[b], L-1) + 1
//
// Layouts (row-major f32): q/out [B,1,Hq,D]; kc/vc caches [S,Hkv,L,D]; slots/starts u32 [B];
// lse [B,1,Hq].
//
// Why lanes over pairs: on lavapipe a storage load costs the same per 8 (or 16) lanes whatever the
// addresses, and the K and V loads are most of this kernel's time. attention_decode.wgsl gives each
// query head its own lane, so the G heads of a pair load each K and V element G times; here one
// lane loads it once and uses it for all G heads. A block's scores are summed dims outermost, so
// each q element is read from the lane's private row (a per-lane gather on lavapipe) once a block
// of KB keys rather than once a key. Against attention_decode.wgsl's lane a head (`node
// scripts/profile-batched-ops.mjs`, lavapipe on 2 Zen 4 cores, 16-lane subgroups; WG 8 was slower):
// batched sampling's step (64 sequences, 4/2 heads of 32) 0.49 → 0.28 ms a layer at ~40 keys and
// 1.96 → 0.98 ms at ~200, a Qwen2.5-0.5B-shaped one (32 sequences, 14/2 heads of 64, ~64 keys)
// 2.42 → 0.62 ms. With few pairs it is one workgroup on one core (ops/attention.ts usesDecodeLanes).
// There is no barrier and no workgroup memory: lanes past the last pair repeat it and never write.
// A cache whose slot rows are a multiple of 4 KiB apart (L·D·4 bytes: 512 positions of 32 dims) puts
// the 16 lanes' loads in the same L1 sets: 1.51 ms against 1.00 at 513 positions (64 sequences, ~200
// keys; lavapipe, Zen 4). sampleBatch gives its caches an odd number of positions.
//
// Each lane runs the flash-attention online softmax per head over blocks of KB keys (q rows
// pre-scaled by scale·log2 e, so softmax uses exp2):
//   s_hj = q_h·k_j;  m_h' = max(m_h, s_hj...);  l_h = l_h·exp2(m_h − m_h') + Σ exp2(s_hj − m_h');
//   acc_h = acc_h·exp2(m_h − m_h') + Σ exp2(s_hj − m_h')·v_j
// Registers: G·D floats of q and of acc a lane (at most MAXQ), in private arrays.
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
override HD: u32 = 64;
override GL: u32 = 2;   // query heads per KV head (G; at most 8, GL·HD at most MAXQ)
override WG: u32 = 16;  // lanes (pairs) a workgroup
// Loops over the head dim run at least 40 trips, as in attention_decode.wgsl: Mesa unrolls loops of
// ≤ 32 trips, which scalarises the private rows (a slower kernel, and seconds more to compile).
override DLOOP: u32 = max(HD, 40u);
const MAXQ: u32 = 512u;  // q (and acc) floats a lane: GL·HD
const KB: u32 = 8u;  // keys per online-softmax block (attention_decode.wgsl's KB on a CPU adapter)
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

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let pair = gid.x;  // b·Hkv + kvh
  let ok = pair < p.B * p.Hkv;
  let y = min(pair, p.B * p.Hkv - 1u);
  let b = y / p.Hkv;
  let kvh = y % p.Hkv;
  let qhead0 = b * p.Hq + kvh * p.G;
  let slot = slots[b];
  var n = min(starts[b], p.L - 1u) + 1u;
  if (slot >= p.S) { n = 0u; }
  let cacheBase = (min(slot, p.S - 1u) * p.Hkv + kvh) * p.L * HD;
  var qr: array<f32, MAXQ>;
  var acc: array<f32, MAXQ>;
  var m: array<f32, 8>;
  var l: array<f32, 8>;
  for (var h = 0u; h < GL; h++) {
    m[h] = MASKED;
    l[h] = 0.0;
    for (var d = 0u; d < DLOOP; d++) {
      if (d < HD) {
        qr[h * HD + d] = q[(qhead0 + h) * HD + d] * p.qScale;
        acc[h * HD + d] = 0.0;
      }
    }
  }
  for (var i0 = 0u; i0 < n; i0 += KB) {
    // the block's scores, dims outermost: each q element is read from the private row once a block
    // (a per-lane gather), not once a key; each score still sums its dims in order from 0
    var s: array<f32, 64>;  // [KB][8]: block key j, head h at j·8 + h
    var kOff: array<u32, KB>;
    for (var j = 0u; j < KB; j++) {
      kOff[j] = cacheBase + min(i0 + j, n - 1u) * HD;
      for (var h = 0u; h < GL; h++) { s[j * 8u + h] = 0.0; }
    }
    for (var d = 0u; d < DLOOP; d++) {
      if (d < HD) {
        var qd: array<f32, 8>;
        for (var h = 0u; h < GL; h++) { qd[h] = qr[h * HD + d]; }
        for (var j = 0u; j < KB; j++) {
          let kd = kc[kOff[j] + d];
          for (var h = 0u; h < GL; h++) { s[j * 8u + h] += qd[h] * kd; }
        }
      }
    }
    for (var j = 0u; j < KB; j++) {
      for (var h = 0u; h < GL; h++) { s[j * 8u + h] = select(MASKED, s[j * 8u + h], i0 + j < n); }
    }
    var alpha: array<f32, 8>;
    var pr: array<f32, 64>;
    for (var h = 0u; h < GL; h++) {
      var mNew = m[h];
      for (var j = 0u; j < KB; j++) { mNew = max(mNew, s[j * 8u + h]); }
      alpha[h] = exp2(m[h] - mNew);
      m[h] = mNew;
      var psum = 0.0;
      for (var j = 0u; j < KB; j++) {
        let e = select(0.0, exp2(s[j * 8u + h] - mNew), s[j * 8u + h] > MASKED);
        pr[j * 8u + h] = e;
        psum += e;
      }
      l[h] = l[h] * alpha[h] + psum;
    }
    let v0 = cacheBase + i0 * HD;
    let last = cacheBase + (n - 1u) * HD;
    for (var d = 0u; d < DLOOP; d++) {
      if (d < HD) {
        var vj: array<f32, KB>;
        for (var j = 0u; j < KB; j++) { vj[j] = vc[min(v0 + j * HD, last) + d]; }
        for (var h = 0u; h < GL; h++) {
          var a = acc[h * HD + d] * alpha[h];
          for (var j = 0u; j < KB; j++) { a += pr[j * 8u + h] * vj[j]; }
          acc[h * HD + d] = a;
        }
      }
    }
  }
  if (!ok) { return; }
  for (var h = 0u; h < GL; h++) {
    if (h < p.G) {
      let inv = select(0.0, 1.0 / l[h], l[h] > 0.0);
      for (var d = 0u; d < DLOOP; d++) {
        if (d < HD) { out[(qhead0 + h) * HD + d] = acc[h * HD + d] * inv; }
      }
      if (p.writeLse != 0u) {
        lse[qhead0 + h] = select(bitcast<f32>(NEG_INF_BITS), (m[h] + log2(l[h])) * LN2, l[h] > 0.0);
      }
    }
  }
}
