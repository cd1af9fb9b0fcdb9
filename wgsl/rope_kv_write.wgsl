// Rotary position embedding of q and k in place, and the new keys and values appended to a layer's
// KV cache, in one dispatch: what rope_inplace.wgsl (q), rope_inplace.wgsl (k) and kv_write.wgsl do
// one after another, with the same arithmetic (each rotated value is a·c − b·s or b·c + a·s of the
// same f32 operands), so the same bits. Three dispatches became one because at the shapes ponder
// decodes and prefills on a CPU adapter each of them cost mostly its fixed ~30-90 µs.
//
//   q[tok, h, :]  = rope(q[tok, h, :], positions[tok])            h < Hq
//   k[tok, h, :]  = rope(k[tok, h, :], positions[tok])            h < Hkv
//   kc[slots[b], h, starts[b] + t, :] = k[tok, h, :],  vc likewise from v,   tok = b·T + t
//
// q [B·T, Hq, D], k and v [B·T, Hkv, D], caches [S, Hkv, L, D], slots/starts u32 [B], positions u32
// [B·T], cos/sin tables [max_pos, half] (rope.wgsl: HF's rotate_half; dims past 2·half pass
// through). D % 8 == 0 and half % 4 == 0 (vec4 rows and quads).
//
// Pairs: for j < D/2 of a (token, head), the rotary pair (j, j + half) when j < half; else the
// pass-through dims 2·half + 2(j − half) = 2j and 2j + 1 (q's stay where they are); and v's dims 2j
// and 2j + 1: each of the D dims of k and of v is moved by exactly one thread. A thread takes four
// such j (main below). Clamping as the kernels it replaces: positions past the
// tables use the last row; slots[b] ≥ S or positions starts[b] + t ≥ L are not written.

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
@group(0) @binding(1) var<storage, read_write> q4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> k4: array<vec4f>;
// v is only read, but bound read_write: k and v are often the two halves of one buffer (a stacked
// k/v projection), and WebGPU lets a dispatch bind one buffer twice only when no binding is read-only
// next to a writable one.
@group(0) @binding(3) var<storage, read_write> v4: array<vec4f>;
@group(0) @binding(4) var<storage, read> positions: array<u32>;
@group(0) @binding(5) var<storage, read> cos4: array<vec4f>;
@group(0) @binding(6) var<storage, read> sin4: array<vec4f>;
@group(0) @binding(7) var<storage, read> slots: array<u32>;
@group(0) @binding(8) var<storage, read> starts: array<u32>;
@group(0) @binding(9) var<storage, read_write> kc4: array<vec4f>;
@group(0) @binding(10) var<storage, read_write> vc4: array<vec4f>;

// Four pairs a thread (half % 4 == 0, D % 8 == 0; D and half in vec4s): thread u of a head covers
// j = 4u..4u+3, a rotary quad of pairs (one vec4 at 4u and one at 4u + half) or the pass-through
// dims 8u..8u+7 (two vec4s), and v's dims 8u..8u+7. Other head dims run rope, rope and kvWrite
// (ops/rope-kv-write.ts ropeAndCache).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let U = p.D / 2u;  // threads a head (D in vec4s: D/8 in floats)
  let u = i % U;
  let r = i / U;
  let heads = p.Hq + p.Hkv;
  let hs = r % heads;
  let tok = r / heads;
  let pos = min(positions[tok], p.max_pos - 1u);
  if (hs < p.Hq) {
    if (u < p.half) {
      let base = (tok * p.Hq + hs) * p.D;
      let c = cos4[pos * p.half + u];
      let s = sin4[pos * p.half + u];
      let a = q4[base + u];
      let b = q4[base + u + p.half];
      q4[base + u] = a * c - b * s;
      q4[base + u + p.half] = b * c + a * s;
    }
    return;
  }
  let h = hs - p.Hq;
  let base = (tok * p.Hkv + h) * p.D;
  var d0 = u;
  var d1 = u + p.half;
  var k0: vec4f;
  var k1: vec4f;
  if (u < p.half) {
    let c = cos4[pos * p.half + u];
    let s = sin4[pos * p.half + u];
    let a = k4[base + d0];
    let b = k4[base + d1];
    k0 = a * c - b * s;
    k1 = b * c + a * s;
    k4[base + d0] = k0;
    k4[base + d1] = k1;
  } else {
    d0 = 2u * u;
    d1 = d0 + 1u;
    k0 = k4[base + d0];
    k1 = k4[base + d1];
  }
  let b = tok / p.T;
  let t = tok % p.T;
  let slot = slots[b];
  let start = starts[b];
  if (slot >= p.S || start >= p.L || t >= p.L - start) { return; }
  let dst = ((slot * p.Hkv + h) * p.L + start + t) * p.D;
  kc4[dst + d0] = k0;
  kc4[dst + d1] = k1;
  vc4[dst + 2u * u] = v4[base + 2u * u];
  vc4[dst + 2u * u + 1u] = v4[base + 2u * u + 1u];
}
