import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectDtype, expectShape } from './check.js';

const WG = 256;

/** out = a + b, elementwise over same-shaped f32 tensors (the residual add). */
export function add(gpu: Gpu, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  expectDtype('add', 'a', a, ['f32']);
  expectDtype('add', 'b', b, ['f32']);
  expectShape('add', 'b', b, a.shape, 'same as a');
  const o = out ?? gpu.empty(a.shape, 'f32', 'add.out');
  expectShape('add', 'out', o, a.shape, 'same as a');
  gpu.dispatch({
    file: 'add.wgsl',
    entry: 'add',
    constants: { WG },
    params: new Params().u32(a.size),
    tensors: [a, b, o],
    workgroups: grid1d(Math.ceil(a.size / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return o;
}

/** x += y in place. */
export function addInPlace(gpu: Gpu, x: Tensor, y: Tensor): Tensor {
  expectDtype('addInPlace', 'x', x, ['f32']);
  expectShape('addInPlace', 'y', y, x.shape, 'same as x');
  gpu.dispatch({
    file: 'add_inplace.wgsl',
    constants: { WG },
    params: new Params().u32(x.size),
    tensors: [x, y],
    workgroups: grid1d(Math.ceil(x.size / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return x;
}
