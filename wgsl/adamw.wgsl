// AdamW update of one parameter tensor (decoupled weight decay, PyTorch semantics):
//   g = grad * clip_scale
//   m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
//   p = p (1 - lr wd) - lr * (m / bc1) / (sqrt(v / bc2) + eps)      bc_i = 1 - b_i^t
// i.e. p -= lr * (mhat / (sqrt(vhat) + eps) + wd p) with the old p, as torch.optim.AdamW does.
// clip_scale, bc1, bc2 and the apply flag come from grad_norm.wgsl's finalize (a small GPU buffer),
// so the optimizer never reads anything back: when the global grad norm is NaN/Inf, apply = 0 and
// every thread returns without touching p, m or v (the flag is the same for all threads).
// ITEMS elements per thread, grid split by grid1d. Cost: 4 reads + 3 writes (28 bytes) and ~15 flops
// per element: purely bandwidth bound.

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
// elements per thread: a workgroup updates WG·ITEMS of them, thread t every WG-th from t (coalesced
// on GPUs). One element per thread made a 47M-parameter model ~130k workgroups, and on lavapipe
// their start-up cost (~1.5 µs each) was most of the step's ~270 ms.
override ITEMS: u32 = 16;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> scalars: array<f32>;   // [apply, clip_scale, bc1, bc2]

@compute @workgroup_size(WG)
fn adamw(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (scalars[0] == 0.0) { return; }
  let base = (wid.x + wid.y * nwg.x) * WG * ITEMS;
  let clip = scalars[1];
  let bc1 = scalars[2];
  let bc2 = scalars[3];
  let shrink = 1.0 - p.lr * p.weight_decay;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG + lid;
    if (i >= p.n) { return; }
    let g = grad[i] * clip;
    let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
    let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    let mhat = mi / bc1;
    let vhat = vi / bc2;
    param[i] = param[i] * shrink - p.lr * mhat / (sqrt(vhat) + p.eps);
  }
}
