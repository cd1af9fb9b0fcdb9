// Global L2 norm of all gradients, for gradient clipping and the NaN/Inf step guard.
//
// Deterministic two-stage reduction, no atomics (float atomics do not exist in WGSL, and an
// atomic order would make the norm, and therefore training, run-to-run nondeterministic):
//   partial:  one dispatch per gradient tensor. Workgroup w sums the squares of the fixed chunk
//             [w*CHUNK, (w+1)*CHUNK) of that tensor, CHUNK = WG*ITEMS: each thread a strided
//             slice (coalesced loads), then a tree over WG threads in workgroup memory. The sum
//             goes to partials[p.offset + w]; every tensor owns a fixed range of the partials
//             buffer, so the layout (and the summation order) never depends on timing.
//             `partial4` is the same over vec4s for lengths divisible by 4 (the same chunks).
//   finalize: one workgroup sums all partials in a fixed strided order + tree, then thread 0
//             takes sqrt, decides skip (norm not finite) and the clip factor, advances the step
//             counter only when the step is applied, and writes the bias corrections the AdamW
//             kernel needs. So the whole step stays on the GPU: no readback, no sync.
// Non-finite detection uses the exponent bits (all ones = Inf or NaN) rather than x != x, which
// fast-math compilers may fold away. A chunk containing a NaN/Inf element is reported as NaN even
// if the compiler reassociated the sum.
// Cost: one read of every gradient (4 bytes/element, ~3 flops), plus ceil(n/CHUNK) partials.

struct Params {
  n: u32,          // partial: elements of this tensor; finalize: number of partials
  offset: u32,     // partial: first partials slot of this tensor
  clip: f32,       // finalize: max norm, 0 = no clipping
  beta1: f32,      // finalize
  beta2: f32,      // finalize
  ln_beta1: f32,   // finalize: ln(beta1), from float64 on the CPU
  ln_beta2: f32,   // finalize
}

override WG: u32 = 256;    // a power of two (the tree halves it)
override ITEMS: u32 = 8;   // elements per thread per workgroup chunk

@group(0) @binding(0) var<uniform> p: Params;

// ---- partial
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

// ---- partial4: the same over a gradient whose length is a multiple of 4, read as vec4s (n and
// ITEMS in vec4s: a chunk is WG·ITEMS vec4s, so the host passes ITEMS / 4 for the same chunks)
@group(0) @binding(1) var<storage, read> grad4: array<vec4f>;

// ---- finalize (bindings re-declared with finalize's types; each entry point uses its own set)
@group(0) @binding(1) var<storage, read> parts_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<f32>;      // [norm, skipped]
@group(0) @binding(3) var<storage, read_write> step_count: array<u32>;  // [applied steps]
@group(0) @binding(4) var<storage, read_write> scalars: array<f32>;     // [apply, clip_scale, bc1, bc2]

var<workgroup> sums: array<f32, WG>;
var<workgroup> bads: array<u32, WG>;

fn nonfinite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// Sum of `acc` and OR of `bad` over the workgroup; all threads must call it (barriers).
fn tree(lid: u32, acc: f32, bad: bool) {
  sums[lid] = acc;
  bads[lid] = select(0u, 1u, bad);
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      sums[lid] += sums[lid + s];
      bads[lid] |= bads[lid + s];
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;
  let chunks = (p.n + WG * ITEMS - 1u) / (WG * ITEMS);
  let live = w < chunks;   // uniform per workgroup; the whole group returns together
  if (!live) { return; }
  let base = w * WG * ITEMS;
  var acc = 0.0;
  var bad = false;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG + lid;
    if (i < p.n) {
      let g = grad[i];
      bad = bad || nonfinite(g);
      acc += g * g;
    }
  }
  tree(lid, acc, bad);
  writePartial(lid, w);
}

// Thread 0 stores the workgroup's sum (after tree), NaN when the chunk held a NaN or Inf.
fn writePartial(lid: u32, w: u32) {
  if (lid == 0u) {
    var s = sums[0];
    // a quiet NaN built at run time (a NaN literal is a WGSL compile error); bads[0] - 1 == 0 here
    if (bads[0] != 0u && !nonfinite(s)) { s = bitcast<f32>(0x7fc00000u | (bads[0] - 1u)); }
    partials[p.offset + w] = s;
  }
}

@compute @workgroup_size(WG)
fn partial4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;
  let chunks = (p.n + WG * ITEMS - 1u) / (WG * ITEMS);
  if (w >= chunks) { return; }   // uniform per workgroup
  let base = w * WG * ITEMS;
  var acc = vec4f(0.0);
  var bad = false;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG + lid;
    if (i < p.n) {
      let g = grad4[i];
      bad = bad || nonfinite(g.x) || nonfinite(g.y) || nonfinite(g.z) || nonfinite(g.w);
      acc = fma(g, g, acc);
    }
  }
  tree(lid, (acc.x + acc.y) + (acc.z + acc.w), bad);
  writePartial(lid, w);
}

// 1 - b^t = -expm1(t ln b), accurate also for t = 1 and b close to 1 (where pow(b, t) then 1 - x
// would lose most digits in f32).
fn one_minus_pow(ln_b: f32, t: f32) -> f32 {
  let x = t * ln_b;   // <= 0
  if (x > -0.25) {
    // Taylor series of expm1 to x^8: error < 0.25^9/9! ~ 1e-11 relative
    var term = x;
    var sum = x;
    for (var k = 2.0; k <= 8.0; k += 1.0) {
      term *= x / k;
      sum += term;
    }
    return -sum;
  }
  return 1.0 - exp(x);
}

@compute @workgroup_size(WG)
fn finalize(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  var bad = false;
  for (var i = lid; i < p.n; i += WG) {
    let s = parts_in[i];
    bad = bad || nonfinite(s);
    acc += s;
  }
  tree(lid, acc, bad);
  if (lid != 0u) { return; }
  let sumsq = sums[0];
  let norm = sqrt(sumsq);
  let skip = bads[0] != 0u || nonfinite(sumsq) || nonfinite(norm);
  result[0] = norm;
  result[1] = select(0.0, 1.0, skip);
  if (skip) {
    scalars[0] = 0.0;   // AdamW kernels see apply = 0 and leave p, m, v untouched
    return;
  }
  let t = step_count[0] + 1u;
  step_count[0] = t;
  var scale = 1.0;
  if (p.clip > 0.0) { scale = min(1.0, p.clip / (norm + 1e-6)); }
  scalars[0] = 1.0;
  scalars[1] = scale;
  scalars[2] = one_minus_pow(p.ln_beta1, f32(t));
  scalars[3] = one_minus_pow(p.ln_beta2, f32(t));
}
