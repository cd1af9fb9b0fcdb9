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
// Data flow (unchanged): lanes own output columns, CV quads of 4 columns each, quads interleaved
// across lanes so one vec4 load per lane reads a contiguous run; op(B) is the only per-lane data.
// The 8 lanes share R rows: lane l loads A[m, k0 + l] and subgroupBroadcast hands the values out,
// so A costs an eighth of per-lane loads. op(B) in either layout becomes "8 k-rows x 4 columns"
// per quad; for B stored [N,K] (y = x·Wᵀ, the model's hot path) that is a 4x4 transpose of
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
//   - R is a multiple of 4 and the row groups past R are `if (R > ..)` blocks that fold away; the
//     B matrices are built once per 8 k's and passed down (rebuilding them per call compiled ~2x
//     slower).
//
// Per 8 k's and subgroup: R lane-loads of A, 8·CV vec4 lane-loads of B, R·CV·32 256-bit FMAs. In
// all ≈ M·N·K/(256·CV) + M·N·K/(8·R) 8-lane loads: the B term shrinks with R, hence R = 64
// (1024³ on 2 AVX2 cores: ~1.65x the previous kernel in the same process; compile ~1.5-4 s per
// pipeline quiet, about as long as before).
//
// Requirements (src/ops/matmul.ts uses matmul.wgsl otherwise): subgroups of at least 8 lanes (wider
// subgroups work, their upper lanes repeat the A loads) and vec4-aligned B: N % 4 == 0 for B
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
// loop's 8 (the few extra k's read zeros of A), and period % 8 == 0 keeps every k0 aligned.
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
override TRANS_A: bool = false;
override TRANS_B: bool = false;

const RMAX = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// All three arrays stay in memory (see the header); the math reads them with constant indices.
var<private> ap: array<f32, RMAX>;        // ap[i] = op(A)[m0 + i, k0 + lane]
// !TRANS_B: bv[2t + q] = op(B)[k0 + t, columns of quad q] (t < 8).
// TRANS_B: bv[8q + 2s + h] = B[column 4·quad_q + s, k0 + 4h .. k0 + 4h + 3] (s < 4, h < 2).
var<private> bv: array<vec4f, 16>;
var<private> acc: array<vec4f, 2u * RMAX>; // acc[2i + q] = C[m0 + i, columns of quad q]

// acc (+)= m·v, i.e. Σ_j m[j]·v[j]: four k's of one column quad.
fn mv(m: mat4x4f, v: vec4f, acc_in: vec4f) -> vec4f {
  return fma(m[3], vec4f(v.w), fma(m[2], vec4f(v.z), fma(m[1], vec4f(v.y), fma(m[0], vec4f(v.x), acc_in))));
}

// op(B) rows k0+4h .. k0+4h+3 of quad q as the columns of a matrix (h = 0: lo, 1: hi). For B
// stored [N,K] it is the transpose of four k-contiguous loads, free in SIMD-of-arrays form.
fn bmat(q: u32, h: u32) -> mat4x4f {
  if (TRANS_B) {
    return transpose(mat4x4f(bv[8u * q + h], bv[8u * q + 2u + h], bv[8u * q + 4u + h], bv[8u * q + 6u + h]));
  }
  return mat4x4f(bv[8u * h + q], bv[8u * h + 2u + q], bv[8u * h + 4u + q], bv[8u * h + 6u + q]);
}

// Row i: acc[i] += Σ_{t<8} A[m0 + i, k0 + t]·B[k0 + t], A[m0 + i, k0 + t] broadcast from lane t.
// Always called with a literal (after inlining) row, so every index here is a constant.
fn mac1(i: u32, b0l: mat4x4f, b0h: mat4x4f, b1l: mat4x4f, b1h: mat4x4f) {
  let x = ap[i];
  let lo = vec4f(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u));
  let hi = vec4f(subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
  acc[2u * i] = mv(b0h, hi, mv(b0l, lo, acc[2u * i]));
  if (CV > 1u) {
    acc[2u * i + 1u] = mv(b1h, hi, mv(b1l, lo, acc[2u * i + 1u]));
  }
}

