// rope_kv_write.wgsl for one packed q|k|v projection: qkv [B·T, HS = Hq + 2·Hkv, D] holds each
// token's q heads, then its k heads, then its v heads (one matmul against the stacked q, k and v
// weight rows writes it). Same threads and the same arithmetic as rope_kv_write.wgsl, so the same
// bits; the rotated q goes to qOut [B·T, Hq, D] (the attention kernels read q contiguous), k is
// rotated in place inside qkv, and k and v go to the caches:
//
//   qOut[tok, h, :]    = rope(qkv[tok, h, :], positions[tok])                 h < Hq
//   qkv[tok, Hq + h, :] = rope(qkv[tok, Hq + h, :], positions[tok])            h < Hkv
//   kc[slots[b], h, starts[b] + t, :] = qkv[tok, Hq + h, :], vc from qkv[tok, Hq + Hkv + h, :]
//
// A file of its own because qkv is one binding here (views of q, k and v would interleave, and
// WebGPU refuses overlapping writable bindings) where rope_kv_write.wgsl binds three tensors. A q
// thread past the rotary quads copies its pass-through dims (qOut is another buffer).

struct Params {  // D and half in vec4s; the rest are counts
  n: u32,        // tokens · (Hq + Hkv) · D/8 threads
  T: u32,
  Hq: u32,
  Hkv: u32,
  D: u32,
  half: u32,     // rotary_dim / 2
  max_pos: u32,  // table rows
  S: u32,
  L: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> qkv4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> qOut4: array<vec4f>;
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(0) @binding(4) var<storage, read> cos4: array<vec4f>;
@group(0) @binding(5) var<storage, read> sin4: array<vec4f>;
@group(0) @binding(6) var<storage, read> slots: array<u32>;
@group(0) @binding(7) var<storage, read> starts: array<u32>;
@group(0) @binding(8) var<storage, read_write> kc4: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> vc4: array<vec4f>;

// Four pairs a thread, as rope_kv_write.wgsl's main (D % 8 == 0 and half % 4 == 0: whole vec4s).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let U = p.D / 2u;
  let u = i % U;
  let r = i / U;
  let heads = p.Hq + p.Hkv;
  let hs = r % heads;
  let tok = r / heads;
  let HS = p.Hq + 2u * p.Hkv;
  let pos = min(positions[tok], p.max_pos - 1u);
  if (hs < p.Hq) {
    let src = (tok * HS + hs) * p.D;
    let dst = (tok * p.Hq + hs) * p.D;
    if (u < p.half) {
      let c = cos4[pos * p.half + u];
      let s = sin4[pos * p.half + u];
      let a = qkv4[src + u];
      let b = qkv4[src + u + p.half];
      qOut4[dst + u] = a * c - b * s;
      qOut4[dst + u + p.half] = b * c + a * s;
    } else {
      qOut4[dst + 2u * u] = qkv4[src + 2u * u];
      qOut4[dst + 2u * u + 1u] = qkv4[src + 2u * u + 1u];
    }
    return;
  }
  let h = hs - p.Hq;
  let kBase = (tok * HS + p.Hq + h) * p.D;
  let vBase = (tok * HS + p.Hq + p.Hkv + h) * p.D;
  var d0 = u;
  var d1 = u + p.half;
  var k0: vec4f;
  var k1: vec4f;
  if (u < p.half) {
    let c = cos4[pos * p.half + u];
    let s = sin4[pos * p.half + u];
    let a = qkv4[kBase + d0];
    let b = qkv4[kBase + d1];
    k0 = a * c - b * s;
    k1 = b * c + a * s;
    qkv4[kBase + d0] = k0;
    qkv4[kBase + d1] = k1;
  } else {
    d0 = 2u * u;
    d1 = d0 + 1u;
    k0 = qkv4[kBase + d0];
    k1 = qkv4[kBase + d1];
  }
  let b = tok / p.T;
  let t = tok % p.T;
  let slot = slots[b];
  let start = starts[b];
  if (slot >= p.S || start >= p.L || t >= p.L - start) { return; }
  let dst = ((slot * p.Hkv + h) * p.L + start + t) * p.D;
  kc4[dst + d0] = k0;
  kc4[dst + d1] = k1;
  vc4[dst + 2u * u] = qkv4[vBase + 2u * u];
  vc4[dst + 2u * u + 1u] = qkv4[vBase + 2u * u + 1u];
}
