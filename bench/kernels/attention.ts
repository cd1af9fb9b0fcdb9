import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import type { KernelBenchCase } from '../../src/engine/bench/types.js';
import { attention, kvWrite } from '../../src/ops/attention.js';

/**
 * Causal GQA attention at Qwen2.5-0.5B head shapes (14 query heads, 2 KV heads, head dim 64):
 * batched decode (T = 1) over contexts of 128..4096 cached positions, a 32-sequence decode batch,
 * and fresh prefills of 128 and 512 tokens; plus the KV-cache append. `flops` counts QKᵀ and PV
 * (4·B·T·ctx·Hq·D, halved for a causal prefill); `bytes` is the used part of the K/V cache read once
 * plus q read and out written once.
 */

const F32 = 4;
const HQ = 14;
const HKV = 2;
const D = 64;

function randomize(gpu: Gpu, t: Tensor, scale = 1): void {
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 12.9898) * scale;
  gpu.write(t, data);
}

/** B sequences, T new positions each, after `past` cached ones: the cache holds past + T positions. */
function attentionCase(name: string, B: number, T: number, past: number): KernelBenchCase {
  const ctx = past + T;
  const causal = T > 1 ? 0.5 : 1;
  return {
    name,
    shape: `B${B} T${T} ctx${ctx} ${HQ}/${HKV}x${D}`,
    flops: 4 * B * T * ctx * HQ * D * causal,
    bytes: (2 * B * HKV * ctx * D + 2 * B * T * HQ * D) * F32,
    setup(gpu) {
      const q = gpu.empty([B, T, HQ, D]);
      const kCache = gpu.empty([B, HKV, ctx, D]);
      const vCache = gpu.empty([B, HKV, ctx, D]);
      const out = gpu.empty([B, T, HQ, D]);
      randomize(gpu, q, 0.5);
      randomize(gpu, kCache, 0.5);
      randomize(gpu, vCache);
      const slots = gpu.upload(Uint32Array.from({ length: B }, (_, b) => b), [B]);
      const starts = gpu.upload(new Uint32Array(B).fill(past), [B]);
      return {
        run: () => void attention(gpu, q, kCache, vCache, slots, starts, {}, out),
        dispose: () => [q, kCache, vCache, out, slots, starts].forEach((t) => t.release()),
      };
    },
  };
}

function kvWriteCase(B: number, T: number, L: number): KernelBenchCase {
  const n = B * T * HKV * D;
  return {
    name: 'attention.kvwrite',
    shape: `B${B} T${T} L${L} ${HKV}x${D}`,
    flops: 0,
    bytes: 4 * n * F32,
    setup(gpu) {
      const k = gpu.empty([B, T, HKV, D]);
      const v = gpu.empty([B, T, HKV, D]);
      const kCache = gpu.empty([B, HKV, L, D]);
      const vCache = gpu.empty([B, HKV, L, D]);
      randomize(gpu, k);
      randomize(gpu, v);
      const slots = gpu.upload(Uint32Array.from({ length: B }, (_, b) => b), [B]);
      const starts = gpu.upload(new Uint32Array(B).fill(L - T), [B]);
      return {
        run: () => kvWrite(gpu, k, v, kCache, vCache, slots, starts),
        dispose: () => [k, v, kCache, vCache, slots, starts].forEach((t) => t.release()),
      };
    },
  };
}

export function cases(): KernelBenchCase[] {
  return [
    attentionCase('attention.decode', 1, 1, 127),
    attentionCase('attention.decode', 1, 1, 511),
    attentionCase('attention.decode', 1, 1, 1023),
    attentionCase('attention.decode', 1, 1, 4095),
    attentionCase('attention.decode', 32, 1, 511),
    attentionCase('attention.prefill', 1, 128, 0),
    attentionCase('attention.prefill', 1, 512, 0),
    kvWriteCase(32, 1, 512),
    kvWriteCase(1, 512, 512),
  ];
}
