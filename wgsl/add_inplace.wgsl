// In-place residual add: x[i] += y[i]. Separate from add.wgsl because WebGPU forbids binding one
// buffer as both read and read_write in a dispatch. One thread per element, grid split as grid1d.

struct Params { n: u32 }

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  x[i] = x[i] + y[i];
}
