// General matmul, the portable kernel: C = alpha·op(A)·op(B) (+ bias[N] per row) (+ C), batched.
// op(A) is A ([M,K]) or Aᵀ (A stored [K,M]); op(B) is B ([K,N]) or Bᵀ (B stored [N,K]).
//
// Classic two-level tiling for GPUs: a workgroup of TX x TY invocations owns a (4·TY) x (4·TX)
// tile of C. Per step it stages a BK-deep slab of op(A) and op(B) in workgroup memory (each element
// read from global memory once per workgroup, with the index order chosen so consecutive
// invocations read consecutive addresses in either layout), then every invocation accumulates a
// 4x4 register block from it: 8 workgroup-memory reads feed 16 FMAs. Invocation (tx, ty) owns rows
// ty + i·TY and columns tx + j·TX, so a row of invocations reads consecutive words (no bank
// conflicts) and its stores are coalesced.
//
// Everything is bounds-checked element by element, so any M, N, K >= 1 and any layout works; this
// is also the fallback the wrapper uses on adapters without subgroups or for operands that are not
// vec4-aligned. Cost: 2·M·N·K flops; global reads ≈ M·K·⌈N/(4TX)⌉ + K·N·⌈M/(4TY)⌉ elements;
// 2·⌈K/BK⌉ barriers per workgroup.
//
// Grid: x = ⌈N/(4·TX)⌉, y = ⌈M/(4·TY)⌉, z = batch.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  a_batch_stride: u32, // elements
  b_batch_stride: u32, // elements; 0 when one B is shared by the whole batch
  alpha: f32,
  has_bias: u32,
  accumulate: u32,
}

override TX: u32 = 16;
override TY: u32 = 16;
override BK: u32 = 16;
override TRANS_A: bool = false;
override TRANS_B: bool = false;

const TM = 4u;
const TN = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// k-major slabs: as_[k·BM + m], bs[k·BN + n]
var<workgroup> as_: array<f32, BK * TY * TM>;
var<workgroup> bs: array<f32, BK * TX * TN>;

@compute @workgroup_size(TX, TY)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let BM = TY * TM;
  let BN = TX * TN;
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let a_base = wid.z * p.a_batch_stride;
  let b_base = wid.z * p.b_batch_stride;
  let nthreads = TX * TY;

  var acc: array<array<f32, TN>, TM>;
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) { acc[i][j] = 0.0; }
  }

  for (var k0 = 0u; k0 < K; k0 += BK) {
    // Stage op(A)[row0.., k0..] : BM x BK. The fastest-varying index follows memory order.
    for (var e = li; e < BM * BK; e += nthreads) {
      var m: u32;
      var k: u32;
      if (TRANS_A) { k = e / BM; m = e % BM; } else { m = e / BK; k = e % BK; }
      let gm = row0 + m;
      let gk = k0 + k;
      var v = 0.0;
      if (gm < M && gk < K) {
        if (TRANS_A) { v = a[a_base + gk * M + gm]; } else { v = a[a_base + gm * K + gk]; }
      }
      as_[k * BM + m] = v;
    }
    // Stage op(B)[k0.., col0..] : BK x BN.
    for (var e = li; e < BN * BK; e += nthreads) {
      var n: u32;
      var k: u32;
      if (TRANS_B) { n = e / BK; k = e % BK; } else { k = e / BN; n = e % BN; }
      let gn = col0 + n;
      let gk = k0 + k;
      var v = 0.0;
      if (gn < N && gk < K) {
        if (TRANS_B) { v = b[b_base + gn * K + gk]; } else { v = b[b_base + gk * N + gn]; }
      }
      bs[k * BN + n] = v;
    }
    workgroupBarrier();

    // A runtime bound (not BK) keeps lavapipe from unrolling the slab loop into per-lane load
    // chains, which took seconds to compile; it also skips the zero padding of the last slab.
    let kn = min(BK, K - k0);
    for (var k = 0u; k < kn; k++) {
      var ar: array<f32, TM>;
      var br: array<f32, TN>;
      for (var i = 0u; i < TM; i++) { ar[i] = as_[k * BM + lid.y + i * TY]; }
      for (var j = 0u; j < TN; j++) { br[j] = bs[k * BN + lid.x + j * TX]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(ar[i], br[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  let c_base = wid.z * M * N;
  for (var i = 0u; i < TM; i++) {
    let m = row0 + lid.y + i * TY;
    if (m >= M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let n = col0 + lid.x + j * TX;
      if (n >= N) { continue; }
      let idx = c_base + m * N + n;
      var v = p.alpha * acc[i][j];
      if (p.has_bias != 0u) { v += bias[n]; }
      if (p.accumulate != 0u) { v += c[idx]; }
      c[idx] = v;
    }
  }
}
