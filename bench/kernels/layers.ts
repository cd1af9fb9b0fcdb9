import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import type { KernelBenchCase } from '../../src/engine/bench/types.js';
import { add } from '../../src/ops/add.js';
import { embedding, maxTableRows, type EmbeddingTable } from '../../src/ops/embedding.js';
import { rmsnorm } from '../../src/ops/rmsnorm.js';
import { rope, ropeTables } from '../../src/ops/rope.js';
import { swiglu } from '../../src/ops/swiglu.js';

/**
 * Per-token layer kernels at Qwen2.5-0.5B shapes (hidden 896, 14 q heads / 2 kv heads of dim 64,
 * intermediate 4864, vocab 151936): 128-token prefill chunks, single-token decode and a 2048-token
 * prefill. All memory bound; `bytes` is each input read once plus each output written once.
 */

const F32 = 4;

function randomize(gpu: Gpu, t: Tensor): void {
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 12.9898) * 2;
  gpu.write(t, data);
}

function rmsnormCase(rows: number, dim: number): KernelBenchCase {
  return {
    name: 'rmsnorm',
    shape: `${rows}x${dim}`,
    flops: 4 * rows * dim,
    bytes: (2 * rows * dim + dim) * F32,
    setup(gpu) {
      const x = gpu.empty([rows, dim]);
      const w = gpu.empty([dim]);
      const out = gpu.empty([rows, dim]);
      randomize(gpu, x);
      randomize(gpu, w);
      return {
        run: () => void rmsnorm(gpu, x, w, { eps: 1e-6 }, out),
        dispose: () => [x, w, out].forEach((t) => t.release()),
      };
    },
  };
}

function ropeCase(tokens: number, heads: number, headDim: number, inPlace: boolean): KernelBenchCase {
  const n = tokens * heads * headDim;
  const half = headDim / 2;
  return {
    name: inPlace ? 'rope.inplace' : 'rope',
    shape: `${tokens}x${heads}x${headDim}`,
    flops: 6 * tokens * heads * half,
    bytes: (2 * n + tokens + 2 * tokens * half) * F32,
    setup(gpu) {
      const x = gpu.empty([tokens, heads, headDim]);
      const out = gpu.empty([tokens, heads, headDim]);
      randomize(gpu, x);
      const tables = ropeTables(gpu, { maxPositions: 4096, rotaryDim: headDim, theta: 1e6 });
      const pos = gpu.upload(Uint32Array.from({ length: tokens }, (_, i) => 1000 + i), [tokens]);
      return {
        run: () => void (inPlace ? rope(gpu, x, pos, tables) : rope(gpu, x, pos, tables, out)),
        dispose: () => [x, out, pos, tables.cos, tables.sin].forEach((t) => t.release()),
      };
    },
  };
}

function swigluCase(tokens: number, inter: number): KernelBenchCase {
  const n = tokens * inter;
  return {
    name: 'swiglu',
    shape: `${tokens}x${inter}`,
    flops: 6 * n,
    bytes: 3 * n * F32,
    setup(gpu) {
      const g = gpu.empty([tokens, inter]);
      const u = gpu.empty([tokens, inter]);
      const out = gpu.empty([tokens, inter]);
      randomize(gpu, g);
      randomize(gpu, u);
      return {
        run: () => void swiglu(gpu, g, u, out),
        dispose: () => [g, u, out].forEach((t) => t.release()),
      };
    },
  };
}

function embeddingCase(tokens: number, vocab: number, dim: number): KernelBenchCase {
  return {
    name: 'embedding',
    shape: `${tokens}of${vocab}x${dim}`,
    flops: 0,
    bytes: (tokens + 2 * tokens * dim) * F32,
    setup(gpu) {
      // The table's contents do not matter for timing; pool buffers start zeroed. Split into row
      // chunks when one binding cannot hold it (lavapipe: 128 MiB), as the model loader does.
      const maxRows = maxTableRows(gpu, dim);
      const chunks: Tensor[] = [];
      for (let r = 0; r < vocab; r += maxRows) chunks.push(gpu.empty([Math.min(maxRows, vocab - r), dim], 'f32', 'bench.embedding.table'));
      const table: EmbeddingTable = chunks.length === 1 ? chunks[0] : chunks;
      const ids = gpu.upload(Uint32Array.from({ length: tokens }, (_, i) => (i * 7919 * 13) % vocab), [tokens]);
      const out = gpu.empty([tokens, dim]);
      return {
        run: () => void embedding(gpu, ids, table, out),
        dispose: () => [ids, out, ...chunks].forEach((t) => t.release()),
      };
    },
  };
}

function addCase(rows: number, dim: number): KernelBenchCase {
  const n = rows * dim;
  return {
    name: 'add',
    shape: `${rows}x${dim}`,
    flops: n,
    bytes: 3 * n * F32,
    setup(gpu) {
      const a = gpu.empty([rows, dim]);
      const b = gpu.empty([rows, dim]);
      const out = gpu.empty([rows, dim]);
      randomize(gpu, a);
      randomize(gpu, b);
      return {
        run: () => void add(gpu, a, b, out),
        dispose: () => [a, b, out].forEach((t) => t.release()),
      };
    },
  };
}

export function cases(): KernelBenchCase[] {
  return [
    rmsnormCase(128, 896),
    rmsnormCase(1, 896),
    rmsnormCase(2048, 896),
    rmsnormCase(128 * 14, 64), // per-head q norm (Qwen3-style) at 128 tokens
    ropeCase(128, 14, 64, false),
    ropeCase(128, 14, 64, true),
    ropeCase(1, 14, 64, true),
    swigluCase(128, 4864),
    swigluCase(1, 4864),
    embeddingCase(128, 151936, 896),
    embeddingCase(1, 151936, 896),
    addCase(128, 896),
  ];
}
