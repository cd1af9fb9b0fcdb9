// Matmul for CPU-SIMD adapters (lavapipe and similar): C = alpha·op(A)·op(B) (+ bias[N]) (+ C).
// op(A) is A ([M,K]) or Aᵀ (A stored [K,M]); op(B) is B ([K,N]) or Bᵀ (B stored [N,K]); batched.
//
// On lavapipe a workgroup runs on one CPU thread and the 8 invocations of a subgroup are the 8 lanes
// of one 256-bit register per scalar (SIMD of arrays). What Mesa 25.0's gallivm makes of WGSL
// (GALLIVM_DEBUG=asm, and micro-kernels timed on 2 Zen3 cores):
//   - Every storage load becomes an 8-lane scalar sequence (exec-mask test, bounds test, load,
//     insert through a stack slot): ~6-8 ns of wall time per 8-lane load and vector component,
//     whether the lanes read one address or eight, inside a loop or not. (Its newer "uniform
//     address: one scalar load" path is not in 25.0.) Workgroup-memory loads cost the same.
//   - A private array indexed by a runtime value (even one equal in all lanes) is accessed by
//     per-lane stack gathers/scatters (~3 ns per 8-lane access); a compile-time index into an
//     array that lives in memory is one plain vector load or store.
//   - subgroupBroadcast with a constant lane is one vbroadcastss (~1 ns with its use); fma() is a
//     vfmadd, while a*b+c stays a multiply and an add.
//   - NIR unrolls a loop only when trip count x body size is small (<= 32 trips, ~26 instructions
//     each). The previous kernel looped over its 64 rows, so its accumulators (64 x 2 vec4) were
//     read and written through per-lane gathers/scatters every 8 k's, which cost more than its
//     loads and arithmetic together (~11.6 GFLOP/s at 1024³).
//
// Data flow: lanes own output columns, CV quads of 4 columns each, quads interleaved across lanes
// so one vec4 load per lane reads a contiguous run; op(B) is the only per-lane data. LANES lanes
// (8, or 16 when lavapipe runs 512-bit vectors: 16-lane subgroups) share R rows: lane l loads
// A[m, k0 + l] and subgroupBroadcast hands the values out, so A costs 1/LANES of per-lane loads,
// and each step covers LANES k's. op(B) in either layout becomes "LANES k-rows x 4 columns" per
// quad; for B stored [N,K] (y = x·Wᵀ, the model's hot path) that is a 4x4 transpose of
// k-contiguous vec4 loads, free in SIMD-of-arrays form (it only renames registers).
//
// Layout for lavapipe's code generator:
//   - The math is written out row by row (mac4 calls with literal rows; functions are inlined and
//     the indices fold), so every accumulator, A and B access in it has a constant index: one
//     block of vfmadd with stack operands, no gathers.
//   - The loads stay in loops whose trip counts the compiler cannot fold (nr, nb below), writing
//     the private arrays `ap` and `bv`, and the epilogue reads `acc` with a runtime row: all three
//     arrays stay in memory (stack) instead of becoming SSA values. Written-out loads or register
//     accumulators made LLVM's compile time explode (16 rows: 40-60 s on the busy 2-core VM; an
//     earlier attempt at 32: minutes) because hundreds of live values crossed the branchy per-lane load code. Bounding
//     a loop with min(R, ...) is not enough: NIR then unrolls it (R <= 64 trips of a tiny body).
//   - R is a multiple of 4 and the row groups past R are `if (R > ..)` blocks that fold away, as
//     are the k-quads past LANES/4; the B matrices are built once per step and passed down
//     (rebuilding them per call compiled ~2x slower).
//
// Per step (LANES k's) and subgroup: R lane-loads of A, LANES·CV vec4 lane-loads of B,
// R·CV·4·LANES vector FMAs. Per multiply-add the A loads fall with LANES and the B loads with R,
// hence R up to 128 (the default on lavapipe; bench/RESULTS.md "512-bit vectors" has the figures).
// Compile time grows with R·LANES: ~1.5-4 s a pipeline at 8 lanes R = 64, about twice that at
// 16 lanes R = 128 (once; Mesa caches it on disk).
//
// A loads (AVEC, chosen by the host; A is bound twice, as f32 and as vec4 at binding 5): leaving
// loads out in an experiment, A's scalar loads cost much of the time at 16 lanes and B's vec4 loads
// nothing visible, so A comes in vec4s where it can: AVEC 2 (A stored [K,M], M % 4 == 0) loads four rows of
// the lane's k at once, into the same layout as the scalar path; AVEC 1 (A stored [M,K],
// K % 4 == 0) loads four k's of one row, the lanes covering four rows' LANES k's per load, and
// mac4 broadcasts row r's k-quad h from lane r·LANES/4 + h. Either way the private array takes
// four rows per store (a runtime index into it is a per-lane scatter).
//
// Requirements (src/ops/matmul.ts uses matmul.wgsl otherwise): subgroups of at least LANES lanes
// (wider subgroups work, their upper lanes repeat the A loads) and vec4-aligned B: N % 4 == 0 for B
// stored [K,N], K % 4 == 0 for B stored [N,K]. Any M, N, K otherwise: rows and columns past the
// edge are clamped on load and skipped on store, and k past K reads A as zero.
//
// Causal hints (src/ops/matmul.ts `causal`; dense attention's products, whose score matrices are
// causal-triangular with rows repeating every `period` = T, the G query heads stacked): tri = 1,
// C[ρ, n] is wanted only for n ≤ ρ mod period, so a workgroup whose columns all lie past its rows'
// diagonals returns without writing; tri = 2, op(A)[ρ, k] = 0 for k > ρ mod period, so the k loop
// stops after the block's last diagonal; tri = 3, op(A)[m, k] = 0 for k mod period < m, so in each
// period the k loop starts at the block's first row. A block whose rows straddle a period boundary
// takes the whole range. The bounds are uniform per workgroup (no per-lane cost), rounded to the k
// loop's step (the few extra k's read zeros of A), and period % LANES == 0 keeps every k0 aligned.
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
  tri: u32,      // causal hint: 0 none, 1 scores, 2 lower-triangular op(A), 3 upper (see the header)
  period: u32,   // rows' diagonal period for the hint (a multiple of 8)
  pad0: u32,
  pad1: u32,
}

