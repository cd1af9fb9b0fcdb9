import type { ModelConfig } from '../src/model/config.js';
import { parseModelConfig } from '../src/model/config.js';

/**
 * Model shapes `ponder bench model` measures on random weights: a tiny byte-vocabulary model (the size
 * ponder trains on a laptop) and Qwen2.5-0.5B's shape (896 hidden, 24 layers, 14/2 heads, 4864 MLP,
 * 151936 vocab, tied embeddings).
 */
export interface ModelBenchShape {
  name: string;
  config: ModelConfig;
  promptTokens: number;
  decodeTokens: number;
}

export function modelBenchShapes(): ModelBenchShape[] {
  return [
    {
      name: 'tiny-bytes',
      config: parseModelConfig({
        architectures: ['LlamaForCausalLM'], vocab_size: 263, hidden_size: 128, num_hidden_layers: 4,
        num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 384, max_position_embeddings: 512, tie_word_embeddings: true,
      }, 'tiny-bytes'),
      promptTokens: 64,
      decodeTokens: 32,
    },
    {
      name: 'qwen2.5-0.5b-shape',
      config: parseModelConfig({
        architectures: ['Qwen2ForCausalLM'], vocab_size: 151936, hidden_size: 896, num_hidden_layers: 24,
        num_attention_heads: 14, num_key_value_heads: 2, intermediate_size: 4864, max_position_embeddings: 32768,
        rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
      }, 'qwen2.5-0.5b-shape'),
      promptTokens: 64,
      decodeTokens: 4,
    },
  ];
}
