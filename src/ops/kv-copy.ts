import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { shapeString, overlaps, type Tensor } from '../gpu/tensor.js';
import { expectDtype, expectShape, fail } from './check.js';

/**
 * Slot-to-slot copies inside one layer's KV cache (wgsl/kv_copy.wgsl): each job copies the first
 * `positions` positions of every KV head of slot `from` into slot `to`, in K and V alike. This is how
 * a prompt prefilled once is shared by several sequences (batched sampling). WebGPU's
 * copyBufferToBuffer refuses a buffer as both source and destination, so it is a kernel: one
 * dispatch per layer for all the jobs.
 */
export interface SlotCopy {
  from: number;
  to: number;
  /** positions 0..positions-1 are copied */
  positions: number;
}

const OP = 'kvCopy';

/**
 * Records the copies in each layer's caches (kCaches[i], vCaches[i]: [S, Hkv, L, D], all the same
 * shape): one jobs table for all layers, one dispatch per layer. The jobs are checked here so the
 * kernel never races or writes out of bounds.
 */
export function kvCopy(gpu: Gpu, kCaches: readonly Tensor[], vCaches: readonly Tensor[], copies: readonly SlotCopy[]): void {
  if (kCaches.length !== vCaches.length) fail(OP, `${kCaches.length} K caches but ${vCaches.length} V caches`);
  if (kCaches.length === 0) return;
  const shape = kCaches[0]!.shape;
  if (shape.length !== 4) fail(OP, `kCaches[0] has shape ${shapeString(shape)}, expected rank 4 [S x Hkv x L x D]`);
  kCaches.forEach((k, i) => {
    const v = vCaches[i]!;
    expectDtype(OP, `kCaches[${i}]`, k, ['f32']);
    expectDtype(OP, `vCaches[${i}]`, v, ['f32']);
    expectShape(OP, `kCaches[${i}]`, k, shape, 'same as kCaches[0]');
    expectShape(OP, `vCaches[${i}]`, v, shape, 'same as kCaches[0]');
    if (overlaps(k, v)) fail(OP, `kCaches[${i}] and vCaches[${i}] must be different buffers`);
  });
  const [S, Hkv, L, D] = shape as [number, number, number, number];
  checkCopies(copies, S, L);
  const jobs = copies.filter((c) => c.positions > 0);
  if (jobs.length === 0 || Hkv * D === 0) return;
  const maxLen = Math.max(...jobs.map((c) => c.positions));
  const n = jobs.length * Hkv * maxLen * D;
  const WG = 256;
  const table = gpu.upload(Uint32Array.from(jobs.flatMap((c) => [c.from, c.to, c.positions])), [jobs.length, 3], 'u32', 'kvCopy.jobs');
  const params = new Params().u32(n).u32(maxLen).u32(Hkv).u32(D).u32(L);
  const workgroups = grid1d(Math.ceil(n / WG), gpu.limits.maxComputeWorkgroupsPerDimension);
  kCaches.forEach((k, i) => gpu.dispatch({ file: 'kv_copy.wgsl', constants: { WG }, params, tensors: [k, vCaches[i]!, table], workgroups }));
  // back to the pool: whatever reuses the buffer is written (after a flush) or recorded after this
  table.release();
}

/** Slots in range, lengths within the cache, and no slot both written by one job and touched by another. */
function checkCopies(copies: readonly SlotCopy[], S: number, L: number): void {
  const written = new Set<number>();
  const read = new Set<number>();
  for (const [j, c] of copies.entries()) {
    for (const [name, s] of [['from', c.from], ['to', c.to]] as const) {
      if (!Number.isInteger(s) || s < 0 || s >= S) fail(OP, `copy ${j}: ${name} slot ${s} is outside the cache's 0..${S - 1}`);
    }
    if (!Number.isInteger(c.positions) || c.positions < 0 || c.positions > L) fail(OP, `copy ${j}: ${c.positions} positions, the cache has ${L}`);
    if (c.from === c.to) fail(OP, `copy ${j}: slot ${c.from} onto itself`);
    if (written.has(c.to) || read.has(c.to)) fail(OP, `copy ${j}: slot ${c.to} is written while another copy reads or writes it`);
    if (written.has(c.from)) fail(OP, `copy ${j}: slot ${c.from} is read while another copy writes it`);
    written.add(c.to);
    read.add(c.from);
  }
}
