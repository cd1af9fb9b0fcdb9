// An MTP module's input, fused (src/ops/mtp-input.ts): for each row r,
//
//   x[r] = Ph · (rmsnorm(h[r]) ∘ wh)  +  Pe · (rmsnorm(E[tok[r]]) ∘ we)
//
// h: the previous stage's hidden rows [R, H]; tok: the token k+1 places ahead, u32 [R]; E: the
// embedding table [V, H]; Ph, Pe: the two halves of the module's input projection [H, H] (HF Linear,
// out × in). The separate ops are an embedding gather, two RMSNorms and two matmuls, five
// dispatches for one or two rows; on a software adapter each costs ~50-100 µs whatever its size,
// so a draft round paid more for these than for their arithmetic (bench/RESULTS.md).
//
// One workgroup per row: the two normed vectors live in workgroup memory, then each thread computes
// output columns j = lid, lid + WG, ... as one dot product of length 2H (both halves in one sum).
// An id ≥ V gives a zero embedding row, as ops/embedding.ts does. Loop bounds come from the params,
// not constants (Mesa fully unrolls constant loops of ≤ 32 trips; see decode_layer.wgsl).

struct Params {
  H: u32,     // hidden size (a multiple of 4)
  H4: u32,    // H / 4
  V: u32,     // embedding rows
  eps: f32,
}

override WG: u32 = 128; // power of two
override NS4: u32 = 32; // ≥ H / 4

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> hidden: array<vec4f>;
@group(0) @binding(2) var<storage, read> tok: array<u32>;
@group(0) @binding(3) var<storage, read> embed: array<vec4f>;
@group(0) @binding(4) var<storage, read> wh: array<vec4f>;
@group(0) @binding(5) var<storage, read> we: array<vec4f>;
@group(0) @binding(6) var<storage, read> ph: array<vec4f>;
@group(0) @binding(7) var<storage, read> pe: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> x: array<f32>;

var<workgroup> nh: array<vec4f, NS4>;
var<workgroup> ne: array<vec4f, NS4>;
var<workgroup> red: array<vec2f, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x;
  let id = tok[r];
  let valid = id < p.V;
  let eRow = select(0u, id, valid) * p.H4;
  let hRow = r * p.H4;

  // both sums of squares in one fixed-order tree (deterministic)
  var ss = vec2f(0.0);
  for (var c = lid; c < p.H4; c += WG) {
    let h = hidden[hRow + c];
    let e = select(vec4f(0.0), embed[eRow + c], valid);
    ss += vec2f(dot(h, h), dot(e, e));
  }
  red[lid] = ss;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w /= 2u) {
    if (lid < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  let rstd = inverseSqrt(red[0] / f32(p.H) + vec2f(p.eps));
  for (var c = lid; c < p.H4; c += WG) {
    nh[c] = hidden[hRow + c] * rstd.x * wh[c];
    ne[c] = select(vec4f(0.0), embed[eRow + c], valid) * rstd.y * we[c];
  }
  workgroupBarrier();

  for (var j = lid; j < p.H; j += WG) {
    let wRow = j * p.H4;
    var acc = 0.0;
    for (var c = 0u; c < p.H4; c++) {
      acc += dot(ph[wRow + c], nh[c]) + dot(pe[wRow + c], ne[c]);
    }
    x[r * p.H + j] = acc;
  }
}
