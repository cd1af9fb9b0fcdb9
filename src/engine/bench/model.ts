import { adapterName } from '../../gpu/device.js';
import type { Gpu } from '../../gpu/gpu.js';
import type { ModelConfig, Weights } from '../../model/config.js';
import { expectedWeights } from '../../model/config.js';
import { Transformer } from '../../model/transformer.js';
import { measureCopyBandwidth } from './bandwidth.js';

/**
 * llama-bench-style model benchmark: pp (prefill of `promptTokens` tokens, tokens/s) and tg (decode
 * one token at a time with a KV cache, tokens/s) at batch 1, on random weights of a given shape.
 * Decode is compared with its memory roofline: every weight byte is read once per step, so the best
 * possible decode rate is copy bandwidth ÷ weight bytes.
 */
export interface ModelBenchResult {
  name: string;
  params: number;
  weight_bytes: number;
  prompt_tokens: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  decode_roofline_tokens_per_s: number;
  pct_of_roofline: number;
  copy_gbps: number;
  adapter: string;
}

/** Deterministic pseudo-random weights (small values keep activations tame). */
export function randomWeightsFor(config: ModelConfig): Weights {
  const w: Weights = new Map();
  let s = 12345;
  for (const [name, shape] of expectedWeights(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNorm = name.endsWith('norm.weight');
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = isNorm ? 1 : ((s / 4294967296) - 0.5) * 0.04;
    }
    w.set(name, { shape, data });
  }
  return w;
}

export async function benchModel(gpu: Gpu, name: string, config: ModelConfig, opts: { promptTokens: number; decodeTokens: number }): Promise<ModelBenchResult> {
  const weights = randomWeightsFor(config);
  let params = 0;
  for (const t of weights.values()) params += t.data.length;
  const model = Transformer.load(gpu, config, weights);
  weights.clear();
  const copyGbps = await measureCopyBandwidth(gpu);
  const prompt = Array.from({ length: opts.promptTokens }, (_, i) => (i * 7919) % config.vocab_size);
  const total = opts.promptTokens + opts.decodeTokens + 1;
  const cache = model.createCache(1, total);
  // warm-up: compiles every pipeline once
  for (const [tokens, start] of [[prompt.slice(0, 2), 0], [[1], 2]] as const) {
    const l = model.forward([[...tokens]], cache, [0], [start], { lastOnly: true });
    await gpu.readF32(l);
    l.release();
  }

  const t0 = performance.now();
  const prefillLogits = model.forward([prompt], cache, [0], [0], { lastOnly: true });
  await gpu.readF32(prefillLogits);
  const prefillMs = performance.now() - t0;

  const t1 = performance.now();
  for (let i = 0; i < opts.decodeTokens; i++) {
    const logits = model.forward([[(i * 31) % config.vocab_size]], cache, [0], [opts.promptTokens + i], { lastOnly: true });
    await gpu.sync(); // a real decode step waits for its token; keep the same dependency
    logits.release();
  }
  const decodeMs = performance.now() - t1;
  prefillLogits.release();
  cache.dispose();
  model.dispose();

  const weightBytes = params * 4;
  const decodeTps = opts.decodeTokens / (decodeMs / 1000);
  const roofline = (copyGbps * 1e9) / weightBytes;
  return {
    name,
    params,
    weight_bytes: weightBytes,
    prompt_tokens: opts.promptTokens,
    prefill_tokens_per_s: opts.promptTokens / (prefillMs / 1000),
    decode_tokens_per_s: decodeTps,
    decode_roofline_tokens_per_s: roofline,
    pct_of_roofline: (100 * decodeTps) / roofline,
    copy_gbps: copyGbps,
    adapter: adapterName(gpu.info),
  };
}
