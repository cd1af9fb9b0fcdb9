import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { add } from '../../src/ops/add.js';
import { testGpu } from '../helpers/gpu.js';

/**
 * Gpu.write against recorded work: a write to a buffer that recorded, unsubmitted work reads or
 * copies must not be seen by that work (it is submitted first); a write to any other buffer lands
 * before the recording's submit without splitting it, which is what keeps a decode round to one
 * submit.
 */
describe('Gpu.write and recorded work', () => {
  it('recorded work sees what a buffer held when it was recorded, not a later write', async () => {
    const gpu = await testGpu();
    const a = gpu.upload(Float32Array.of(1, 2, 3), [3]);
    const b = gpu.upload(Float32Array.of(10, 20, 30), [3]);
    const out = add(gpu, a, b);
    const copied = gpu.empty([3], 'f32');
    gpu.copy(b, copied);
    gpu.write(b, Float32Array.of(100, 200, 300)); // b is bound and copied by recorded work
    assert.deepEqual([...(await gpu.readF32(out))], [11, 22, 33]);
    assert.deepEqual([...(await gpu.readF32(copied))], [10, 20, 30]);
    assert.deepEqual([...(await gpu.readF32(b))], [100, 200, 300]);
  });

  it('a write to a buffer no recorded work uses does not submit, and work recorded after it sees it', async () => {
    const gpu = await testGpu();
    const a = gpu.upload(Float32Array.of(1, 2), [2]);
    const first = add(gpu, a, a);
    const c = gpu.empty([2], 'f32');
    const before = gpu.submitCount;
    gpu.write(c, Float32Array.of(5, 7));
    assert.equal(gpu.submitCount, before, 'no submit for an unrelated buffer');
    const second = add(gpu, first, c);
    assert.deepEqual([...(await gpu.readF32(second))], [7, 11]);
  });
});
