// Embedding gather: out[n, :] = table[ids[n], :] for ids u32 [N] and a table f32 [V, D].
//
// One workgroup per token: the workgroup reads its id once (a uniform value, so a whole workgroup
// that has nothing to do exits at once) and its WG threads stride over the D columns, so each
// thread copies ~D/WG floats with consecutive threads touching consecutive addresses. main_vec4
// does the same through vec4 views of the bindings when D % 4 == 0 (p.dim is then in vec4s): 4x
// fewer loads and invocations, which is what costs on lavapipe. The grid may be split over x and y
// (grid1d in src/gpu/gpu.ts) for N > 65535. Cost: pure copy, N*D*4 bytes read and written.
//
// Large vocabularies: a [151936 x 896] f32 table is 519 MiB, more than some adapters allow in one
// storage binding (lavapipe: 128 MiB). The wrapper then takes the table as row chunks and
// dispatches this kernel once per chunk; a dispatch copies only the ids in
// [row_start, row_start + row_count) and skips the others, so every output row is written by
// exactly one dispatch. Ids >= vocab (out of range) never index the table: the dispatch with
// zero_fill = 1 (the first one) writes a zero row for them instead.

struct Params {
  n: u32,          // number of ids
  dim: u32,        // D (main) or D / 4 (main_vec4)
  row_start: u32,  // first vocabulary row held by `table` in this dispatch
  row_count: u32,  // rows held by `table`
  vocab: u32,      // V over all chunks
  zero_fill: u32,  // 1: this dispatch writes zeros for ids >= vocab
}

override WG: u32 = 64;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// vec4 views, used only by main_vec4 (each entry point binds one view).
@group(0) @binding(2) var<storage, read> table4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tok = wid.x + wid.y * nwg.x;
  if (tok >= p.n) { return; }
  let id = ids[tok];
  let dst = tok * p.dim;
  if (id >= p.vocab) {
    if (p.zero_fill != 0u) {
      for (var d = lid; d < p.dim; d += WG) { out[dst + d] = 0.0; }
    }
    return;
  }
  // Unsigned wrap-around makes ids below row_start fail this test too.
  let local_row = id - p.row_start;
  if (local_row >= p.row_count) { return; }
  let src = local_row * p.dim;
  for (var d = lid; d < p.dim; d += WG) { out[dst + d] = table[src + d]; }
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tok = wid.x + wid.y * nwg.x;
  if (tok >= p.n) { return; }
  let id = ids[tok];
  let dst = tok * p.dim;
  if (id >= p.vocab) {
    if (p.zero_fill != 0u) {
      for (var d = lid; d < p.dim; d += WG) { out4[dst + d] = vec4f(0.0); }
    }
    return;
  }
  let local_row = id - p.row_start;
  if (local_row >= p.row_count) { return; }
  let src = local_row * p.dim;
  for (var d = lid; d < p.dim; d += WG) { out4[dst + d] = table4[src + d]; }
}
