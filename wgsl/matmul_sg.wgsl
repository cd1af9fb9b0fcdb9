// Matmul for CPU-SIMD adapters (lavapipe and similar): C = alpha·op(A)·op(B) (+ bias[N]) (+ C).
// op(A) is A ([M,K]) or Aᵀ (A stored [K,M]); op(B) is B ([K,N]) or Bᵀ (B stored [N,K]); batched.
//
// Why a special kernel: on lavapipe a workgroup runs on one CPU thread with the 8 invocations of a
// subgroup packed into one 256-bit SIMD register. Every storage-buffer load inside a loop becomes a
// per-lane scalar loop with an exec-mask test and a bounds check (~10 instructions per lane and
// component), even when all lanes read the same address, while arithmetic costs one instruction for
// all 8 lanes. So what a matmul costs here is its number of lane-scalar loads, and this kernel
// loads every value once per subgroup and reuses it as often as registers allow:
//
//   - Lanes own output columns: CV quads of 4 columns each, quads interleaved across lanes so one
//     vec4 load per lane reads a contiguous run. op(B) is the only per-lane data.
//   - The 8 lanes of a subgroup share the same R rows. Rather than each lane loading A[m, k]
//     (8x redundant), lane l loads A[m, k0 + l] for the R rows and the values are handed out with
//     subgroupBroadcast, a register shuffle, so A costs an eighth of per-lane loads.
//   - Per 8 k's and lane: R scalar loads of A and 8·CV vec4 loads of B feed R·4CV·8 FMAs: with
//     R=64, CV=2 that is 32 FMAs per loaded scalar, versus 2 for a classic 4x4 register tile.
//     (1024³ on 2 AVX2 cores: ~8-11 GFLOP/s for A·B and A·Bᵀ, vs ~1 for one output per thread.)
//   - op(B) in either layout becomes the same "8 k-rows x 4 columns" vec4 block. For B stored
//     [N,K] (y = x·Wᵀ with HF Linear weights, the model's hot path) it is a 4x4 transpose of
//     k-contiguous vec4 loads, which is free: in SIMD-of-arrays form it only renames registers.
//   - Sums over the 8 k's stay in SSA values; the accumulator (a masked, partly spilled register)
//     is updated once per 8 k's.
//   - No workgroup memory and no barriers (a barrier on lavapipe is a coroutine switch).
//   - The k loop body is one 8-k step, not a wider unroll: lavapipe's compile time grows steeply
//     with the number of loads in the body (a 32-k body took 7-18 s to compile, this one 1-4 s)
//     and the wider body was not faster.
//   - What limits it (read from lavapipe's generated code, GALLIVM_DEBUG=asm): Mesa's NIR unrolls
//     only loops of <= 32 short iterations, so with R = 64 the row loops stay loops and `ap`/`acc`
//     are indexed by a per-lane loop counter: each access is an 8-lane gather/scatter on the stack.
//     Inside any loop, every storage load (even one whose address is the same in all lanes) is an
//     8-lane scalar loop with exec-mask and bounds branches, and ffma becomes a multiply and an add.
//     A generated variant with the R rows written out (no private arrays) compiled in ~1 s at
//     R = 16 but ran slower than this kernel at R = 64, and at R = 32 LLVM took minutes to compile
//     it, so this form stays.
//
// Cost: 2·M·N·K flops; loads ≈ M·K·⌈N/(4·CV·WG)⌉ + K·N·⌈M/R⌉ elements (the A rows are re-read by
// every column block, each B column block by every row block).
//
// Requirements (src/ops/matmul.ts uses matmul.wgsl otherwise): subgroups of at least 8 lanes
// (wider subgroups work, their upper lanes just repeat the A loads) and vec4-aligned B: N % 4 == 0
// for B stored [K,N], K % 4 == 0 for B stored [N,K]. Any M, N, K otherwise: rows and columns past
// the edge are clamped on load and skipped on store, and k past K reads A as zero.
//
// Grid: x = column blocks of 4·CV·WG columns, y = row blocks of R rows, z = batch.

enable subgroups;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  a_batch_stride: u32, // elements
  b_batch_stride: u32, // vec4s; 0 when one B is shared by the whole batch
  alpha: f32,
  has_bias: u32,
  accumulate: u32,
}

override WG: u32 = 8;         // invocations per workgroup: a multiple of 8, subgroups side by side along N
override R: u32 = 64;         // rows of C per workgroup, <= RMAX
override CV: u32 = 2;         // column quads per invocation, <= CVMAX
override TRANS_A: bool = false;
override TRANS_B: bool = false;

