// Token sampling: logits [R, V] -> one token id per row, seeded and reproducible. Three entry points
// share one Params struct and one binding layout (src/sample/sampler.ts picks the entry):
//
//   gumbel      temperature sampling over the FULL vocabulary, one pass, no sort.
//   candidates  top-k / top-p / min-p over the top-k candidates that topk.wgsl produced.
//   rng_test    raw Philox output, for the CPU == GPU bit-exactness test.
// (temperature 0 is plain argmax.wgsl.)
//
// RNG: Philox4x32-10, a counter-based generator: (key, counter) -> 4 x u32, no state. The same code
// lives in src/sample/rng.ts; the 32x32->64 multiply is built from 16-bit halves on both sides so the
// two agree bit for bit. key = the 64-bit seed; counter = (index, step, stream, domain), so the draw
// of a row depends only on (seed, its stream, the step) and never on the batch it sits in.
//
// gumbel: the Gumbel-max trick. If g_i are i.i.d. Gumbel(0, 1), argmax_i (l_i / T + g_i) is an exact
//   sample from softmax(l / T). We rank by l_i + T * g_i (same argmax since T > 0) so tiny T cannot
//   overflow 1/T. g_i = -log(E_i) with E_i = -log(u_i) ~ Exp(1), u_i uniform in (0, 1) from Philox
//   counter (i / 4, step, stream, 0), word i % 4: one Philox call covers 4 consecutive entries.
//   E_i = -log(u) loses its relative precision as u -> 1 (WGSL's log has only 2^-21 absolute accuracy
//   on [0.5, 2]) and small E_i are exactly the "lucky" draws that let unlikely tokens win, so for
//   u >= 0.5 we compute -log(1 - w), w = 1 - u (exact), as 2 atanh(w / (2 - w)) by its odd series.
//   One workgroup per row; each thread takes blocks of 4 strided by WG*4 and keeps its best
//   (key, index); a fixed-order tree in workgroup memory merges them (ties -> lower index, like
//   argmax; keys compare through argmax's order-preserving u32 map so a NaN logit wins visibly).
//   Cost per row: 1 read of V floats, V/4 Philox calls (10 rounds x 2 emulated 32-bit mul-hi each),
//   2 logs per element, log2(WG) barriers. Compute bound on lavapipe, ~bandwidth bound on a GPU.
//
// candidates: one thread per row (K <= 64 candidates, sorted descending by topk.wgsl):
//   p_j = exp((v_j - v_0) / T)                unnormalised softmax at temperature T (p_0 = 1)
//   min-p: keep p_j >= minP * p_0             a prefix, since the p_j decrease
//   top-p: keep the smallest prefix whose mass >= topP * (mass kept by min-p), at least one token
//   draw u from Philox counter (0, step, stream, 1) and walk the kept prefix's cumulative mass to
//   u * (its total): the renormalisation is folded into the scaled target.
//   Candidates beyond the 64 that topk returns are never considered: top-p / min-p over more than
//   64 tokens are truncated to the 64 most likely (their mass is almost always negligible).
//   Cost: K exps and ~3K adds per row; negligible next to the top-k pass.
// Measured on lavapipe, 1 x 151936, wall time per call incl. submit: argmax 0.9 ms, gumbel 1.9 ms,
// top-k 50 (topk + candidates) 2.1 ms, top-p 0.9 (64 candidates) 1.6 ms.

struct Params {
  rows: u32,
  cols: u32, // V (gumbel)
  k: u32, // candidates per row (candidates)
  temperature: f32,
  top_p: f32,
  min_p: f32,
  seed_lo: u32,
  seed_hi: u32,
  step: u32,
  use_streams: u32, // 0: a row's stream is its row index
}

override WG: u32 = 256; // power of two

const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>; // gumbel: [R, V]; candidates: top-k values [R, K]
@group(0) @binding(2) var<storage, read> streams: array<u32>; // [R] (rng_test: counters [N, 4])
@group(0) @binding(3) var<storage, read_write> out: array<u32>; // [R] (rng_test: [N, 8])
@group(0) @binding(4) var<storage, read> cand_idx: array<u32>; // candidates: top-k indices [R, K]

// ---------------------------------------------------------------- Philox4x32-10 (= src/sample/rng.ts)

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// (hi, lo) of a * b: no 64-bit integers in WGSL, so 16-bit halves; no intermediate exceeds 2^32 - 1.
fn mulhilo(a: u32, b: u32) -> vec2u {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let hl = ah * bl;
  let lh = al * bh;
  let hh = ah * bh;
  let cross = (ll >> 16u) + (hl & 0xffffu) + lh;
  return vec2u(hh + (hl >> 16u) + (cross >> 16u), a * b);
}

fn philox4x32(ctr: vec4u, key: vec2u) -> vec4u {
  var c = ctr;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    let p0 = mulhilo(PHILOX_M0, c.x);
    let p1 = mulhilo(PHILOX_M1, c.z);
    c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    k += vec2u(PHILOX_W0, PHILOX_W1);
  }
  return c;
}

// u32 -> (0, 1), exactly representable: odd multiples of 2^-24 (same as u32ToUnit in rng.ts).
fn u32_to_unit(x: u32) -> f32 {
  return (f32(x >> 9u) + 0.5) * (1.0 / 8388608.0);
}

