// Per-token log-probabilities and entropies at a sampling temperature, the numbers RL objectives
// start from. For each row n of logits [N, V] with target t = targets[n] and z = row / T:
//   logp[n]    = log softmax(z)[t]          = (z[t] - m) - log(s0)
//   entropy[n] = -Σ_i p_i log p_i           = log(s0) - s1 / s0
// where m = max(z), s0 = Σ exp(z_i - m) and s1 = Σ exp(z_i - m) · (z_i - m). Rows with
// t == IGNORE_INDEX get 0 and 0. A t >= V that is not IGNORE_INDEX gives a NaN logp (its entropy is
// still the row's). Non-destructive: the logits are only read, so the training forward's logits stay
// valid for the weighted cross-entropy backward that follows.
//
// One workgroup per row (grid1d for many rows), each thread striding over the row, ONE read of it:
//   sweep:  an online triple (m, s0, s1) over the thread's slice. When the running max rises from m
//           to m' the old terms rescale by c = exp(m - m'), and each old (z_i - m) becomes
//           (z_i - m') = (z_i - m) + (m - m'), so  s1' = c · (s1 + (m - m') · s0),  s0' = c · s0;
//           the new element adds 1 to s0 and 0 to s1.
//   reduce: the same rescaling combines two triples, in a fixed-order tree over the WG
//           (log2(WG) barriers, no float atomics: deterministic).
// Guards: a -inf logit adds exp(-inf) = 0 to s0 and its 0 · (-inf) term is skipped, not NaN; an
// empty or underflowing triple (s0 = 0 or exp(m - m') = 0) rescales to exactly 0 without forming
// (-inf) · 0. A NaN logit makes
// s0 NaN and so both outputs NaN, which the caller's finiteness guard sees.

struct Params { rows: u32, cols: u32, temperature: f32 }

override WG: u32 = 256; // power of two

const IGNORE_INDEX: u32 = 0xffffffffu;
const LOWEST: f32 = bitcast<f32>(0xff7fffffu); // -FLT_MAX, the lowest finite f32

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> logp: array<f32>;
@group(0) @binding(4) var<storage, read_write> entropy: array<f32>;

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s0: array<f32, WG>;
var<workgroup> red_s1: array<f32, WG>;

// (s0, s1) of a triple with max m, re-expressed against a max mm >= m.
// A triple that underflows (c = 0) contributes 0, without forming c · (d · s0) = 0 · (-inf) when d
// overflows; multiplying by 0 (not returning 0) keeps a NaN s0 / s1 NaN.
fn rescale(m: f32, s0: f32, s1: f32, mm: f32) -> vec2f {
  if (s0 == 0.0) { return vec2f(0.0, 0.0); }
  let d = m - mm;
  let c = exp(d);
  if (c == 0.0) { return vec2f(s0 * 0.0, s1 * 0.0); }
  return vec2f(s0 * c, c * (s1 + d * s0));
}

// Folds one scaled logit v into the triple (m, s0, s1). The branch (not max()) keeps NaN logits
// propagating into s0.
fn online(st: vec3f, v: f32) -> vec3f {
  if (v > st.x) {
    let r = rescale(st.x, st.y, st.z, v);
    return vec3f(v, r.x + 1.0, r.y);
  }
  let d = v - st.x;
  let e = exp(d);
  return vec3f(st.x, st.y + e, st.z + select(e * d, 0.0, e == 0.0));
}

fn combine(a: vec3f, b: vec3f) -> vec3f {
  let mm = max(a.x, b.x);
  let ra = rescale(a.x, a.y, a.z, mm);
  let rb = rescale(b.x, b.y, b.z, mm);
  return vec3f(mm, ra.x + rb.x, ra.y + rb.y);
}

fn reduce_row(st_in: vec3f, lid: u32) -> vec3f {
  var st = st_in;
  red_m[lid] = st.x;
  red_s0[lid] = st.y;
  red_s1[lid] = st.z;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      st = combine(st, vec3f(red_m[lid + stride], red_s0[lid + stride], red_s1[lid + stride]));
      red_m[lid] = st.x;
      red_s0[lid] = st.y;
      red_s1[lid] = st.z;
    }
    workgroupBarrier();
  }
  return vec3f(red_m[0], red_s0[0], red_s1[0]);
}

// NaN for out-of-range targets, built at run time (WGSL rejects a constant NaN).
fn nan_f32() -> f32 {
  return bitcast<f32>(0x7fc00000u | (p.rows & 0u));
}

@compute @workgroup_size(WG)
fn token_logprobs(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let t = targets[row];
  if (t == IGNORE_INDEX) {
    if (lid == 0u) {
      logp[row] = 0.0;
      entropy[row] = 0.0;
    }
    return;
  }

  var st = vec3f(LOWEST, 0.0, 0.0);
  for (var i = lid; i < p.cols; i += WG) { st = online(st, logits[base + i] / p.temperature); }
  st = reduce_row(st, lid);
  let log_s0 = log(st.y);

  if (lid == 0u) {
    entropy[row] = log_s0 - st.z / st.y;
    if (t >= p.cols) { logp[row] = nan_f32(); }
  }
  if (t < p.cols && lid == t % WG) {
    logp[row] = (logits[base + t] / p.temperature - st.x) - log_s0;
  }
}
