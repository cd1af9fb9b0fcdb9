import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import type { KernelBenchCase, KernelBenchInstance } from '../../src/engine/bench/types.js';
import { argmax } from '../../src/ops/argmax.js';
import { crossEntropy } from '../../src/ops/cross-entropy.js';
import { softmax } from '../../src/ops/softmax.js';
import { topk } from '../../src/ops/topk.js';

/**
 * Row reductions at the shapes a Qwen2.5-0.5B-like model (vocab 151936, 14 heads) uses them:
 *   cross-entropy: training loss + gradient, [tokens, vocab] (in place at the real vocab, as the
 *                  trainer runs it; out of place at a 32k vocab)
 *   softmax:       attention probabilities [14 heads * 128 queries, 128 keys]; sampling [1, vocab]
 *   argmax:        greedy decode, 1 and 32 sequences
 *   top-k (k=50):  the sampler's prefilter, 1 and 32 sequences
 * flops count an exp as one; bytes are each input read once and each output written once.
 */
const VOCAB = 151936;

function randomLogits(gpu: Gpu, rows: number, cols: number, std = 3): Tensor {
  // A cheap LCG: the values only need to look like logits, not be good random numbers.
  const data = new Float32Array(rows * cols);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 4294967296 - 0.5) * 2 * std;
  }
  return gpu.upload(data, [rows, cols], 'f32', 'bench.logits');
}

function release(...ts: Tensor[]): void {
  for (const t of ts) t.release();
}

function crossEntropyCase(rows: number, cols: number, inPlace: boolean): KernelBenchCase {
  return {
    name: 'cross_entropy',
    shape: `${rows}x${cols}${inPlace ? ' inplace' : ''}`,
    flops: 8 * rows * cols,
    bytes: 4 * (2 * rows * cols + 2 * rows),
    setup(gpu: Gpu): KernelBenchInstance {
      const logits = randomLogits(gpu, rows, cols);
      const targets = gpu.upload(Uint32Array.from({ length: rows }, (_, i) => (i * 7919) % cols), [rows], 'u32');
      const loss = gpu.empty([rows], 'f32');
      const dlogits = inPlace ? undefined : gpu.empty([rows, cols], 'f32');
      const gradScale = 1 / rows;
      return {
        // In place, repeated runs turn the logits into gradients of gradients: still finite values
        // in [-1, 1] * gradScale, so the timing is representative.
        run: () => void crossEntropy(gpu, logits, targets, { gradScale, inPlace, loss, dlogits }),
        dispose: () => release(logits, targets, loss, ...(dlogits ? [dlogits] : [])),
      };
    },
  };
}

function softmaxCase(rows: number, cols: number, scale: number): KernelBenchCase {
  return {
    name: 'softmax',
    shape: `${rows}x${cols}`,
    flops: 6 * rows * cols,
    bytes: 4 * 2 * rows * cols,
    setup(gpu: Gpu): KernelBenchInstance {
      const x = randomLogits(gpu, rows, cols);
      const out = gpu.empty([rows, cols], 'f32');
      return { run: () => void softmax(gpu, x, { scale }, out), dispose: () => release(x, out) };
    },
  };
}

function argmaxCase(rows: number, cols: number): KernelBenchCase {
  return {
    name: 'argmax',
    shape: `${rows}x${cols}`,
    flops: rows * cols,
    bytes: 4 * (rows * cols + rows),
    setup(gpu: Gpu): KernelBenchInstance {
      const x = randomLogits(gpu, rows, cols);
      const out = gpu.empty([rows], 'u32');
      return { run: () => void argmax(gpu, x, out), dispose: () => release(x, out) };
    },
  };
}

function topkCase(rows: number, cols: number, k: number): KernelBenchCase {
  return {
    name: 'topk',
    shape: `${rows}x${cols} k=${k}`,
    flops: 2 * rows * cols,
    bytes: 4 * (rows * cols + 2 * rows * k),
    setup(gpu: Gpu): KernelBenchInstance {
      const x = randomLogits(gpu, rows, cols);
      const values = gpu.empty([rows, k], 'f32');
      const indices = gpu.empty([rows, k], 'u32');
      return { run: () => void topk(gpu, x, k, { values, indices }), dispose: () => release(x, values, indices) };
    },
  };
}

export function cases(): KernelBenchCase[] {
  return [
    crossEntropyCase(128, VOCAB, true),
    crossEntropyCase(16, 32000, false),
    softmaxCase(14 * 128, 128, 1 / Math.sqrt(64)),
    softmaxCase(1, VOCAB, 1 / 0.7),
    argmaxCase(1, VOCAB),
    argmaxCase(32, VOCAB),
    topkCase(1, VOCAB, 50),
    topkCase(32, VOCAB, 50),
  ];
}
