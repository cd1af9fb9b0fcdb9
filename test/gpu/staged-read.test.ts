import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { matmul } from '../../src/ops/matmul.js';
import { testGpu } from '../helpers/gpu.js';

/**
 * Gpu.stage: a read-back whose copy is recorded when it is staged, so work recorded and submitted
 * after it (the next decode step) changes nothing in what it returns.
 */
describe('Gpu.stage', () => {
  it('returns the tensor as it was when staged, though later submitted work overwrites it', async () => {
    const gpu = await testGpu();
    const t = gpu.upload(Uint32Array.of(1, 2, 3), [3], 'u32');
    const first = gpu.stage(t);
    gpu.flush();
    gpu.write(t, Uint32Array.of(7, 8, 9));
    const second = gpu.stage(t);
    // later work on the queue, submitted before either result is asked for
    const a = gpu.upload(new Float32Array(64 * 64).fill(0.25), [64, 64]);
    const c = matmul(gpu, a, a);
    gpu.flush();
    assert.deepEqual([...(await second.result())], [7, 8, 9]);
    assert.deepEqual([...(await first.result())], [1, 2, 3]);
    assert.deepEqual([...(await gpu.readF32(c))].slice(0, 2), [4, 4]);
    for (const x of [t, a, c]) x.release();
  });

  it('submits its copy itself when nothing has, is taken once, and a cancelled one frees its buffer for the next', async () => {
    const gpu = await testGpu();
    const t = gpu.upload(Float32Array.of(0.5, -1.5), [2]);
    const staged = gpu.stage(t); // recorded, not submitted
    assert.deepEqual([...(await staged.result())], [0.5, -1.5]);
    await assert.rejects(staged.result(), (e: unknown) => e instanceof PonderError && /already taken or cancelled/.test(e.message));
    const dropped = gpu.stage(t);
    dropped.cancel();
    dropped.cancel(); // twice is harmless
    gpu.write(t, Float32Array.of(2, 3));
    assert.deepEqual([...(await gpu.readF32(t))], [2, 3]);
    t.release();
  });
});
