// Appends new keys and values to a layer's KV cache:
//   kc[slots[b], h, starts[b] + t, :] = k[b, t, h, :]     (same for v into vc)
// k, v: [B, T, Hkv, D]; caches: [S, Hkv, L, D]; slots/starts: u32 [B]. One thread per element of
// k (it moves the matching v element too); the grid may be split over x and y (grid1d). Pure data
// movement: 2·B·T·Hkv·D floats read and written. Out-of-range rows are skipped, never written out
// of bounds: slots[b] ≥ S drops row b, positions starts[b] + t ≥ L are dropped.

struct Params {
  n: u32,  // B·T·Hkv·D
  T: u32,
  Hkv: u32,
  D: u32,
  S: u32,
  L: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> kc: array<f32>;
@group(0) @binding(4) var<storage, read_write> vc: array<f32>;
@group(0) @binding(5) var<storage, read> slots: array<u32>;
@group(0) @binding(6) var<storage, read> starts: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let d = i % p.D;
  let row = i / p.D;          // (b·T + t)·Hkv + h
  let h = row % p.Hkv;
  let bt = row / p.Hkv;
  let t = bt % p.T;
  let b = bt / p.T;
  let slot = slots[b];
  let start = starts[b];
  // start + t could wrap for a huge start, so compare without adding.
  if (slot >= p.S || start >= p.L || t >= p.L - start) { return; }
  let dst = ((slot * p.Hkv + h) * p.L + start + t) * p.D + d;
  kc[dst] = k[i];
  vc[dst] = v[i];
}
