import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainBenchCase } from '../src/engine/bench/train.js';
import { parseModelConfig } from '../src/model/config.js';
import { packageRoot } from '../src/paths.js';
import { loadRecipe } from '../src/recipe/load.js';

/**
 * Training cases `ponder bench train` runs: one per stage of each example recipe in recipes/ (its
 * model config, batch size and sequence length, first optimizer settings), then `bench-50m`, a
 * ~50M-parameter byte-vocabulary model (hidden 512, 12 layers, 8 query / 4 KV heads, MLP 2048) at
 * sequence length 256 and batch 1, the largest that keeps a step to seconds on a software adapter.
 * Step counts are small on purpose: the suite measures throughput and memory, not learning.
 */
export const RECIPES_DIR = join(packageRoot, 'recipes');

export function recipeTrainCases(dir = RECIPES_DIR): TrainBenchCase[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
  const cases: TrainBenchCase[] = [];
  for (const f of files) {
    // output is never written: the bench trains in memory
    const { recipe } = loadRecipe(join(dir, f));
    const name = f.replace(/\.ya?ml$/, '');
    const seen = new Set<string>();
    for (const st of recipe.stages) {
      const key = `${st.batch_size}x${st.seq_len}`;
      if (seen.has(key)) continue; // a second stage of the same shape measures the same thing
      seen.add(key);
      const o = st.optimizer;
      cases.push({
        name,
        stage: st.name,
        config: recipe.model.config,
        batch: st.batch_size,
        seqLen: st.seq_len,
        steps: 5,
        warmup: 2,
        optimizer: { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weight_decay, gradClip: o.grad_clip },
        maxTokenId: 256,
      });
    }
  }
  return cases;
}

export function bench50mCase(): TrainBenchCase {
  return {
    name: 'bench-50m',
    stage: 'bench',
    config: parseModelConfig(
      {
        architectures: ['LlamaForCausalLM'], vocab_size: 263, hidden_size: 512, num_hidden_layers: 12,
        num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 2048, max_position_embeddings: 256,
        tie_word_embeddings: true,
      },
      'bench-50m',
    ),
    batch: 1,
    seqLen: 256,
    // five timed steps: both sides' step times on a shared 2-core VM vary by ~10% from step to step
    steps: 5,
    warmup: 1,
    optimizer: { lr: 3e-4, weightDecay: 0.1, gradClip: 1.0 },
    maxTokenId: 256,
  };
}

/** Every training case, in run order. */
export function allTrainCases(): TrainBenchCase[] {
  return [...recipeTrainCases(), bench50mCase()];
}
