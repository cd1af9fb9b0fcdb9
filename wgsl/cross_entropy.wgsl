// Fused softmax + cross-entropy, forward and backward in one kernel (llm.c's fused classifier).
// For each row n of logits [N, V] with target t = targets[n]:
//   loss[n]       = logsumexp(row) - row[t]                  = (m - row[t]) + log(sum)
//   dlogits[n, i] = (softmax(row)[i] - (i == t)) * grad_scale = (exp(row[i] - m)/sum - (i == t)) * g
// Rows with t == IGNORE_INDEX (0xffffffff: prompt tokens, padding) get loss 0 and a zero gradient
// row without reading the logits. A t >= V that is not IGNORE_INDEX is a caller bug the GPU cannot
// throw for: its loss is NaN (so the mean loss shows it) and its gradient is softmax * g.
//
// One workgroup per row (grid1d for many rows), each thread striding over the row:
//   sweep 1: online (running-max) max and sum-exp of the thread's slice in ONE read of the row;
//   reduce:  fixed-order tree over the WG (max, sum) pairs in workgroup memory, log2(WG) barriers,
//            deterministic (no float atomics);
//   sweep 2: the second (unavoidable) read of the row, writing the gradient.
// No probability buffer and no second kernel: at V = 151936 the [N, V] softmax never exists.
// Cost per row: 2 reads + 1 write of V floats, 2 exp per element, log2(WG) barriers.
//
// `cross_entropy_inplace` writes the gradient over the logits (saves an [N, V] buffer). WebGPU does
// not allow one buffer bound both read-only and writable, so it is its own entry point with its own
// read_write binding at the same slot. It is race-free because every element is read and rewritten
// by the same invocation (the stride pattern is identical in both sweeps), and row[t] is read by the
// thread that owns index t before that thread overwrites it.

struct Params { rows: u32, cols: u32, grad_scale: f32 }

override WG: u32 = 256; // power of two

const IGNORE_INDEX: u32 = 0xffffffffu;
const LOWEST: f32 = bitcast<f32>(0xff7fffffu); // -FLT_MAX, the lowest finite f32

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

// The in-place entry point's view of binding 1 (never used together with the read-only one).
@group(0) @binding(1) var<storage, read_write> logits_rw: array<f32>;

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;

// Folds one value into a running (max, sum-exp) pair. The branch (not max()) keeps NaN logits
// propagating into the sum, and a -inf logit just adds exp(-inf) = 0.
fn online(ms: vec2f, v: f32) -> vec2f {
  if (v > ms.x) { return vec2f(v, ms.y * exp(ms.x - v) + 1.0); }
  return vec2f(ms.x, ms.y + exp(v - ms.x));
}

// Tree-combines every thread's (max, sum) pair; every thread gets the row's pair.
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

// NaN for out-of-range targets, built at run time (WGSL rejects a constant NaN).
fn nan_f32() -> f32 {
  return bitcast<f32>(0x7fc00000u | (p.rows & 0u));
}

@compute @workgroup_size(WG)
fn cross_entropy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let t = targets[row];
  if (t == IGNORE_INDEX) {
    for (var i = lid; i < p.cols; i += WG) { dlogits[base + i] = 0.0; }
    if (lid == 0u) { loss[row] = 0.0; }
    return;
  }

  var ms = vec2f(LOWEST, 0.0);
  for (var i = lid; i < p.cols; i += WG) { ms = online(ms, logits[base + i]); }
  ms = reduce_row(ms, lid);
  let inv_sum = 1.0 / ms.y;

  if (t < p.cols) {
    if (lid == t % WG) { loss[row] = (ms.x - logits[base + t]) + log(ms.y); }
  } else if (lid == 0u) {
    loss[row] = nan_f32();
  }
  for (var i = lid; i < p.cols; i += WG) {
    let prob = exp(logits[base + i] - ms.x) * inv_sum;
    dlogits[base + i] = (prob - select(0.0, 1.0, i == t)) * p.grad_scale;
  }
}

@compute @workgroup_size(WG)
fn cross_entropy_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let t = targets[row];
  if (t == IGNORE_INDEX) {
    for (var i = lid; i < p.cols; i += WG) { logits_rw[base + i] = 0.0; }
    if (lid == 0u) { loss[row] = 0.0; }
    return;
  }

  var ms = vec2f(LOWEST, 0.0);
  for (var i = lid; i < p.cols; i += WG) { ms = online(ms, logits_rw[base + i]); }
  ms = reduce_row(ms, lid);
  let inv_sum = 1.0 / ms.y;

  // The owner of index t reads row[t] here, before its own sweep 2 overwrites it.
  if (t < p.cols) {
    if (lid == t % WG) { loss[row] = (ms.x - logits_rw[base + t]) + log(ms.y); }
  } else if (lid == 0u) {
    loss[row] = nan_f32();
  }
  for (var i = lid; i < p.cols; i += WG) {
    let prob = exp(logits_rw[base + i] - ms.x) * inv_sum;
    logits_rw[base + i] = (prob - select(0.0, 1.0, i == t)) * p.grad_scale;
  }
}