// Rows i0 .. i0+3 (i0 a literal).
fn mac4(i0: u32, b0l: mat4x4f, b0h: mat4x4f, b1l: mat4x4f, b1h: mat4x4f) {
  mac1(i0, b0l, b0h, b1l, b1h);
  mac1(i0 + 1u, b0l, b0h, b1l, b1h);
  mac1(i0 + 2u, b0l, b0h, b1l, b1h);
  mac1(i0 + 3u, b0l, b0h, b1l, b1h);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  let lane = sg_lane % 8u;
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let m0 = wid.y * R;
  let rows = min(R, M - m0); // rows of this block inside C
  // Loop bounds the compiler cannot fold (K == 0 never reaches the k loop): see the header.
  let nr = select(R, 0u, K == 0u);
  let nb = select(8u * CV, 0u, K == 0u);
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
    if (p.tri == 1u && 4u * wid.x * WG * CV > hiDiag) { return; }
    if (p.tri == 2u) { kEnd = min(K, hiDiag + 1u); }
    if (p.tri == 3u) { kLo = loDiag & ~7u; }
  }

  for (var i = 0u; i < 2u * nr; i++) {
    acc[i] = vec4f(0.0);
  }

  for (var k0 = kLo; k0 < kEnd; k0 += 8u) {
    if (p.tri == 3u && k0 % p.period < kLo) { k0 += kLo - k0 % p.period; }  // into the next period's range
    // A panel: lane l holds A[m0 + i, k0 + l] (0 past K; rows past M clamped).
    let k = k0 + lane;
    let kc = min(k, K - 1u);
    for (var i = 0u; i < nr; i++) {
      let m = min(m0 + i, M - 1u);
      var v: f32;
      if (TRANS_A) { v = a[a_base + kc * M + m]; } else { v = a[a_base + m * K + kc]; }
      ap[i] = select(0.0, v, k < K);
    }
    // B block: 8 k-rows x CV quads per lane, clamped at the edges (A is 0 past K).
    if (!TRANS_B) {
      let N4 = N / 4u;
      for (var j = 0u; j < nb; j++) { // j = 2t + q (CV = 1: j = t)
        let t = j / CV;
        let q = j % CV;
        bv[2u * t + q] = b[b_base + min(k0 + t, K - 1u) * N4 + min(quad0 + q * WG, N4 - 1u)];
      }
    } else {
      let K4 = K / 4u;
      for (var j = 0u; j < nb; j++) { // j = 8q + 2s + h: column 4·quad_q + s, k-quad k0/4 + h
        let q = j / 8u;
        let n = min(4u * (quad0 + q * WG) + (j / 2u) % 4u, N - 1u);
        bv[j] = b[b_base + n * K4 + min(k0 / 4u + j % 2u, K4 - 1u)];
      }
    }

    let b0l = bmat(0u, 0u);
    let b0h = bmat(0u, 1u);
    let b1l = bmat(1u, 0u);
    let b1h = bmat(1u, 1u);
    mac4(0u, b0l, b0h, b1l, b1h);
    if (R > 4u) { mac4(4u, b0l, b0h, b1l, b1h); }
    if (R > 8u) { mac4(8u, b0l, b0h, b1l, b1h); }
    if (R > 12u) { mac4(12u, b0l, b0h, b1l, b1h); }
    if (R > 16u) { mac4(16u, b0l, b0h, b1l, b1h); }
    if (R > 20u) { mac4(20u, b0l, b0h, b1l, b1h); }
    if (R > 24u) { mac4(24u, b0l, b0h, b1l, b1h); }
    if (R > 28u) { mac4(28u, b0l, b0h, b1l, b1h); }
    if (R > 32u) { mac4(32u, b0l, b0h, b1l, b1h); }
    if (R > 36u) { mac4(36u, b0l, b0h, b1l, b1h); }
    if (R > 40u) { mac4(40u, b0l, b0h, b1l, b1h); }
    if (R > 44u) { mac4(44u, b0l, b0h, b1l, b1h); }
    if (R > 48u) { mac4(48u, b0l, b0h, b1l, b1h); }
    if (R > 52u) { mac4(52u, b0l, b0h, b1l, b1h); }
    if (R > 56u) { mac4(56u, b0l, b0h, b1l, b1h); }
    if (R > 60u) { mac4(60u, b0l, b0h, b1l, b1h); }
  }

  // Epilogue: C = alpha·acc (+ bias[n]) (+ C), element by element so any N works.
  let c_base = wid.z * M * N;
  for (var i = 0u; i < rows; i++) {
    let m = m0 + i;
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
