// AdamW update of one parameter tensor (decoupled weight decay, PyTorch semantics):
//   g = grad * clip_scale
//   m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
//   p = p (1 - lr wd) - lr * (m / bc1) / (sqrt(v / bc2) + eps)      bc_i = 1 - b_i^t
// i.e. p -= lr * (mhat / (sqrt(vhat) + eps) + wd p) with the old p, as torch.optim.AdamW does.
// clip_scale, bc1, bc2 and the apply flag come from grad_norm.wgsl's finalize (a small GPU buffer),
// so the optimizer never reads anything back: when the global grad norm is NaN/Inf, apply = 0 and
// every thread returns without touching p, m or v (the flag is the same for all threads).
// `adamw4` updates a tensor whose length is a multiple of 4 as vec4s, `adamw` any other one element
// by element; ITEMS items per thread, grid split by grid1d. Cost: 4 reads + 3 writes (28 bytes) and
// ~15 flops per element: bandwidth bound.

struct Params {
  n: u32,
  lr: f32,
  beta1: f32,
  one_minus_beta1: f32,   // computed in float64 on the CPU
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  weight_decay: f32,      // 0 for params that do not decay (norms, biases)
}

override WG: u32 = 256;
// items per thread: a workgroup updates WG·ITEMS of them, thread t every WG-th from t (coalesced on
// GPUs). One element per thread made a 47M-parameter model ~130k workgroups, and on lavapipe their
// start-up cost (~1.5 µs each) was most of the step's ~270 ms.
override ITEMS: u32 = 4;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> scalars: array<f32>;   // [apply, clip_scale, bc1, bc2]

// ---- adamw4: the tensor as vec4s (n = elements / 4): ~25% faster than scalars on lavapipe
@group(0) @binding(1) var<storage, read_write> param4: array<vec4f>;
@group(0) @binding(2) var<storage, read> grad4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> v4: array<vec4f>;

// ---- adamw: any length, one element per item (bindings re-declared; each entry point uses its set)
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

struct Moments {
  m: vec4f,
  v: vec4f,
  x: vec4f,   // the updated param
}

// The update of up to four elements (the scalar entry uses lane 0).
fn update(x: vec4f, grad_in: vec4f, m_in: vec4f, v_in: vec4f) -> Moments {
  let g = grad_in * scalars[1];
  let mi = p.beta1 * m_in + p.one_minus_beta1 * g;
  let vi = p.beta2 * v_in + p.one_minus_beta2 * g * g;
  let mhat = mi / scalars[2];
  let vhat = vi / scalars[3];
  let x_new = x * (1.0 - p.lr * p.weight_decay) - p.lr * mhat / (sqrt(vhat) + p.eps);
  return Moments(mi, vi, x_new);
}

@compute @workgroup_size(WG)
fn adamw4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (scalars[0] == 0.0) { return; }
  let base = (wid.x + wid.y * nwg.x) * WG * ITEMS;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG + lid;
    if (i >= p.n) { return; }
    let u = update(param4[i], grad4[i], m4[i], v4[i]);
    m4[i] = u.m;
    v4[i] = u.v;
    param4[i] = u.x;
  }
}

@compute @workgroup_size(WG)
fn adamw(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (scalars[0] == 0.0) { return; }
  let base = (wid.x + wid.y * nwg.x) * WG * ITEMS;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG + lid;
    if (i >= p.n) { return; }
    let u = update(vec4f(param[i], 0.0, 0.0, 0.0), vec4f(grad[i], 0.0, 0.0, 0.0), vec4f(m[i], 0.0, 0.0, 0.0), vec4f(v[i], 0.0, 0.0, 0.0));
    m[i] = u.m.x;
    v[i] = u.v.x;
    param[i] = u.x.x;
  }
}
