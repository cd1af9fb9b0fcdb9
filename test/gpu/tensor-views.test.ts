import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { concatenatedView, stackedView } from '../../src/gpu/tensor.js';
import { testGpu } from '../helpers/gpu.js';

/**
 * Views over one buffer: splitRows cuts a tensor into row blocks, concatenatedView joins blocks that
 * lie back to back (q, k and v weights as one projection), stackedView stacks equal ones.
 */
describe('tensor views', () => {
  it('splitRows gives row blocks that read their own rows; concatenatedView joins only blocks back to back', async () => {
    const gpu = await testGpu();
    const data = Float32Array.from({ length: 6 * 64 }, (_, i) => i);
    const whole = gpu.upload(data, [6, 64]);
    const [a, b, c] = whole.splitRows([2, 1, 3]);
    assert.deepEqual([a!.shape, b!.shape, c!.shape], [[2, 64], [1, 64], [3, 64]]);
    assert.deepEqual([a!.byteOffset, b!.byteOffset, c!.byteOffset], [0, 2 * 256, 3 * 256]);
    assert.deepEqual(await gpu.readF32(b!), data.subarray(2 * 64, 3 * 64));
    assert.deepEqual(await gpu.readF32(c!), data.subarray(3 * 64));
    assert.throws(() => gpu.upload(data, [6, 64]).splitRows([2, 2]), /2\+2 rows do not make \[6x64\]/);

    // back to back again: one view over all of them; out of order, with a gap or another width: none
    const all = concatenatedView([a!, b!, c!]);
    assert.deepEqual(all?.shape, [6, 64]);
    assert.deepEqual(await gpu.readF32(all!), data);
    assert.equal(concatenatedView([a!, c!]), undefined);
    const [, offAligned] = gpu.upload(new Float32Array(8 * 16), [8, 16]).splitRows([1, 7]); // at 64 bytes
    assert.equal(concatenatedView([offAligned!]), undefined);
    assert.equal(concatenatedView([a!, gpu.upload(data.subarray(0, 64), [1, 64])]), undefined);
    assert.equal(concatenatedView([a!, b!.reshape([2, 32])]), undefined);
    // equal blocks stack; unequal ones do not
    assert.deepEqual(stackedView(gpu.upload(data, [6, 64]).splitRows([3, 3]))?.shape, [2, 3, 64]);
    assert.equal(stackedView([a!, b!]), undefined);
    a!.release();
  });
});
