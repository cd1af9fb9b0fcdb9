// Row softmax over the last dimension: out[r, i] = exp(s*x[r, i] - m) / sum_j exp(s*x[r, j] - m),
// m = max_j s*x[r, j], s = p.scale (1/temperature; attention passes 1/sqrt(head_dim)).
//
// Rows are split into segments of TPR threads (a power of two); a workgroup of WG threads handles
// WG / TPR consecutive rows, and the grid (split with grid1d past 65535) covers them. The wrapper
// picks TPR ~ C/8 so each thread gets several elements: long rows (vocab) get a whole workgroup of
// 256, attention rows of 128 get 16 threads and 16 rows share a workgroup (one workgroup per short
// row would be dominated by launch and barrier overhead: ~3x slower per element on lavapipe).
// Each thread strides over its row with stride TPR, so neighbouring threads read neighbouring floats.
//   sweep 1: each thread keeps an online (running-max) pair (m, sum) over its slice: when a new
//            maximum arrives the sum so far is rescaled by exp(m_old - m_new). One read of the row
//            gives both the max and the sum-exp, instead of a max pass and a sum pass.
//   reduce:  each segment's TPR pairs are combined by a fixed-order tree in workgroup memory
//            (m = max(m1, m2), sum = s1*exp(m1 - m) + s2*exp(m2 - m)): log2(TPR) barriers and the
//            same result on every run (no atomics).
//   sweep 2: out = exp(s*x - m) * (1/sum).
// Cost per row: 2 reads + 1 write of C floats, 2 exp per element, log2(TPR) barriers; bandwidth
// bound on a GPU.
//
// Special values: the running max starts at the lowest finite f32 rather than -inf, so rows holding
// -inf (masked positions) never compute -inf - -inf; a row that is entirely -inf gives exp(0)*0 = 0
// sums and NaN outputs (0 * inf). A NaN anywhere in the row reaches the sum (the `else` branch takes
// exp(NaN)), so the whole row comes out NaN rather than silently dropping it; +inf also yields NaN.

struct Params { rows: u32, cols: u32, scale: f32 }

override WG: u32 = 256; // power of two
override TPR: u32 = 256; // threads per row: a power of two <= WG

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;

const LOWEST: f32 = bitcast<f32>(0xff7fffffu); // -FLT_MAX, the lowest finite f32

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = lid / TPR;
  let lane = lid % TPR;
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + seg;
  // Threads past the last row still take part in the barriers; they just see an empty row.
  let cols = select(0u, p.cols, row < p.rows);
  let base = row * p.cols;

  var m = LOWEST;
  var s = 0.0;
  for (var i = lane; i < cols; i += TPR) {
    let v = x[base + i] * p.scale;
    // Branch rather than max(): max() with NaN is implementation-defined, the comparison is not.
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }

  red_m[lid] = m;
  red_s[lid] = s;
  workgroupBarrier();
  for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      let m2 = red_m[lid + stride];
      let s2 = red_s[lid + stride];
      let mm = max(m, m2);
      s = s * exp(m - mm) + s2 * exp(m2 - mm);
      m = mm;
      red_m[lid] = m;
      red_s[lid] = s;
    }
    workgroupBarrier();
  }
  let row_max = red_m[seg * TPR];
  let inv_sum = 1.0 / red_s[seg * TPR];

  for (var i = lane; i < cols; i += TPR) {
    out[base + i] = exp(x[base + i] * p.scale - row_max) * inv_sum;
  }
}
