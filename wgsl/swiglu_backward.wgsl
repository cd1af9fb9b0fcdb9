// SwiGLU backward, elementwise. Forward: out = silu(g) * u, silu(g) = g * s with s = sigmoid(g).
//   dup[i]   = dout[i] * silu(g)
//   dgate[i] = dout[i] * u * silu'(g),  silu'(g) = s * (1 + g * (1 - s))
//   main:      one element per thread (any n)
//   main_vec4: one vec4 per thread (n % 4 == 0, the usual case), through vec4 views of the same
//              bindings: 4x fewer invocations, which is most of the cost on lavapipe.
//
// The sigmoid is evaluated as in swiglu.wgsl: e = exp(-|g|) in (0, 1], s = 1 / (1 + e) for g >= 0
// and e / (1 + e) for g < 0, and 1 - s = e / (1 + e) resp. 1 / (1 + e), so neither exp overflows nor
// 1 - s cancels: g = +-100 gives finite gradients (silu'(-100) ~ -1e-42 -> 0, silu'(100) = 1).
// Grid split over x and y by grid1d. Cost: 3 reads + 2 writes per element, ~10 flops (one exp);
// memory bound.

struct Params { n: u32 }  // elements (main) or vec4s (main_vec4)

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(5) var<storage, read_write> dup: array<f32>;
// vec4 views of bindings 1..5, used only by main_vec4 (each entry point binds one view).
@group(0) @binding(1) var<storage, read> dout4: array<vec4f>;
@group(0) @binding(2) var<storage, read> gate4: array<vec4f>;
@group(0) @binding(3) var<storage, read> up4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> dgate4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> dup4: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let g = gate[i];
  let e = exp(-abs(g));
  let pos = g >= 0.0;
  let s = select(e, 1.0, pos) / (1.0 + e);       // sigmoid(g)
  let one_minus_s = select(1.0, e, pos) / (1.0 + e);
  let d = dout[i];
  dup[i] = d * (g * s);
  dgate[i] = d * up[i] * (s * (1.0 + g * one_minus_s));
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let g = gate4[i];
  let e = exp(-abs(g));
  let pos = g >= vec4f(0.0);
  let s = select(e, vec4f(1.0), pos) / (1.0 + e);
  let one_minus_s = select(vec4f(1.0), e, pos) / (1.0 + e);
  let d = dout4[i];
  dup4[i] = d * (g * s);
  dgate4[i] = d * up4[i] * (s * (1.0 + g * one_minus_s));
}
