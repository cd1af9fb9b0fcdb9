import { PonderError } from '../errors.js';
import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { shapeString, overlaps, type Tensor } from '../gpu/tensor.js';
import { formatBytes } from '../gpu/pool.js';
import { expectDtype, expectRank, expectShape, fail } from './check.js';

/** Threads per token. */
const WG = 32;

/**
 * An embedding table f32 [V, D]: one tensor, or row chunks [V_0, D], [V_1, D], ... that together
 * hold rows 0..V-1 in order. Chunks exist because a big vocabulary (151936 x 896 f32 = 519 MiB)
 * can exceed the adapter's maxStorageBufferBindingSize (128 MiB on lavapipe); `uploadTable` splits
 * a table only when it has to.
 */
export type EmbeddingTable = Tensor | readonly Tensor[];

/** The most rows of width `dim` one f32 storage binding may hold on this device. */
export function maxTableRows(gpu: Gpu, dim: number): number {
  return Math.max(1, Math.floor(gpu.limits.maxStorageBufferBindingSize / (dim * 4)));
}

/**
 * Uploads a row-major f32 [vocab, dim] table, as one tensor when it fits in one storage binding and
 * as row chunks of at most `maxRows` rows (default: `maxTableRows`) otherwise.
 */
export function uploadTable(gpu: Gpu, data: Float32Array, vocab: number, dim: number, opts: { maxRows?: number; label?: string } = {}): EmbeddingTable {
  if (data.length !== vocab * dim) fail('uploadTable', `${data.length} values do not fill shape ${shapeString([vocab, dim])}`);
  const maxRows = opts.maxRows ?? maxTableRows(gpu, dim);
  if (vocab <= maxRows) return gpu.upload(data, [vocab, dim], 'f32', opts.label);
  const chunks: Tensor[] = [];
  for (let r = 0; r < vocab; r += maxRows) {
    const rows = Math.min(maxRows, vocab - r);
    chunks.push(gpu.upload(data.subarray(r * dim, (r + rows) * dim), [rows, dim], 'f32', opts.label && `${opts.label}[${chunks.length}]`));
  }
  return chunks;
}

/**
 * Embedding gather: out[n, :] = table[ids[n], :]. `ids` u32 of any shape (flattened to N),
 * `table` f32 [V, D] (or row chunks, see EmbeddingTable) -> out f32 [...ids.shape, D].
 * Ids >= V never read out of bounds: their output row is all zeros.
 * One dispatch per table chunk (one for an unsplit table).
 */
export function embedding(gpu: Gpu, ids: Tensor, table: EmbeddingTable, out?: Tensor): Tensor {
  const chunks: readonly Tensor[] = Array.isArray(table) ? table : [table as Tensor];
  expectDtype('embedding', 'ids', ids, ['u32']);
  if (chunks.length === 0) fail('embedding', 'table has no chunks');
  for (const [i, c] of chunks.entries()) {
    const name = chunks.length > 1 ? `table[${i}]` : 'table';
    expectDtype('embedding', name, c, ['f32']);
    expectRank('embedding', name, c, [2]);
  }
  const dim = chunks[0].shape[1];
  if (dim === 0) fail('embedding', `table has shape ${shapeString(chunks[0].shape)}, expected D > 0`);
  for (const [i, c] of chunks.entries()) {
    if (c.shape[1] !== dim) fail('embedding', `table[${i}] has shape ${shapeString(c.shape)}, expected [V_${i} x ${dim}] (the width of table[0])`);
  }
  const vocab = chunks.reduce((v, c) => v + c.shape[0], 0);
  const outShape = [...ids.shape, dim];
  const o = out ?? gpu.empty(outShape, 'f32', 'embedding.out');
  expectDtype('embedding', 'out', o, ['f32']);
  expectShape('embedding', 'out', o, outShape, '[...ids.shape x D]');

  const maxBinding = gpu.limits.maxStorageBufferBindingSize;
  for (const c of chunks) {
    if (c.byteSize > maxBinding) {
      throw new PonderError(
        'DEVICE_LIMIT',
        `embedding: table ${c} is ${formatBytes(c.byteSize)}, over this device's maxStorageBufferBindingSize of ${formatBytes(maxBinding)}`,
        `split it into row chunks of at most ${maxTableRows(gpu, dim)} rows (uploadTable in src/ops/embedding.ts does this)`,
      );
    }
  }

  const n = ids.size;
  // vec4 views when rows are 16-byte multiples (D % 4 == 0: every real model).
  const vec4 = dim % 4 === 0;
  const dimUnits = vec4 ? dim / 4 : dim;
  const workgroups = grid1d(n, gpu.limits.maxComputeWorkgroupsPerDimension);
  let rowStart = 0;
  for (const [i, c] of chunks.entries()) {
    gpu.dispatch({
      file: 'embedding.wgsl',
      entry: vec4 ? 'main_vec4' : 'main',
      constants: { WG },
      params: new Params().u32(n).u32(dimUnits).u32(rowStart).u32(c.shape[0]).u32(vocab).u32(i === 0 ? 1 : 0),
      tensors: [ids, c, o],
      workgroups,
    });
    rowStart += c.shape[0];
  }
  return o;
}

