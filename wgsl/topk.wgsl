// Row top-k (the sampler's top-k / top-p prefilter): values[r, j] and indices[r, j] for the k largest
// entries of x[r, :], sorted descending, ties -> lower index first, 1 <= k <= MAX_K.
//
// Ordering: floats compare through the same order-preserving u32 key as argmax.wgsl (NaN above
// +inf, -0 == +0), with the index as tie-break, so (key desc, index asc) is a strict total order and
// the result is unique and deterministic. values[] are re-read from x (the exact input bits).
//
// One workgroup of WG >= k threads per row (grid1d for many rows); thread t owns the strided slice
// {t, t+WG, t+2WG, ...}.
//   phase 1 (threshold): each thread finds its slice's maximum; thread maxima are k distinct
//     elements, so the k-th best of them, T, is <= the row's true k-th best. Each thread ranks its
//     maximum against all WG maxima (WG reads of workgroup memory) and the one of rank k-1 is T.
//   phase 2 (local top-k): each thread re-reads its slice and insertion-sorts the elements >= T
//     (in the total order, so ties are cut by index too) into a private list of its best k.
//     Only the k threads whose maximum is >= T can hold candidates at all, and for logits T sits
//     near the top: ~k..2k elements of the whole row pass, so the insertion work is tiny. In the
//     worst case (adversarial layouts) a thread inserts into a k-long list at O(k) per element;
//     still correct, just slower.
//   phase 3 (merge): k rounds of "best list head wins", as a two-level tournament: heads live in
//     workgroup memory, the best head of each group of GS = 16 threads is cached, and as only the
//     popped thread's head changes, thread 0 re-scans that one group plus the WG/16 group winners
//     (32 compares at WG = 256), writes the winner and names its owner, who pops its list.
//     2 barriers per round instead of the log2(WG) + 2 of a full tree reduction per round.
// Cost per row: 2 reads of C floats with integer key math, WG^2 workgroup-memory reads to rank the
// maxima, ~k..2k insertions typically, k rounds of ~32 serial compares and 2 barriers.
// Measured on lavapipe (1 x 151936): argmax 0.39 ms, top-k k=1 0.72 ms (the 2 sweeps), k=50 1.3 ms
// (merge ~12 us per round, mostly barrier cost). On a GPU the 2 sweeps of 600 KB dominate.

struct Params { rows: u32, cols: u32, k: u32 }

override WG: u32 = 256; // power of two, >= k

const MAX_K: u32 = 64u;
const GS: u32 = 16u; // threads per merge group (phase 3)
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<u32>;

var<workgroup> sh_k: array<u32, WG>;
var<workgroup> sh_i: array<u32, WG>;
var<workgroup> thresh_k: u32;
var<workgroup> thresh_i: u32;
// Phase 3: best head of each group of GS threads (key, index, owning thread), and the round's winner.
var<workgroup> g_k: array<u32, WG / GS>;
var<workgroup> g_i: array<u32, WG / GS>;
var<workgroup> g_t: array<u32, WG / GS>;
var<workgroup> winner: u32;

// Monotone map f32 -> u32: -inf < negatives < -0 == +0 < positives < +inf < NaN. Real values map
// to >= 0x007fffff, so (0, NONE) is a sentinel every element beats.
fn order_key(v: f32) -> u32 {
  var b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; } // NaN
  if (b == 0x80000000u) { b = 0u; } // -0 -> +0
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn better(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

fn best_of_group(g: u32) {
  var bk = 0u;
  var bi = NONE;
  var bt = g * GS;
  for (var t = g * GS; t < (g + 1u) * GS; t++) {
    if (better(sh_k[t], sh_i[t], bk, bi)) {
      bk = sh_k[t];
      bi = sh_i[t];
      bt = t;
    }
  }
  g_k[g] = bk;
  g_i[g] = bi;
  g_t[g] = bt;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let k = p.k;

  // ---- phase 1: threshold T = k-th best of the per-thread maxima
  var mk = 0u;
  var mi = NONE;
  for (var i = lid; i < p.cols; i += WG) {
    let key = order_key(x[base + i]);
    if (key > mk) {
      mk = key;
      mi = i;
    }
  }
  sh_k[lid] = mk;
  sh_i[lid] = mi;
  workgroupBarrier();
  // At least min(C, WG) >= k threads hold a maximum, so exactly one has rank k-1.
  if (mi != NONE) {
    var rank = 0u;
    for (var u = 0u; u < WG; u++) {
      if (better(sh_k[u], sh_i[u], mk, mi)) { rank++; }
    }
    if (rank == k - 1u) {
      thresh_k = mk;
      thresh_i = mi;
    }
  }
  workgroupBarrier();
  let tk = thresh_k;
  let ti = thresh_i;

  // ---- phase 2: private sorted list of this thread's best (at most k) elements >= T.
  // Indices arrive in increasing order, so a new element never beats an equal key already listed:
  // comparing keys alone keeps (key desc, index asc).
  var lk: array<u32, MAX_K>;
  var li: array<u32, MAX_K>;
  var len = 0u;
  for (var i = lid; i < p.cols; i += WG) {
    let key = order_key(x[base + i]);
    if (key > tk || (key == tk && i <= ti)) {
      if (len < k || key > lk[k - 1u]) {
        var pos = min(len, k - 1u);
        while (pos > 0u && key > lk[pos - 1u]) {
          lk[pos] = lk[pos - 1u];
          li[pos] = li[pos - 1u];
          pos--;
        }
        lk[pos] = key;
        li[pos] = i;
        len = min(len + 1u, k);
      }
    }
  }

  // ---- phase 3: k rounds of "best head wins", as a two-level tournament: heads sit in sh_k/sh_i,
  // each group of GS threads has its best head cached in g_k/g_i/g_t, and since only the popped
  // thread's head changes per round, thread 0 re-scans just that group (GS heads) and then the
  // WG/GS group winners. Two barriers per round: pick (thread 0) | pop (the owner).
  var head = 0u;
  sh_k[lid] = select(0u, lk[0], len > 0u);
  sh_i[lid] = select(NONE, li[0], len > 0u);
  workgroupBarrier();
  if (lid < WG / GS) { best_of_group(lid); }
  workgroupBarrier();
  let out_base = row * k;
  var popped = NONE; // thread 0: whose head was taken last round
  for (var r = 0u; r < k; r++) {
    if (lid == 0u) {
      if (popped != NONE) { best_of_group(popped / GS); }
      var bk = g_k[0];
      var bi = g_i[0];
      var bt = g_t[0];
      for (var g = 1u; g < WG / GS; g++) {
        if (better(g_k[g], g_i[g], bk, bi)) {
          bk = g_k[g];
          bi = g_i[g];
          bt = g_t[g];
        }
      }
      values[out_base + r] = x[base + bi];
      indices[out_base + r] = bi;
      winner = bt;
      popped = bt;
    }
    workgroupBarrier();
    if (lid == winner) {
      head++;
      sh_k[lid] = select(0u, lk[min(head, MAX_K - 1u)], head < len);
      sh_i[lid] = select(NONE, li[min(head, MAX_K - 1u)], head < len);
    }
    workgroupBarrier();
  }
}
