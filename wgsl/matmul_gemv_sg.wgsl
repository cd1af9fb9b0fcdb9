// Small-M matmul with B stored [N, K] on CPU-SIMD adapters (lavapipe): the decode step of a
// Linear layer, y[m, n] = alpha · Σ_k x[m, k]·W[n, k] (+ bias[n]) (+ y[m, n]) for M <= 8 rows.
//
// Decode reads each weight once, so the job is streaming W. On lavapipe every lane-load is a scalar
// load with a bounds check, and loads are issued nearly one after another, so memory latency is
// exposed: what matters is that each subgroup load hits few, sequential cache lines. Here the 8
// lanes of a subgroup split K instead of owning columns: for each of its C columns, lane l reads
// the k-quad k0/4 + l of the weight row, so one subgroup load covers 128 contiguous bytes (two
// cache lines) and a subgroup streams just C rows. x (M x K, small, cache resident) is read the
// same way, R rows per step. Each lane keeps R·C partial dot products; one subgroupAdd per output
// at the end combines the lanes. No workgroup memory, no barriers.
//
// Cost: 2·M·N·K flops; W read once (N·K), x read ⌈N/(C·WG/8)⌉ times from cache.
// Requires K % 4 == 0, subgroups of 8 lanes (the wrapper checks), and R >= M (R, C overrides).
//
// Grid: x = ⌈N / (C · WG/8)⌉ column blocks (a workgroup is WG/8 subgroups), z = batch.

enable subgroups;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  a_batch_stride: u32, // vec4s
  b_batch_stride: u32, // vec4s; 0 when W is shared by the whole batch
  alpha: f32,
  has_bias: u32,
  accumulate: u32,
}

override WG: u32 = 8;   // invocations per workgroup; > 8 only when subgroups are exactly invocations 8i..8i+7
override R: u32 = 1;    // rows of x handled (>= M), <= RMAX
override C: u32 = 8;    // columns per subgroup, <= CMAX

const RMAX = 8u;
const CMAX = 16u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Indexed only by counters of fully unrolled loops: registers, not scratch memory.
var<private> acc: array<f32, RMAX * CMAX>;  // acc[m·CMAX + j]: this lane's partial sum for (m, column j)
var<private> xv: array<vec4f, RMAX>;
var<private> wrow: array<u32, CMAX>;        // first vec4 of each column's weight row

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  let M = p.M;
  let N = p.N;
  let K4 = p.K / 4u;
  let lane = sg_lane % 8u;
  let n0 = (wid.x * (WG / 8u) + lid.x / 8u) * C;
  let a_base = wid.z * p.a_batch_stride;
  let b_base = wid.z * p.b_batch_stride;
  for (var j = 0u; j < C; j++) {
    wrow[j] = b_base + min(n0 + j, N - 1u) * K4;
  }
  for (var i = 0u; i < R * CMAX; i++) { acc[i] = 0.0; }

  for (var kq0 = 0u; kq0 < K4; kq0 += 8u) {
    let kq = kq0 + lane;
    let kqc = min(kq, K4 - 1u);
    let live = kq < K4;
    for (var m = 0u; m < R; m++) {
      xv[m] = select(vec4f(0.0), a[a_base + min(m, M - 1u) * K4 + kqc], live);
    }
    for (var j = 0u; j < C; j++) {
      let w = b[wrow[j] + kqc];
      for (var m = 0u; m < R; m++) { acc[m * CMAX + j] += dot(xv[m], w); }
    }
  }

  for (var m = 0u; m < R; m++) {
    for (var j = 0u; j < C; j++) {
      acc[m * CMAX + j] = subgroupAdd(acc[m * CMAX + j]);
    }
  }
  // Lane 0 of each subgroup writes its C columns for the M real rows.
  if (lane == 0u) {
    let c_base = wid.z * M * N;
    for (var m = 0u; m < R; m++) {
      if (m < M) {
        for (var j = 0u; j < C; j++) {
          let n = n0 + j;
          if (n < N) {
            let idx = c_base + m * N + n;
            var v = p.alpha * acc[m * CMAX + j];
            if (p.has_bias != 0u) { v += bias[n]; }
            if (p.accumulate != 0u) { v += c[idx]; }
            c[idx] = v;
          }
        }
      }
    }
  }
}
