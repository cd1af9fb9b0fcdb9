import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectDtype, expectRank, expectShape, fail } from './check.js';
import { expectDistinct, rowWorkgroupSize } from './softmax.js';

/**
 * Index of the maximum of each row of x [R, C] (f32) -> u32 [R] (greedy decoding).
 * Deterministic: ties go to the lowest index, and -0 equals +0. NaN counts as larger than every
 * number (numpy/torch semantics): a row containing NaN returns the index of its first NaN. A row
 * of all -inf returns 0.
 */
export function argmax(gpu: Gpu, x: Tensor, out?: Tensor): Tensor {
  expectDtype('argmax', 'x', x, ['f32']);
  expectRank('argmax', 'x', x, [2]);
  const [rows, cols] = x.shape;
  if (cols === 0) fail('argmax', `x has shape [${rows}x${cols}]: rows are empty`);
  const o = out ?? gpu.empty([rows], 'u32', 'argmax.out');
  expectDtype('argmax', 'out', o, ['u32']);
  expectShape('argmax', 'out', o, [rows], 'R, the rows of x [R x C]');
  expectDistinct('argmax', 'x', x, 'out', o);
  gpu.dispatch({
    file: 'argmax.wgsl',
    constants: { WG: rowWorkgroupSize(cols) },
    params: new Params().u32(rows).u32(cols),
    tensors: [x, o],
    workgroups: grid1d(rows, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return o;
}
