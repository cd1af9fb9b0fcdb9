// Small-M matmul (the decode step: M <= 8 rows of x against a weight matrix), for GPUs:
//   C[m, n] = alpha · Σ_k A[m, k]·op(B)[k, n] (+ bias[n]) (+ C[m, n]),  A stored [M, K].
//
// With M <= 8 every weight is used at most 8 times, so the kernel is bound by reading B once;
// arithmetic is free. Both entry points read B with vec4 loads in the order consecutive
// invocations hit consecutive addresses, and keep all M row sums in registers so B is read once:
//
//   nk  (B stored [N, K], y = x·Wᵀ, the Linear hot path): a workgroup of TPC x COLS invocations
//       owns COLS output columns; the TPC invocations of a column stride over K (coalesced along
//       the weight row), then reduce their partial sums in workgroup memory (log2 TPC barriers).
//   kn  (B stored [K, N]): each invocation owns 4 adjacent columns and walks all of K; rows of B
//       are read coalesced across the workgroup, A values are the same for all invocations.
//
// Cost: 2·M·N·K flops; K·N weights read once (+ M·K activations per workgroup, cached).
// Requires K % 4 == 0 (and N % 4 == 0 for kn); the wrapper uses matmul.wgsl otherwise.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  a_batch_stride: u32, // in vec4s
  b_batch_stride: u32, // in vec4s; 0 when B is shared by the whole batch
  alpha: f32,
  has_bias: u32,
  accumulate: u32,
}

override TPC: u32 = 64;   // nk: invocations splitting K per column (power of two)
override COLS: u32 = 4;   // nk: columns per workgroup
override WG: u32 = 64;    // kn: invocations per workgroup

const MMAX = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

var<workgroup> partial: array<f32, TPC * COLS * MMAX>;

fn store(z: u32, m: u32, n: u32, sum: f32) {
  let idx = z * p.M * p.N + m * p.N + n;
  var v = p.alpha * sum;
  if (p.has_bias != 0u) { v += bias[n]; }
  if (p.accumulate != 0u) { v += c[idx]; }
  c[idx] = v;
}

@compute @workgroup_size(TPC, COLS)
fn nk(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let M = p.M;
  let N = p.N;
  let K4 = p.K / 4u;
  let n = wid.x * COLS + lid.y;
  let nc = min(n, N - 1u);
  let a_base = wid.z * p.a_batch_stride;
  let b_row = wid.z * p.b_batch_stride + nc * K4;

  var acc: array<f32, MMAX>;
  for (var k4 = lid.x; k4 < K4; k4 += TPC) {
    let w = b[b_row + k4];
    for (var m = 0u; m < MMAX; m++) {
      if (m < M) { acc[m] += dot(a[a_base + m * K4 + k4], w); }
    }
  }

  let slot = (lid.y * TPC + lid.x) * MMAX;
  for (var m = 0u; m < MMAX; m++) { partial[slot + m] = acc[m]; }
  workgroupBarrier();
  for (var stride = TPC / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) {
      let other = slot + stride * MMAX;
      for (var m = 0u; m < MMAX; m++) { partial[slot + m] += partial[other + m]; }
    }
    workgroupBarrier();
  }
  if (lid.x == 0u && n < N) {
    for (var m = 0u; m < MMAX; m++) {
      if (m < M) { store(wid.z, m, n, partial[slot + m]); }
    }
  }
}

@compute @workgroup_size(WG)
fn kn(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let M = p.M;
  let N = p.N;
  let N4 = N / 4u;
  let K4 = p.K / 4u;
  let q = wid.x * WG + lid.x;
  let qc = min(q, N4 - 1u);
  let a_base = wid.z * p.a_batch_stride;
  let b_base = wid.z * p.b_batch_stride + qc;

  var acc: array<vec4f, MMAX>;
  for (var k4 = 0u; k4 < K4; k4++) {
    let b0 = b[b_base + (4u * k4) * N4];
    let b1 = b[b_base + (4u * k4 + 1u) * N4];
    let b2 = b[b_base + (4u * k4 + 2u) * N4];
    let b3 = b[b_base + (4u * k4 + 3u) * N4];
    for (var m = 0u; m < MMAX; m++) {
      if (m < M) {
        let x = a[a_base + m * K4 + k4];
        acc[m] += x.x * b0 + x.y * b1 + x.z * b2 + x.w * b3;
      }
    }
  }
  if (q < N4) {
    for (var m = 0u; m < MMAX; m++) {
      if (m < M) {
        for (var s = 0u; s < 4u; s++) { store(wid.z, m, 4u * q + s, acc[m][s]); }
      }
    }
  }
}