override WG: u32 = 8;         // invocations per workgroup: a multiple of 8, subgroups side by side along N
override R: u32 = 64;         // rows of C per workgroup: a multiple of 4, <= RMAX
override CV: u32 = 2;         // column quads per invocation: 1 or 2
override LANES: u32 = 8;      // lanes sharing A rows, = k's per step: 8, or 16 on 16-lane subgroups
// How A is loaded (see "A loads" in the header): 0 one element per load; 1 four k's per load (A
// stored [M,K], K % 4 == 0); 2 four rows per load (A stored [K,M], M % 4 == 0).
override AVEC: u32 = 0;
override TRANS_A: bool = false;
override TRANS_B: bool = false;

const RMAX = 128u;
const HMAX = 4u;              // k-quads per step at LANES = 16

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> a4: array<vec4f>;   // A again, as vec4s (AVEC != 0)

// All three arrays stay in memory (see the header); the math reads them with constant indices.
// AVEC 0, 2: ap[i / 4][i % 4] = op(A)[m0 + i, k0 + lane]. AVEC 1, with H = LANES / 4:
// ap[j] = A[m0 + 4j + lane / H, k0 + 4·(lane % H) .. + 3] (four rows' k-quads over the lanes).
var<private> ap: array<vec4f, RMAX / 4u>;
// With H = LANES / 4 k-quads per step:
// !TRANS_B: bv[2t + q] = op(B)[k0 + t, columns of quad q] (t < LANES).
// TRANS_B: bv[4Hq + Hs + h] = B[column 4·quad_q + s, k0 + 4h .. k0 + 4h + 3] (s < 4, h < H).
var<private> bv: array<vec4f, 8u * HMAX>;
var<private> acc: array<vec4f, 2u * RMAX>; // acc[2i + q] = C[m0 + i, columns of quad q]

// acc (+)= m·v, i.e. Σ_j m[j]·v[j]: four k's of one column quad.
fn mv(m: mat4x4f, v: vec4f, acc_in: vec4f) -> vec4f {
  return fma(m[3], vec4f(v.w), fma(m[2], vec4f(v.z), fma(m[1], vec4f(v.y), fma(m[0], vec4f(v.x), acc_in))));
}

