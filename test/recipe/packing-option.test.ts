import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { parseRecipe } from '../../src/recipe/load.js';
import { formatPlan, planRecipe } from '../../src/recipe/plan.js';

/**
 * The `packing` field of pretrain/sft stages: off unless asked for, a boolean, shown in the plan, and
 * absent from the recipe hash while off (so runs from before the field existed still resume).
 */
const recipe = (packing: string) =>
  [
    'model: {init: scratch, config: {vocab: bytes, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64}}',
    'output: runs/packing-option',
    'stages:',
    `  - {name: s, kind: sft, data: {task: arithmetic, n: 8, digits: 1}, steps: 2, batch_size: 2, seq_len: 32, optimizer: {lr: 1.0e-3}${packing}}`,
    '',
  ].join('\n');

describe('recipe: packing', () => {
  it('defaults to off; `packing: false` hashes like a recipe without the key, `true` differently', () => {
    const absent = parseRecipe(recipe(''), '/tmp/r.yaml');
    const off = parseRecipe(recipe(', packing: false'), '/tmp/r.yaml');
    const on = parseRecipe(recipe(', packing: true'), '/tmp/r.yaml');
    assert.equal(absent.recipe.stages[0]!.packing, false);
    assert.equal(on.recipe.stages[0]!.packing, true);
    assert.equal(off.hash, absent.hash);
    assert.notEqual(on.hash, absent.hash);
  });

  it('shows in the plan', () => {
    const on = parseRecipe(recipe(', packing: true'), '/tmp/r.yaml');
    const plan = planRecipe(on.recipe);
    assert.equal(plan.stages[0]!.packing, true);
    assert.match(formatPlan(plan, '/tmp/r.yaml', on.hash).join('\n'), /2 steps x 2x32 packed = /);
    const off = planRecipe(parseRecipe(recipe(''), '/tmp/r.yaml').recipe);
    assert.equal(off.stages[0]!.packing, undefined);
  });

  it('refuses a non-boolean with the field path', () => {
    assert.throws(
      () => parseRecipe(recipe(', packing: yes'), '/tmp/r.yaml'),
      (e: unknown) => e instanceof PonderError && /stages\[0\]\.packing/.test(e.message),
    );
  });
});