const RMAX = 64u;
const CVMAX = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Private arrays are only indexed by loop counters of loops the compiler fully unrolls (their trip
// counts are override constants), so they live in registers / stack slots; a dynamic index would
// turn them into per-lane scratch memory.
var<private> ap: array<f32, RMAX>;             // ap[i] = op(A)[m0 + i, k0 + lane]: this lane's part of the A panel
var<private> acc: array<vec4f, RMAX * CVMAX>;  // acc[i·CVMAX + q] = C[m0 + i, columns of quad q]
var<private> bq: array<vec4f, 8u * CVMAX>;     // bq[t·CVMAX + q] = op(B)[kk + t, columns of quad q]
var<private> quad: array<u32, CVMAX>;          // column quad index (unclamped) per q
var<private> m0: u32;
var<private> a_base: u32;
var<private> b_base: u32;

// Loads this lane's column of the R x 8 panel of op(A) at k0 (k >= K reads as 0).
fn load_a_panel(k0: u32, lane: u32) {
  let M = p.M;
  let K = p.K;
  let k = k0 + lane;
  let kc = min(k, K - 1u);
  for (var i = 0u; i < R; i++) {
    let m = min(m0 + i, M - 1u);
    var v: f32;
    if (TRANS_A) { v = a[a_base + kc * M + m]; } else { v = a[a_base + m * K + kc]; }
    ap[i] = select(0.0, v, k < K);
  }
}

// Loads op(B)[kk .. kk+7, this lane's columns] into bq (rows past K are clamped; A is zero there).
fn load_b_block(kk: u32) {
  let N = p.N;
  let K = p.K;
  if (!TRANS_B) {
    let N4 = N / 4u;
    for (var t = 0u; t < 8u; t++) {
      let k = min(kk + t, K - 1u);
      for (var q = 0u; q < CV; q++) {
        bq[t * CVMAX + q] = b[b_base + k * N4 + min(quad[q], N4 - 1u)];
      }
    }
  } else {
    let K4 = K / 4u;
    for (var h = 0u; h < 2u; h++) {
      let kq = min(kk / 4u + h, K4 - 1u);
      for (var q = 0u; q < CV; q++) {
        for (var s = 0u; s < 4u; s++) {
          let n = min(4u * quad[q] + s, N - 1u);
          let w = b[b_base + n * K4 + kq];
          bq[(4u * h) * CVMAX + q][s] = w.x;
          bq[(4u * h + 1u) * CVMAX + q][s] = w.y;
          bq[(4u * h + 2u) * CVMAX + q][s] = w.z;
          bq[(4u * h + 3u) * CVMAX + q][s] = w.w;
        }
      }
    }
  }
}

// acc[row i] += Σ_t a(i, kk+t)·B[kk+t] over the 8 k's of the block (lo = k 0..3, hi = k 4..7).
fn mac(i: u32, lo: vec4f, hi: vec4f) {
  for (var q = 0u; q < CV; q++) {
    acc[i * CVMAX + q] += lo.x * bq[q] + lo.y * bq[CVMAX + q] + lo.z * bq[2u * CVMAX + q] + lo.w * bq[3u * CVMAX + q]
                        + hi.x * bq[4u * CVMAX + q] + hi.y * bq[5u * CVMAX + q] + hi.z * bq[6u * CVMAX + q] + hi.w * bq[7u * CVMAX + q];
  }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  let lane = sg_lane % 8u;
  m0 = wid.y * R;
  a_base = wid.z * p.a_batch_stride;
  b_base = wid.z * p.b_batch_stride;
  for (var q = 0u; q < CV; q++) {
    quad[q] = wid.x * WG * CV + q * WG + lid.x;
  }
  for (var i = 0u; i < R * CVMAX; i++) {
    acc[i] = vec4f(0.0);
  }

  // 8 k's per step; A[m0 + i, k0 + l] sits in lane l.
  for (var k0 = 0u; k0 < p.K; k0 += 8u) {
    load_a_panel(k0, lane);
    load_b_block(k0);
    for (var i = 0u; i < R; i++) {
      let lo = vec4f(subgroupBroadcast(ap[i], 0u), subgroupBroadcast(ap[i], 1u), subgroupBroadcast(ap[i], 2u), subgroupBroadcast(ap[i], 3u));
      let hi = vec4f(subgroupBroadcast(ap[i], 4u), subgroupBroadcast(ap[i], 5u), subgroupBroadcast(ap[i], 6u), subgroupBroadcast(ap[i], 7u));
      mac(i, lo, hi);
    }
  }

  // Epilogue: C = alpha·acc (+ bias[n]) (+ C), element by element so any N works. (Storing row 0
  // in a runtime loop and shifting the accumulators compiled no faster and ran 25% slower.)
  let M = p.M;
  let N = p.N;
  let c_base = wid.z * M * N;
  for (var i = 0u; i < R; i++) {
    let m = m0 + i;
    if (m < M) {
      for (var q = 0u; q < CV; q++) {
        for (var s = 0u; s < 4u; s++) {
          let n = 4u * quad[q] + s;
          if (n < N) {
            let idx = c_base + m * N + n;
            var v = p.alpha * acc[i * CVMAX + q][s];
            if (p.has_bias != 0u) { v += bias[n]; }
            if (p.accumulate != 0u) { v += c[idx]; }
            c[idx] = v;
          }
        }
      }
    }
  }
}
