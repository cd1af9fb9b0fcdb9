// Per-row weighted softmax cross-entropy backward at a temperature, in place over the logits: the
// one backward every objective shares (SFT, GRPO, DPO differ only in the weights). For each row n of
// logits [N, V] with target t = targets[n], weight w = weights[n] and z = row / T:
//   loss[n]       = -log softmax(z)[t]           = (m - z[t]) + log(sum)      (unweighted)
//   dlogits[n, i] = w / T · (softmax(z)[i] - (i == t))
// which is w · ∂(-log softmax(z)[t]) / ∂row, so an objective L of the rows' log-probs passes
// w_n = -∂L/∂logp_n. With w = gradScale on every row and T = 1 this is cross_entropy_inplace.
// Rows with t == IGNORE_INDEX get loss 0 and a zero gradient row. A t >= V that is not IGNORE_INDEX
// is a caller bug: its loss is NaN and its gradient is w/T · softmax.
//
// One workgroup per row, the two sweeps of cross_entropy.wgsl (online max/sum-exp in one read, a
// fixed-order tree reduce, then the gradient written over the row). Race-free in place for the same
// reason: every element is read and rewritten by the same invocation, and row[t] is read by its
// owner before that thread's sweep 2 overwrites it.

struct Params { rows: u32, cols: u32, temperature: f32 }

override WG: u32 = 256; // power of two

const IGNORE_INDEX: u32 = 0xffffffffu;
const LOWEST: f32 = bitcast<f32>(0xff7fffffu); // -FLT_MAX, the lowest finite f32

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;

// Folds one value into a running (max, sum-exp) pair; NaN propagates, -inf adds 0.
fn online(ms: vec2f, v: f32) -> vec2f {
  if (v > ms.x) { return vec2f(v, ms.y * exp(ms.x - v) + 1.0); }
  return vec2f(ms.x, ms.y + exp(v - ms.x));
}

fn reduce_row(ms_in: vec2f, lid: u32) -> vec2f {
  var ms = ms_in;
  red_m[lid] = ms.x;
  red_s[lid] = ms.y;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let m2 = red_m[lid + stride];
      let s2 = red_s[lid + stride];
      let mm = max(ms.x, m2);
      ms = vec2f(mm, ms.y * exp(ms.x - mm) + s2 * exp(m2 - mm));
      red_m[lid] = ms.x;
      red_s[lid] = ms.y;
    }
    workgroupBarrier();
  }
  return vec2f(red_m[0], red_s[0]);
}

fn nan_f32() -> f32 {
  return bitcast<f32>(0x7fc00000u | (p.rows & 0u));
}

@compute @workgroup_size(WG)
fn cross_entropy_weighted(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let t = targets[row];
  if (t == IGNORE_INDEX) {
    for (var i = lid; i < p.cols; i += WG) { logits[base + i] = 0.0; }
    if (lid == 0u) { loss[row] = 0.0; }
    return;
  }

  var ms = vec2f(LOWEST, 0.0);
  for (var i = lid; i < p.cols; i += WG) { ms = online(ms, logits[base + i] / p.temperature); }
  ms = reduce_row(ms, lid);
  let inv_sum = 1.0 / ms.y;
  let scale = weights[row] / p.temperature;

  // The owner of index t reads row[t] here, before its own sweep 2 overwrites it.
  if (t < p.cols) {
    if (lid == t % WG) { loss[row] = (ms.x - logits[base + t] / p.temperature) + log(ms.y); }
  } else if (lid == 0u) {
    loss[row] = nan_f32();
  }
  for (var i = lid; i < p.cols; i += WG) {
    let prob = exp(logits[base + i] / p.temperature - ms.x) * inv_sum;
    logits[base + i] = (prob - select(0.0, 1.0, i == t)) * scale;
  }
}
