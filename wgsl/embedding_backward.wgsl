// Embedding backward: dtable[id, :] += sum of dout[n, :] over the positions n with ids[n] == id,
// deterministic and without float atomics.
//
// The ids are known on the CPU during training, so the wrapper (src/ops/embedding.ts) builds a CSR
// there: `uniq` the distinct in-range ids in increasing order, `offsets` [U + 1] and `positions` the
// token positions holding each id, in increasing order. Then one workgroup per distinct id: its WG
// threads stride over the D columns, each sums its column over the id's positions in CSR order (a
// fixed order, so reruns are bit-identical) into a register and adds the sum into dtable once. No two
// workgroups touch the same row, so no atomics are needed. main_vec4 does the same on vec4 views
// when D % 4 == 0 (p.dim then in vec4s). Grid: grid1d over the distinct ids of this dispatch.
// Cost: N*D reads of dout, U*D reads and writes of dtable, N*D adds; rows never used stay untouched.
//
// Chunked tables (see EmbeddingTable): one dispatch per chunk over the contiguous run of `uniq` that
// falls in the chunk's rows [row_start, row_start + rows), u_start/u_count select that run.
// zero / zero_vec4 clear a chunk first when the caller does not accumulate.

struct Params {
  dim: u32,        // D (main, zero) or D / 4 (*_vec4)
  u_start: u32,    // first index into uniq of this dispatch
  u_count: u32,    // distinct ids in this dispatch (zero*: elements to clear)
  row_start: u32,  // first vocabulary row held by this chunk
}

override WG: u32 = 64;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> uniq: array<u32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;
// Other views (each entry point statically uses one view per binding).
@group(0) @binding(4) var<storage, read> dout4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> dtable4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> clear: array<f32>;
@group(0) @binding(1) var<storage, read_write> clear4: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= p.u_count) { return; }
  let u = p.u_start + g;
  let dst = (uniq[u] - p.row_start) * p.dim;
  let k0 = offsets[u];
  let k1 = offsets[u + 1u];
  for (var d = lid; d < p.dim; d += WG) {
    var acc = 0.0;
    for (var k = k0; k < k1; k++) { acc += dout[positions[k] * p.dim + d]; }
    dtable[dst + d] += acc;
  }
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= p.u_count) { return; }
  let u = p.u_start + g;
  let dst = (uniq[u] - p.row_start) * p.dim;
  let k0 = offsets[u];
  let k1 = offsets[u + 1u];
  for (var d = lid; d < p.dim; d += WG) {
    var acc = vec4f(0.0);
    for (var k = k0; k < k1; k++) { acc += dout4[positions[k] * p.dim + d]; }
    dtable4[dst + d] += acc;
  }
}

@compute @workgroup_size(WG)
fn zero(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.u_count) { clear[i] = 0.0; }
}

@compute @workgroup_size(WG)
fn zero_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.u_count) { clear4[i] = vec4f(0.0); }
}
