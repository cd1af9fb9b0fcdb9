// Elementwise add of two f32 tensors of the same size: the residual connection.
//   add:         out[i] = a[i] + b[i]
//   add_inplace: x[i] += y[i]      (WebGPU forbids binding one buffer as both read and read_write,
//                                   so the in-place form is its own entry point)
// One thread per element; the grid may be split over x and y (see grid1d in src/gpu/gpu.ts).

struct Params { n: u32 }

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  out[i] = a[i] + b[i];
}