// op(B) rows k0+4h .. k0+4h+3 of quad q as the columns of a matrix. For B stored [N,K] it is the
// transpose of four k-contiguous loads, free in SIMD-of-arrays form.
fn bmat(q: u32, h: u32) -> mat4x4f {
  if (TRANS_B) {
    let H = LANES / 4u;
    return transpose(mat4x4f(bv[4u * H * q + h], bv[4u * H * q + H + h], bv[4u * H * q + 2u * H + h], bv[4u * H * q + 3u * H + h]));
  }
  return mat4x4f(bv[8u * h + q], bv[8u * h + 2u + q], bv[8u * h + 4u + q], bv[8u * h + 6u + q]);
}

// The step's op(B) as matrices: b[2h + q] = bmat(q, h).
struct BMats {
  b: array<mat4x4f, 2u * HMAX>,
}

// One k-quad of a row: xs (the row's A values of 4 lanes) times op(B)'s k-quad (mats for quads 0, 1).
fn kquad(xs: vec4f, b0: mat4x4f, b1: mat4x4f, a0: ptr<function, vec4f>, a1: ptr<function, vec4f>) {
  *a0 = mv(b0, xs, *a0);
  if (CV > 1u) { *a1 = mv(b1, xs, *a1); }
}

// Row i: acc[i] += Σ_{t<LANES} A[m0 + i, k0 + t]·B[k0 + t], A[m0 + i, k0 + t] broadcast from lane t
// (AVEC 0, 2). Always called with a literal (after inlining) row, so every index here is a constant.
fn mac1(i: u32, bm: BMats) {
  let x = ap[i / 4u][i % 4u];
  // k-quads written out (broadcast lanes must be constants)
  let x0 = vec4f(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u));
  let x1 = vec4f(subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
  if (LANES > 8u) {
    let x2 = vec4f(subgroupBroadcast(x, 8u), subgroupBroadcast(x, 9u), subgroupBroadcast(x, 10u), subgroupBroadcast(x, 11u));
    let x3 = vec4f(subgroupBroadcast(x, 12u), subgroupBroadcast(x, 13u), subgroupBroadcast(x, 14u), subgroupBroadcast(x, 15u));
    rowk(i, x0, x1, x2, x3, bm);
  } else {
    rowk(i, x0, x1, vec4f(0.0), vec4f(0.0), bm);
  }
}

// Row i from its k-quads' A values, broadcast to every lane (x2, x3 unused at 8 lanes).
fn rowk(i: u32, x0: vec4f, x1: vec4f, x2: vec4f, x3: vec4f, bm: BMats) {
  var a0 = acc[2u * i];
  var a1 = acc[2u * i + 1u];
  kquad(x0, bm.b[0], bm.b[1], &a0, &a1);
  kquad(x1, bm.b[2], bm.b[3], &a0, &a1);
  if (LANES > 8u) {
    kquad(x2, bm.b[4], bm.b[5], &a0, &a1);
    kquad(x3, bm.b[6], bm.b[7], &a0, &a1);
  }
  acc[2u * i] = a0;
  if (CV > 1u) { acc[2u * i + 1u] = a1; }
}

// Rows i0 .. i0+3 (i0 a literal).
fn mac4(i0: u32, bm: BMats) {
  if (AVEC == 1u) {
    // row i0 + r's k-quad h is in lane r·H + h (broadcast lanes must be literals: both widths written out)
    let v = ap[i0 / 4u];
    if (LANES > 8u) {
      rowk(i0, subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u), bm);
      rowk(i0 + 1u, subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u), bm);
      rowk(i0 + 2u, subgroupBroadcast(v, 8u), subgroupBroadcast(v, 9u), subgroupBroadcast(v, 10u), subgroupBroadcast(v, 11u), bm);
      rowk(i0 + 3u, subgroupBroadcast(v, 12u), subgroupBroadcast(v, 13u), subgroupBroadcast(v, 14u), subgroupBroadcast(v, 15u), bm);
    } else {
      let z = vec4f(0.0);
      rowk(i0, subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), z, z, bm);
      rowk(i0 + 1u, subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u), z, z, bm);
      rowk(i0 + 2u, subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), z, z, bm);
      rowk(i0 + 3u, subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u), z, z, bm);
    }
    return;
  }
  mac1(i0, bm);
  mac1(i0 + 1u, bm);
  mac1(i0 + 2u, bm);
  mac1(i0 + 3u, bm);
}

// op(A)[m, kc], the row clamped into A
fn aAt(a_base: u32, m_in: u32, kc: u32) -> f32 {
  let m = min(m_in, p.M - 1u);
  if (TRANS_A) { return a[a_base + kc * p.M + m]; }
  return a[a_base + m * p.K + kc];
}

