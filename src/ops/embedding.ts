import { PonderError } from '../errors.js';
import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { shapeString, type Tensor } from '../gpu/tensor.js';
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