// E = -log(u) ~ Exp(1) with good relative accuracy for small E (u near 1); see the header.
fn exp1_from_u32(x: u32) -> f32 {
  let u = u32_to_unit(x);
  if (u < 0.5) { return -log(u); }
  let w = 1.0 - u; // exact (Sterbenz)
  let z = w / (2.0 - w); // <= 1/3
  let z2 = z * z;
  // atanh(z) / z = sum z^(2n) / (2n + 1); 9 terms leave < 1e-10 relative error at z = 1/3.
  let s = 1.0 + z2 * (1.0 / 3.0 + z2 * (1.0 / 5.0 + z2 * (1.0 / 7.0 + z2 * (1.0 / 9.0 + z2 * (1.0 / 11.0 + z2 * (1.0 / 13.0 + z2 * (1.0 / 15.0 + z2 * (1.0 / 17.0))))))));
  return 2.0 * z * s;
}

fn row_stream(row: u32) -> u32 {
  return select(row, streams[row], p.use_streams != 0u);
}

// ---------------------------------------------------------------- gumbel

// Monotone f32 -> u32 (argmax.wgsl's order): -inf < negatives < -0 == +0 < positives < +inf < NaN.
fn order_key(v: f32) -> u32 {
  var b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; } // NaN
  if (b == 0x80000000u) { b = 0u; }
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

var<workgroup> red_k: array<u32, WG>;
var<workgroup> red_i: array<u32, WG>;

@compute @workgroup_size(WG)
fn gumbel(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let key = vec2u(p.seed_lo, p.seed_hi);
  let stream = row_stream(row);
  let t = p.temperature;

  var best_k = 0u;
  var best_i = NONE;
  let blocks = (p.cols + 3u) / 4u;
  for (var b = lid; b < blocks; b += WG) {
    let r = philox4x32(vec4u(b, p.step, stream, 0u), key);
    for (var j = 0u; j < 4u; j++) {
      let i = b * 4u + j;
      if (i < p.cols) {
        let g = -log(exp1_from_u32(r[j]));
        let kk = order_key(logits[base + i] + t * g);
        if (kk > best_k) { // strict: indices increase within a thread, so ties keep the lower one
          best_k = kk;
          best_i = i;
        }
      }
    }
  }

  red_k[lid] = best_k;
  red_i[lid] = best_i;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let k2 = red_k[lid + stride];
      let i2 = red_i[lid + stride];
      if (k2 > best_k || (k2 == best_k && i2 < best_i)) {
        best_k = k2;
        best_i = i2;
        red_k[lid] = k2;
        red_i[lid] = i2;
      }
    }
    workgroupBarrier();
  }
  // A row of all -inf keys (all -inf logits) leaves the sentinel: return 0, as argmax does.
  if (lid == 0u) { out[row] = select(best_i, 0u, best_i == NONE); }
}

// ---------------------------------------------------------------- candidates

const MAX_K: u32 = 64u;

@compute @workgroup_size(64)
fn candidates(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let k = p.k;
  let base = row * k;
  let v0 = logits[base];
  // NaN / +inf at the top (a poisoned row) or an all -inf row: no distribution to draw from; return
  // the first candidate, deterministically (argmax's choice).
  if (!(abs(v0) <= 3.402823e38)) {
    out[row] = cand_idx[base];
    return;
  }

  var prob: array<f32, MAX_K>;
  let t = p.temperature;
  for (var j = 0u; j < k; j++) {
    let d = (logits[base + j] - v0) / t;
    // exp of anything below -87 is under f32's normal range; select also maps -inf and NaN to 0.
    prob[j] = select(0.0, exp(d), d > -87.0);
  }
  prob[0] = 1.0;

  // min-p: the kept set is a prefix because prob[] decreases.
  var n = 1u;
  let floor_p = p.min_p * prob[0];
  while (n < k && prob[n] >= floor_p && prob[n] > 0.0) { n++; }

  var mass = 0.0;
  for (var j = 0u; j < n; j++) { mass += prob[j]; }

  // top-p: smallest prefix with cumulative mass >= top_p * mass (1.0 keeps the min-p set as is).
  if (p.top_p < 1.0) {
    let goal = p.top_p * mass;
    var c = 0.0;
    var m = 0u;
    loop {
      c += prob[m];
      m++;
      if (c >= goal || m >= n) { break; }
    }
    n = m;
    mass = c;
  }

  let r = philox4x32(vec4u(0u, p.step, row_stream(row), 1u), vec2u(p.seed_lo, p.seed_hi));
  let target_mass = u32_to_unit(r.x) * mass;
  var pick = n - 1u;
  var c = 0.0;
  for (var j = 0u; j < n; j++) {
    c += prob[j];
    if (target_mass < c) {
      pick = j;
      break;
    }
  }
  out[row] = cand_idx[base + pick];
}

// ---------------------------------------------------------------- rng_test

@compute @workgroup_size(64)
fn rng_test(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  _ = logits[0]; // keeps binding 1 in this entry's layout (the wrapper binds the shared layout)
  let n = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (n >= p.rows) { return; }
  let ctr = vec4u(streams[4u * n], streams[4u * n + 1u], streams[4u * n + 2u], streams[4u * n + 3u]);
  let r = philox4x32(ctr, vec2u(p.seed_lo, p.seed_hi));
  for (var j = 0u; j < 4u; j++) {
    out[8u * n + j] = r[j];
    out[8u * n + 4u + j] = bitcast<u32>(u32_to_unit(r[j]));
  }
}