// This workgroup's block of products into acc; false when the causal hint says none of it is wanted
// (uniform per workgroup: the caller then returns without writing).
fn products(wid: vec3u, lid: vec3u, sg_lane: u32) -> bool {
  let lane = sg_lane % LANES;
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let m0 = wid.y * R;
  let rows = min(R, M - m0); // rows of this block inside C
  // Loop bounds the compiler cannot fold (K == 0 never reaches the k loop): see the header.
  let nr = select(R, 0u, K == 0u);
  let nb = select(LANES * CV, 0u, K == 0u);
  let a_base = wid.z * p.a_batch_stride;
  let b_base = wid.z * p.b_batch_stride;
  let quad0 = wid.x * WG * CV + lid.x; // quad q of this invocation is quad0 + q·WG

  // the causal hint's bounds (uniform): the diagonals of this block's rows run loDiag .. hiDiag
  var kEnd = K;
  var kLo = 0u;  // tri = 3: each period's k loop starts here
  if (p.tri != 0u) {
    let P = p.period;
    let straddles = m0 / P != (m0 + rows - 1u) / P;
    let loDiag = select(m0 % P, 0u, straddles);
    let hiDiag = select((m0 + rows - 1u) % P, P - 1u, straddles);
    if (p.tri == 1u && 4u * wid.x * WG * CV > hiDiag) { return false; }
    if (p.tri == 2u) { kEnd = min(K, hiDiag + 1u); }
    if (p.tri == 3u) { kLo = loDiag & ~(LANES - 1u); }
  }

  for (var i = 0u; i < 2u * nr; i++) {
    acc[i] = vec4f(0.0);
  }

  for (var k0 = kLo; k0 < kEnd; k0 += LANES) {
    if (p.tri == 3u && k0 % p.period < kLo) { k0 += kLo - k0 % p.period; }  // into the next period's range
    // A panel: lane l holds A[m0 + i, k0 + l] (0 past K; rows past M clamped).
    let k = k0 + lane;
    let kc = min(k, K - 1u);
    // four rows per private-array store (a runtime index into it costs a per-lane scatter), and
    // with AVEC one vec4 load for them
    if (AVEC == 1u) {
      let H = LANES / 4u;
      let kq = k0 / 4u + lane % H;
      for (var j = 0u; j < nr / 4u; j++) {
        let m = min(m0 + 4u * j + lane / H, M - 1u);
        ap[j] = select(vec4f(0.0), a4[(a_base + m * K) / 4u + min(kq, K / 4u - 1u)], 4u * kq < K);
      }
    } else if (AVEC == 2u) {
      for (var j = 0u; j < nr / 4u; j++) {
        // rows past M (M % 4 == 0: whole quads) read the last quad and are never stored
        let m = min(m0 + 4u * j, M - 4u);
        ap[j] = select(vec4f(0.0), a4[(a_base + kc * M + m) / 4u], k < K);
      }
    } else {
      for (var j = 0u; j < nr / 4u; j++) {
        ap[j] = select(vec4f(0.0), vec4f(aAt(a_base, m0 + 4u * j, kc), aAt(a_base, m0 + 4u * j + 1u, kc), aAt(a_base, m0 + 4u * j + 2u, kc), aAt(a_base, m0 + 4u * j + 3u, kc)), k < K);
      }
    }
    // B block: LANES k-rows x CV quads per lane, clamped at the edges (A is 0 past K).
    if (!TRANS_B) {
      let N4 = N / 4u;
      for (var j = 0u; j < nb; j++) { // j = 2t + q (CV = 1: j = t)
        let t = j / CV;
        let q = j % CV;
        bv[2u * t + q] = b[b_base + min(k0 + t, K - 1u) * N4 + min(quad0 + q * WG, N4 - 1u)];
      }
    } else {
      let K4 = K / 4u;
      for (var j = 0u; j < nb; j++) { // j = 4Hq + Hs + h: column 4·quad_q + s, k-quad k0/4 + h
        let H = LANES / 4u;
        let q = j / (4u * H);
        let n = min(4u * (quad0 + q * WG) + (j / H) % 4u, N - 1u);
        bv[j] = b[b_base + n * K4 + min(k0 / 4u + j % H, K4 - 1u)];
      }
    }

    var bm: BMats;
    bm.b[0] = bmat(0u, 0u);
    bm.b[1] = bmat(1u, 0u);
    bm.b[2] = bmat(0u, 1u);
    bm.b[3] = bmat(1u, 1u);
    if (LANES > 8u) {
      bm.b[4] = bmat(0u, 2u);
      bm.b[5] = bmat(1u, 2u);
      bm.b[6] = bmat(0u, 3u);
      bm.b[7] = bmat(1u, 3u);
    }
    mac4(0u, bm);
    if (R > 4u) { mac4(4u, bm); }
    if (R > 8u) { mac4(8u, bm); }
    if (R > 12u) { mac4(12u, bm); }
    if (R > 16u) { mac4(16u, bm); }
    if (R > 20u) { mac4(20u, bm); }
    if (R > 24u) { mac4(24u, bm); }
    if (R > 28u) { mac4(28u, bm); }
    if (R > 32u) { mac4(32u, bm); }
    if (R > 36u) { mac4(36u, bm); }
    if (R > 40u) { mac4(40u, bm); }
    if (R > 44u) { mac4(44u, bm); }
    if (R > 48u) { mac4(48u, bm); }
    if (R > 52u) { mac4(52u, bm); }
    if (R > 56u) { mac4(56u, bm); }
    if (R > 60u) { mac4(60u, bm); }
    if (R > 64u) { mac4(64u, bm); }
    if (R > 68u) { mac4(68u, bm); }
    if (R > 72u) { mac4(72u, bm); }
    if (R > 76u) { mac4(76u, bm); }
    if (R > 80u) { mac4(80u, bm); }
    if (R > 84u) { mac4(84u, bm); }
    if (R > 88u) { mac4(88u, bm); }
    if (R > 92u) { mac4(92u, bm); }
    if (R > 96u) { mac4(96u, bm); }
    if (R > 100u) { mac4(100u, bm); }
    if (R > 104u) { mac4(104u, bm); }
    if (R > 108u) { mac4(108u, bm); }
    if (R > 112u) { mac4(112u, bm); }
    if (R > 116u) { mac4(116u, bm); }
    if (R > 120u) { mac4(120u, bm); }
    if (R > 124u) { mac4(124u, bm); }
  }

  return true;
}

