import type { ModelBenchCase } from '../src/engine/bench/model.js';
import type { ModelConfig } from '../src/model/config.js';
import { readConfigJson } from '../src/io/model-dir.js';
import { resolveModel } from '../src/io/resolve-model.js';
import { parseModelConfig } from '../src/model/config.js';

/**
 * Model shapes `ponder bench model` measures on random weights: a tiny byte-vocabulary model (the size
 * ponder trains on a laptop) and Qwen2.5-0.5B's shape (896 hidden, 24 layers, 14/2 heads, 4864 MLP,
 * 151936 vocab, tied embeddings). Each runs prefill (pp) and decode (tg) at batch 1 and at batch 32
 * (32 sequences in one KV cache, decoded together). The 0.5B shape's batch-32 case uses short prompts
 * and two decode steps so the default run stays within minutes on a software adapter: one of its
 * steps is a 32-row forward through 494M parameters.
 *
 * Both carry one MTP module (as MiMo does), and batch 1 also decodes with MTP drafting ("tg… mtp1"),
 * next to the plain decode of the same length. The weights are random, so the drafts are almost never
 * accepted: these rows show what drafting costs per round, the floor a trained MTP module must beat.
 * The bundled default model (the tiny shape with trained weights and a trained MTP module) shows what
 * drafting gains: it decodes its own answer to a chat question, plainly and with MTP.
 *
 * The tiny shape also samples 8 prompts × 8 completions in one sampleBatch call against the same 64
 * completions made one at a time ("tg16 8x8 sampled"): what batched sampling gains for evals and RL.
 */
export interface ModelBenchShape {
  name: string;
  config: ModelConfig;
  /** real weights (a --model spec) and the chat message to continue, instead of random weights */
  model?: string;
  prompt?: string;
  /** per batch size: prompt tokens per sequence and timed decode steps */
  runs: { batch: number; promptTokens: number; decodeTokens: number }[];
  /** batched sampling (sampleBatch vs generate one at a time): prompts × samples completions of decodeTokens */
  sampled?: { prompts: number; samples: number; promptTokens: number; decodeTokens: number }[];
}

export function modelBenchShapes(): ModelBenchShape[] {
  return [
    {
      name: 'default (bundled)',
      config: readConfigJson(resolveModel('default').dir),
      model: 'default',
      prompt: 'What is 47 + 38?',
      // the model's reasoning and answer to this prompt run past 64 tokens: all of it is its own text
      runs: [{ batch: 1, promptTokens: 0, decodeTokens: 64 }],
    },
    {
      name: 'tiny-bytes',
      config: parseModelConfig({
        architectures: ['LlamaForCausalLM'], vocab_size: 263, hidden_size: 128, num_hidden_layers: 4,
        num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 384, max_position_embeddings: 512, tie_word_embeddings: true,
        num_nextn_predict_layers: 1,
      }, 'tiny-bytes'),
      runs: [
        { batch: 1, promptTokens: 64, decodeTokens: 32 },
        { batch: 32, promptTokens: 64, decodeTokens: 16 },
      ],
      sampled: [{ prompts: 8, samples: 8, promptTokens: 32, decodeTokens: 16 }],
    },
    {
      name: 'qwen2.5-0.5b-shape',
      config: parseModelConfig({
        architectures: ['Qwen2ForCausalLM'], vocab_size: 151936, hidden_size: 896, num_hidden_layers: 24,
        num_attention_heads: 14, num_key_value_heads: 2, intermediate_size: 4864, max_position_embeddings: 32768,
        rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
        num_nextn_predict_layers: 1,
      }, 'qwen2.5-0.5b-shape'),
      runs: [
        { batch: 1, promptTokens: 64, decodeTokens: 4 },
        { batch: 32, promptTokens: 8, decodeTokens: 2 },
      ],
    },
  ];
}

/** Every model case, in run order: per shape and batch size, prefill, decode, and at batch 1 decode with MTP drafting. */
export function allModelCases(): ModelBenchCase[] {
  return modelBenchShapes().flatMap((s) => {
    const base = { name: s.name, config: s.config, ...(s.model ? { model: s.model, prompt: s.prompt } : {}) };
    // a real model is measured where its weights matter: decoding its own continuation
    const tests = s.model ? (['tg'] as const) : (['pp', 'tg'] as const);
    return s.runs.flatMap((r): ModelBenchCase[] => [
      ...tests.map((test) => ({ ...base, test, ...r })),
      ...(r.batch === 1 && s.config.num_nextn_predict_layers > 0 ? [{ ...base, test: 'tg' as const, ...r, mtp: s.config.num_nextn_predict_layers }] : []),
    ]).concat((s.sampled ?? []).map((b): ModelBenchCase => ({ ...base, test: 'tg', batch: b.prompts, samples: b.samples, promptTokens: b.promptTokens, decodeTokens: b.decodeTokens })));
  });
}
