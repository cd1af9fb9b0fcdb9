// Copies cached prefixes between slots of a layer's KV cache, e.g. one prefilled prompt into the
// slots of its k samples (src/engine/sample-batch.ts):
//   kc[dst_j, h, t, :] = kc[src_j, h, t, :]  for t < len_j, every KV head h   (same for vc)
// caches: [S, Hkv, L, D]; jobs: u32 [J, 3] = (src_j, dst_j, len_j). One thread per element of the
// longest job's prefix (J · Hkv · maxLen · D threads; a thread past its own job's length returns);
// the grid may be split over x and y (grid1d). Pure data movement: 2·Σ len_j·Hkv·D floats read and
// written. The wrapper guarantees every slot < S, len_j ≤ L, and that no job writes a slot another
// job reads or writes, so the threads never race (a buffer cannot copy into itself with
// copyBufferToBuffer, hence this kernel).

struct Params {
  n: u32, // J · Hkv · maxLen · D
  maxLen: u32,
  Hkv: u32,
  D: u32,
  L: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> kc: array<f32>;
@group(0) @binding(2) var<storage, read_write> vc: array<f32>;
@group(0) @binding(3) var<storage, read> jobs: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let d = i % p.D;
  let row = i / p.D;          // ((j·Hkv + h)·maxLen + t)
  let t = row % p.maxLen;
  let jh = row / p.maxLen;
  let h = jh % p.Hkv;
  let j = jh / p.Hkv;
  if (t >= jobs[3u * j + 2u]) { return; }
  let off = (h * p.L + t) * p.D + d;
  let slot = p.Hkv * p.L * p.D;
  let src = jobs[3u * j] * slot + off;
  let dst = jobs[3u * j + 1u] * slot + off;
  kc[dst] = kc[src];
  vc[dst] = vc[src];
}