// The rows of C this workgroup holds: its block's, clipped at M.
fn blockRows(wid: vec3u) -> u32 {
  return min(R, p.M - wid.y * R);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  if (!products(wid, lid, sg_lane)) { return; }
  // C = alpha·acc (+ bias[n]) (+ C), element by element so any N works.
  let N = p.N;
  let c_base = wid.z * p.M * N;
  let quad0 = wid.x * WG * CV + lid.x;
  for (var i = 0u; i < blockRows(wid); i++) {
    let m = wid.y * R + i;
    for (var q = 0u; q < CV; q++) {
      let v = acc[2u * i + q];
      for (var s = 0u; s < 4u; s++) {
        let n = 4u * (quad0 + q * WG) + s;
        if (n < N) {
          let idx = c_base + m * N + n;
          var x = p.alpha * v[s];
          if (p.has_bias != 0u) { x += bias[n]; }
          if (p.accumulate != 0u) { x += c[idx]; }
          c[idx] = x;
        }
      }
    }
  }
}

// ---- main4: the same for N % 4 == 0, C (and the bias) written a vec4 per column quad: a quarter of
// the epilogue's per-lane sequences, which in products of a small K (a weight gradient's K = T) are a
// fair share of the time. Bindings re-declared as vec4s; each entry point uses its own set.
@group(0) @binding(3) var<storage, read> bias4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> c4: array<vec4f>;

@compute @workgroup_size(WG)
fn main4(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  if (!products(wid, lid, sg_lane)) { return; }
  let N4 = p.N / 4u;
  let c_base = wid.z * p.M * N4;
  let quad0 = wid.x * WG * CV + lid.x;
  for (var i = 0u; i < blockRows(wid); i++) {
    let m = wid.y * R + i;
    for (var q = 0u; q < CV; q++) {
      let quad = quad0 + q * WG;
      if (quad < N4) {
        let idx = c_base + m * N4 + quad;
        var x = p.alpha * acc[2u * i + q];
        if (p.has_bias != 0u) { x += bias4[quad]; }
        if (p.accumulate != 0u) { x += c4[idx]; }
        c4[idx] = x;
      }
    }
  }
}
