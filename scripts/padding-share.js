#!/usr/bin/env node
/**
 * The share of padding in a recipe's pretrain/SFT stages, one example per row vs packed
 * (`packing: true`, src/data/packing.ts), over one epoch in the stage's own shuffled order:
 *
 *   npm run build && node scripts/padding-share.js [recipe.yaml]    (default recipes/default-model.yaml)
 *
 * Prints per stage: "padding: 69.3% of tokens → 2.1% packed (rows per epoch 6000 → 1889)". Padding is
 * the input positions of a batch's rows that hold no example token; a padded row holds min(L, T) of
 * an example's L tokens, a packed row min(L − 1, T) of each (the last token, which has no target, is
 * left out, see packing.ts). Byte-tokenizer recipes only (the bundled model's kind).
 */
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { loadRecipe } = await import(`${root}/dist/src/recipe/load.js`);
const { loadStageExamples, tokenizeExamples, epochPermutation } = await import(`${root}/dist/src/data/batches.js`);
const { paddingShare } = await import(`${root}/dist/src/data/packing.js`);
const { ByteTokenizer } = await import(`${root}/dist/src/data/byte-tokenizer.js`);

const path = process.argv[2] ?? `${root}/recipes/default-model.yaml`;
const { recipe } = loadRecipe(path);
if (recipe.model.tokenizer !== 'bytes') {
  console.error('padding-share: only byte-tokenizer recipes are supported');
  process.exit(2);
}
const tok = new ByteTokenizer();
const pct = (x) => `${(100 * x).toFixed(1)}%`;
recipe.stages.forEach((stage, i) => {
  if (stage.kind !== 'sft' && stage.kind !== 'pretrain') return;
  const examples = tokenizeExamples(tok, loadStageExamples(stage.data, stage.kind, recipe.seed));
  const order = epochPermutation(examples.length, recipe.seed + i, 0);
  const s = paddingShare(Array.from(order, (j) => examples[j]), stage.batch_size, stage.seq_len);
  console.log(`${stage.name} (${stage.kind}, ${examples.length} examples, ${stage.batch_size}x${stage.seq_len}): padding: ${pct(s.padded)} of tokens → ${pct(s.packed)} packed (rows per epoch ${s.rowsPadded} → ${s.rowsPacked})`);
});
