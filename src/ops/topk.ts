import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectDtype, expectRank, expectShape, fail } from './check.js';
import { expectDistinct } from './softmax.js';

/** Largest k topk accepts (MAX_K in wgsl/topk.wgsl: the size of each thread's private list). */
export const TOPK_MAX_K = 64;

/** Threads per row: a power of two >= TOPK_MAX_K (the threshold phase needs >= k slices). */
function topkWorkgroupSize(cols: number): number {
  if (cols <= 4096) return 64;
  if (cols <= 16384) return 128;
  return 256;
}

/**
 * The k largest entries of each row of x [R, C] (f32): values f32 [R, k] sorted descending and
 * their indices u32 [R, k]. Ties list the lower index first; NaN counts as larger than every number
 * and -0 equals +0 (the argmax order). 1 <= k <= min(C, TOPK_MAX_K).
 */
export function topk(gpu: Gpu, x: Tensor, k: number, out: { values?: Tensor; indices?: Tensor } = {}): { values: Tensor; indices: Tensor } {
  expectDtype('topk', 'x', x, ['f32']);
  expectRank('topk', 'x', x, [2]);
  const [rows, cols] = x.shape;
  if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX_K || k > cols) {
    fail('topk', `k = ${k} is not valid for x of shape [${rows}x${cols}]: need 1 <= k <= min(C = ${cols}, ${TOPK_MAX_K})`);
  }
  const values = out.values ?? gpu.empty([rows, k], 'f32', 'topk.values');
  const indices = out.indices ?? gpu.empty([rows, k], 'u32', 'topk.indices');
  expectDtype('topk', 'values', values, ['f32']);
  expectShape('topk', 'values', values, [rows, k], 'R x k');
  expectDtype('topk', 'indices', indices, ['u32']);
  expectShape('topk', 'indices', indices, [rows, k], 'R x k');
  expectDistinct('topk', 'x', x, 'values', values);
  expectDistinct('topk', 'x', x, 'indices', indices);
  expectDistinct('topk', 'values', values, 'indices', indices);
  gpu.dispatch({
    file: 'topk.wgsl',
    constants: { WG: topkWorkgroupSize(cols) },
    params: new Params().u32(rows).u32(cols).u32(k),
    tensors: [x, values, indices],
    workgroups: grid1d(rows, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return { values, indices };
}
