import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import type { KernelBenchCase } from '../../src/engine/bench/types.js';
import { matmul } from '../../src/ops/matmul.js';

/**
 * Matmul at the sizes that matter: the 1024³ square (the number to compare adapters and peers by),
 * 256³, and the Linear layers of a Qwen2.5-0.5B-shaped model (hidden 896, k/v 128, MLP 4864) at a
 * 128-token prefill chunk (compute bound) and at single-token decode (memory bound: the weight is read
 * once per token). HF Linear weights are [out, in], so the model path is A·Bᵀ. The 151936-row LM head
 * is absent: as one f32 tensor it exceeds a 128 MiB storage binding (lavapipe's limit), and the model
 * splits it. Shape strings are "MxNxK"; flops = 2·M·N·K; bytes = A + B + C once each.
 */
const F32 = 4;

function fill(gpu: Gpu, t: Tensor): void {
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 12.9898) * 0.5;
  gpu.write(t, data);
}

function matmulCase(M: number, N: number, K: number, transB: boolean, label = ''): KernelBenchCase {
  return {
    name: transB ? 'matmul.ABt' : 'matmul.AB',
    shape: `${M}x${N}x${K}${label}`,
    flops: 2 * M * N * K,
    bytes: (M * K + K * N + M * N) * F32,
    setup(gpu) {
      const a = gpu.empty([M, K]);
      const b = gpu.empty(transB ? [N, K] : [K, N]);
      const c = gpu.empty([M, N]);
      fill(gpu, a);
      fill(gpu, b);
      return {
        run: () => void matmul(gpu, a, b, { transB }, c),
        dispose: () => [a, b, c].forEach((t) => t.release()),
      };
    },
  };
}

export function cases(): KernelBenchCase[] {
  const square = [matmulCase(1024, 1024, 1024, false), matmulCase(1024, 1024, 1024, true), matmulCase(256, 256, 256, false)];
  const layers: [number, number, string][] = [
    [896, 896, ' q/o'],
    [128, 896, ' k/v'],
    [4864, 896, ' up/gate'],
    [896, 4864, ' down'],
  ];
  const model = [128, 1].flatMap((M) => layers.map(([N, K, label]) => matmulCase(M, N, K, true, label)));
  return [...square, ...model];
}
