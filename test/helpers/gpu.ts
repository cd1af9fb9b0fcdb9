import { after } from 'node:test';
import { Gpu } from '../../src/gpu/gpu.js';
import type { DType, Tensor } from '../../src/gpu/tensor.js';

/**
 * One Gpu per test file (opening a device costs ~250 ms on lavapipe), closed after the file's tests.
 * A missing adapter fails the tests loudly: CI installs lavapipe, so no adapter means a broken setup.
 */
let shared: Promise<Gpu> | undefined;

// Registered at import time, i.e. on the file's root test: runs once all the file's tests are done.
after(async () => {
  if (shared) (await shared).close();
});

export function testGpu(): Promise<Gpu> {
  shared ??= Gpu.open();
  return shared;
}

/** An output tensor pre-filled with NaN so unwritten elements fail the comparison. */
export function poisoned(gpu: Gpu, shape: readonly number[], dtype: DType = 'f32'): Tensor {
  const t = gpu.empty(shape, dtype, 'poisoned');
  if (dtype === 'f32') gpu.fill(t, NaN);
  else if (dtype === 'u32' || dtype === 'i32') gpu.fill(t, 0xdeadbeef | 0);
  return t;
}
