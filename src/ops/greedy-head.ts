import type { Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectDtype, expectShape, fail } from './check.js';

/**
 * The final norm, the LM head and the argmax of a few rows in one dispatch (greedy_head.wgsl):
 * normed[r] = rmsnorm(x[r]) ∘ norm and ids[r] = argmax over v of normed[r] · head[v], ties to the
 * lowest index, NaN largest (ops/argmax.ts's order). The same arithmetic as ops/rmsnorm, ops/matmul
 * and ops/argmax in another summation order, so a near-tie may go the other way: it is for an MTP
 * module's drafts, which the trunk verifies, never for the tokens a model emits. Taken on a
 * software adapter (greedyHeadFits), where the three dispatches cost more than their arithmetic.
 */

const OP = 'greedyHead';
const WG = 64;
/** Widest hidden size: the normed row and the reductions must fit the workgroup memory. */
const MAX_HIDDEN = 2048;

/** Whether the fused head takes `rows` rows: f32, H a multiple of 4 up to MAX_HIDDEN, a software adapter unless told otherwise. */
export function greedyHeadFits(gpu: Gpu, norm: Tensor, head: Tensor, rows: number, opts: { softwareOnly?: boolean } = {}): boolean {
  if ((opts.softwareOnly ?? true) && !gpu.info.software) return false;
  const H = norm.size;
  if (H % 4 || H > MAX_HIDDEN || rows < 1 || rows > gpu.limits.maxComputeWorkgroupsPerDimension) return false;
  return norm.dtype === 'f32' && head.dtype === 'f32';
}

/** ids u32 [R] (returned, new) and normed [R, H] (written) for x [R, H] (header). */
export function greedyHead(gpu: Gpu, x: Tensor, norm: Tensor, head: Tensor, eps: number, normed: Tensor): Tensor {
  const H = norm.size;
  const [R, V] = [x.shape[0]!, head.shape[0]!];
  if (H % 4 || H > MAX_HIDDEN) fail(OP, `hidden size ${H}: the fused head takes multiples of 4 up to ${MAX_HIDDEN}`);
  for (const [name, t] of [['x', x], ['normed', normed]] as const) {
    expectDtype(OP, name, t, ['f32']);
    expectShape(OP, name, t, [R, H], 'R x hidden');
  }
  expectShape(OP, 'head', head, [V, H], 'vocab x hidden');
  if (normed === x) fail(OP, 'normed must not be the rows it reads');
  const ids = gpu.empty([R], 'u32', 'greedyHead.ids');
  gpu.dispatch({
    file: 'greedy_head.wgsl',
    constants: { WG, NS4: H / 4 },
    params: new Params().u32(H).u32(H / 4).u32(V).f32(eps),
    tensors: [x, norm, head, normed, ids],
    workgroups: [R],
  });
  return ids;
}