/**
 * The CSR the embedding backward scatters with: `uniq` the distinct ids < vocab in increasing order,
 * `positions` the token positions holding uniq[u] at offsets[u] .. offsets[u + 1] - 1, increasing.
 * Ids >= vocab are left out (their forward row is zero, so they get no gradient).
 */
export function embeddingCsr(ids: ArrayLike<number>, vocab: number): { uniq: Uint32Array; offsets: Uint32Array; positions: Uint32Array } {
  const order: number[] = [];
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (!Number.isInteger(id) || id < 0) fail('embeddingBackward', `ids[${n}] is ${id}, expected an integer >= 0`);
    if (id < vocab) order.push(n);
  }
  order.sort((a, b) => ids[a] - ids[b] || a - b);
  const positions = Uint32Array.from(order);
  const uniq: number[] = [];
  const offsets: number[] = [];
  for (let k = 0; k < order.length; k++) {
    const id = ids[order[k]];
    if (k === 0 || id !== ids[order[k - 1]]) {
      uniq.push(id);
      offsets.push(k);
    }
  }
  offsets.push(order.length);
  return { uniq: Uint32Array.from(uniq), offsets: Uint32Array.from(offsets), positions };
}

/**
 * Embedding backward: dtable[ids[n], :] += dout[n, :] for every n (ids >= V are skipped), where
 * `ids` is the CPU copy of the forward's token ids (N of them), dout f32 with N * D elements and last
 * dim D, and dtable f32 [V, D] or row chunks like the forward's table. Without `opts.accumulate`
 * dtable is first cleared, i.e. it receives exactly this batch's gradient.
 * Deterministic without atomics: the ids are grouped on the CPU (embeddingCsr) and one workgroup per
 * distinct id sums its rows in position order. One upload, then one dispatch per chunk (plus one
 * clearing dispatch per chunk when not accumulating).
 */
export function embeddingBackward(gpu: Gpu, ids: ArrayLike<number>, dout: Tensor, dtable: EmbeddingTable, opts: { accumulate?: boolean } = {}): void {
  const op = 'embeddingBackward';
  const chunks: readonly Tensor[] = Array.isArray(dtable) ? dtable : [dtable as Tensor];
  expectDtype(op, 'dout', dout, ['f32']);
  if (chunks.length === 0) fail(op, 'dtable has no chunks');
  for (const [i, c] of chunks.entries()) {
    const name = chunks.length > 1 ? `dtable[${i}]` : 'dtable';
    expectDtype(op, name, c, ['f32']);
    expectRank(op, name, c, [2]);
    if (overlaps(c, dout)) fail(op, `${name} must not share a buffer with dout`);
  }
  const dim = chunks[0].shape[1];
  if (dim === 0) fail(op, `dtable has shape ${shapeString(chunks[0].shape)}, expected D > 0`);
  for (const [i, c] of chunks.entries()) {
    if (c.shape[1] !== dim) fail(op, `dtable[${i}] has shape ${shapeString(c.shape)}, expected [V_${i} x ${dim}] (the width of dtable[0])`);
  }
  const n = ids.length;
  if (dout.shape.length === 0 || dout.shape[dout.shape.length - 1] !== dim || dout.size !== n * dim) {
    fail(op, `dout has shape ${shapeString(dout.shape)}, expected [${n} x ${dim}] ([N x D] for ${n} ids and dtable ${shapeString(chunks[0].shape)})`);
  }
  const vocab = chunks.reduce((v, c) => v + c.shape[0], 0);
  const csr = embeddingCsr(ids, vocab);

  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const vec4 = dim % 4 === 0;
  const u = vec4 ? 4 : 1;
  if (!opts.accumulate) {
    for (const c of chunks) {
      const count = c.size / u;
      gpu.dispatch({
        file: 'embedding_backward.wgsl',
        entry: vec4 ? 'zero_vec4' : 'zero',
        constants: { WG },
        params: new Params().u32(dim / u).u32(0).u32(count).u32(0),
        tensors: [c],
        workgroups: grid1d(Math.ceil(count / WG), maxWg),
      });
    }
  }
  const distinct = csr.uniq.length;
  if (distinct === 0) return;
  const tUniq = gpu.upload(csr.uniq, [distinct], 'u32', 'embedding.csr-uniq');
  const tOffsets = gpu.upload(csr.offsets, [distinct + 1], 'u32', 'embedding.csr-offsets');
  const tPositions = gpu.upload(csr.positions, [csr.positions.length], 'u32', 'embedding.csr-positions');
  let rowStart = 0;
  let uStart = 0;
  for (const c of chunks) {
    const rowEnd = rowStart + c.shape[0];
    let uEnd = uStart;
    while (uEnd < distinct && csr.uniq[uEnd] < rowEnd) uEnd++;
    if (uEnd > uStart) {
      gpu.dispatch({
        file: 'embedding_backward.wgsl',
        entry: vec4 ? 'main_vec4' : 'main',
        constants: { WG },
        params: new Params().u32(dim / u).u32(uStart).u32(uEnd - uStart).u32(rowStart),
        tensors: [tUniq, tOffsets, tPositions, dout, c],
        workgroups: grid1d(uEnd - uStart, maxWg),
      });
    }
    rowStart = rowEnd;
    uStart = uEnd;
  }
  // Safe to recycle now: any later reuse is recorded or written after these dispatches.
  tUniq.release();
  tOffsets.release();
  tPositions.release();
}
