import type { KernelBenchCase, KernelBenchInstance } from '../../src/engine/bench/types.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { matmul } from '../../src/ops/matmul.js';

/**
 * Matmul benchmarks. Shape is "MxNxK"; flops = 2·M·N·K; bytes = A + B + C read/written once.
 *  - matmul:     A·B, square sizes
 *  - matmul.ABt: A·Bᵀ, i.e. y = x·Wᵀ with HF Linear weights [out, in]: the model's hot path,
 *                at Qwen2.5-0.5B shapes (hidden 896, 2 KV heads of 64, intermediate 4864,
 *                vocab 151936) for a 128-token prefill (M=128) and a decode step (M=1).
 */
const HIDDEN = 896;
const KV = 2 * 64;
const INTER = 4864;
const VOCAB = 151936;

function filled(gpu: Gpu, shape: number[], value: number): Tensor {
  const t = gpu.empty(shape, 'f32', 'bench.matmul');
  gpu.fill(t, value); // defined, non-denormal inputs: CPU drivers slow down on denormals and NaN
  return t;
}

function matmulCase(name: string, M: number, N: number, K: number, transB: boolean): KernelBenchCase {
  return {
    name,
    shape: `${M}x${N}x${K}`,
    flops: 2 * M * N * K,
    bytes: 4 * (M * K + K * N + M * N),
    setup(gpu: Gpu): KernelBenchInstance {
      const a = filled(gpu, [M, K], 0.5);
      const b = filled(gpu, transB ? [N, K] : [K, N], 0.25);
      const c = gpu.empty([M, N], 'f32', 'bench.matmul.out');
      return {
        run: () => void matmul(gpu, a, b, { transB }, c),
        dispose: () => [a, b, c].forEach((t) => t.release()),
      };
    },
  };
}

/**
 * The LM head (896 -> 151936) at M=1. Its f32 weight (544 MB) is larger than a storage binding may
 * be (128 MiB on lavapipe), so like the model it is stored as row chunks that each fit a binding,
 * one matmul per chunk.
 */
function lmHeadCase(M: number): KernelBenchCase {
  const N = VOCAB;
  const K = HIDDEN;
  return {
    name: 'matmul.ABt',
    shape: `${M}x${N}x${K}`,
    flops: 2 * M * N * K,
    bytes: 4 * (M * K + K * N + M * N),
    setup(gpu: Gpu): KernelBenchInstance {
      const maxRows = Math.floor(gpu.limits.maxStorageBufferBindingSize / (4 * K) / 64) * 64;
      const x = filled(gpu, [M, K], 0.5);
      const chunks: { w: Tensor; y: Tensor }[] = [];
      for (let n0 = 0; n0 < N; n0 += maxRows) {
        const rows = Math.min(maxRows, N - n0);
        chunks.push({ w: filled(gpu, [rows, K], 0.25), y: gpu.empty([M, rows], 'f32', 'bench.matmul.out') });
      }
      return {
        run: () => chunks.forEach(({ w, y }) => matmul(gpu, x, w, { transB: true }, y)),
        dispose: () => {
          x.release();
          chunks.forEach(({ w, y }) => (w.release(), y.release()));
        },
      };
    },
  };
}

export function cases(): KernelBenchCase[] {
  const out: KernelBenchCase[] = [
    matmulCase('matmul', 1024, 1024, 1024, false),
    matmulCase('matmul.ABt', 1024, 1024, 1024, true),
    matmulCase('matmul', 256, 256, 256, false),
  ];
  const linears: [number, number][] = [
    [HIDDEN, HIDDEN], // q_proj, o_proj
    [HIDDEN, KV], // k_proj, v_proj
    [HIDDEN, INTER], // gate_proj, up_proj
    [INTER, HIDDEN], // down_proj
  ];
  for (const M of [128, 1]) {
    for (const [inF, outF] of linears) out.push(matmulCase('matmul.ABt', M, outF, inF, true));
  }
  out.push(lmHeadCase(1));
  return out;
}
