import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonderError } from '../../src/errors.js';
import { parseRecipe } from '../../src/recipe/load.js';

/**
 * A stage may leave its `optimizer:` out, or write only some of it: the rest comes from the schema's
 * defaults and lr from the stage's kind (docs/recipes.md: 1e-3 for pretrain and sft, 5e-5 for the
 * stages that train on samples or preferences). What a recipe writes always wins, and a recipe that
 * relies on the defaults hashes like one that writes them out.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-optimizer-defaults-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const PAIRS = join(tmp, 'pairs.jsonl');
writeFileSync(PAIRS, '{"prompt": "1+1=", "chosen": "2", "rejected": "3"}\n');

const MODEL = 'model: {init: scratch, config: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64}}\n';
const TASK = '{task: arithmetic, n: 8, digits: 1}';
/** One stage of each kind, written with `extra` (e.g. an optimizer) and no optimizer otherwise. */
const STAGES: Record<string, (extra: string) => string> = {
  pretrain: (x) => `{name: s, kind: pretrain, data: ${TASK}, steps: 4, batch_size: 2, seq_len: 32${x}}`,
  sft: (x) => `{name: s, kind: sft, data: ${TASK}, steps: 4, batch_size: 2, seq_len: 32${x}}`,
  grpo: (x) => `{name: s, kind: grpo, data: ${TASK}, steps: 4, batch_size: 2, max_new_tokens: 16${x}}`,
  dpo: (x) => `{name: s, kind: dpo, data: ${PAIRS}, steps: 4, batch_size: 1, seq_len: 32${x}}`,
  rft: (x) => `{name: s, kind: rft, data: ${TASK}, steps: 4, batch_size: 2, max_new_tokens: 16${x}}`,
  rollout_dpo: (x) => `{name: s, kind: rollout_dpo, data: ${TASK}, steps: 4, batch_size: 2, max_new_tokens: 16${x}}`,
  self_evolve: (x) => `{name: s, kind: self_evolve, data: ${TASK}, rounds: 2, steps_per_round: 2, prompts_per_round: 2, batch_size: 1, max_new_tokens: 16${x}}`,
};
const DOCUMENTED_LR: Record<string, number> = { pretrain: 1e-3, sft: 1e-3, grpo: 5e-5, dpo: 5e-5, rft: 5e-5, rollout_dpo: 5e-5, self_evolve: 5e-5 };
const REST = { warmup: 0, schedule: 'cosine', weight_decay: 0, grad_clip: 1, beta1: 0.9, beta2: 0.95, eps: 1e-8 };

function load(kind: string, extra = '') {
  return parseRecipe(`${MODEL}output: ${join(tmp, 'out')}\nstages:\n  - ${STAGES[kind]!(extra)}\n`, join(tmp, `${kind}.yaml`));
}

describe('optimizer defaults', () => {
  for (const kind of Object.keys(STAGES)) {
    it(`${kind}: no optimizer section runs AdamW with lr ${DOCUMENTED_LR[kind]} and the schema's defaults`, () => {
      assert.deepEqual(load(kind).recipe.stages[0]!.optimizer, { lr: DOCUMENTED_LR[kind], ...REST });
    });
  }

  it('a section that writes only some fields gets the kind\'s lr; a written lr wins', () => {
    assert.deepEqual(load('sft', ', optimizer: {warmup: 2, schedule: constant}').recipe.stages[0]!.optimizer, { ...REST, lr: 1e-3, warmup: 2, schedule: 'constant' });
    assert.deepEqual(load('grpo', ', optimizer: {weight_decay: 0.1}').recipe.stages[0]!.optimizer, { ...REST, lr: 5e-5, weight_decay: 0.1 });
    assert.equal(load('dpo', ', optimizer: {lr: 2.0e-4}').recipe.stages[0]!.optimizer.lr, 2e-4);
  });

  it('hashes like the same recipe with the defaults written out', () => {
    for (const kind of Object.keys(STAGES)) {
      const implicit = load(kind).hash;
      const explicit = load(kind, `, optimizer: {lr: ${DOCUMENTED_LR[kind]}, warmup: 0, schedule: cosine, weight_decay: 0, grad_clip: 1.0, beta1: 0.9, beta2: 0.95, eps: 1.0e-8}`).hash;
      assert.equal(implicit, explicit, kind);
      assert.notEqual(implicit, load(kind, ', optimizer: {lr: 0.5}').hash, kind);
    }
  });

  it('the written fields are still checked: a bad lr and a warmup past the stage', () => {
    assert.throws(() => load('sft', ', optimizer: {lr: -1}'), (e: unknown) => e instanceof PonderError && /stages\[0\]\.optimizer\.lr: must be > 0 \(got -1\)$/.test(e.message));
    assert.throws(() => load('sft', ', optimizer: {warmup: 9}'), (e: unknown) => e instanceof PonderError && /stages\[0\]\.optimizer\.warmup: must be <= the stage's steps \(4\) \(got 9\)$/.test(e.message));
    assert.throws(() => load('sft', ', optimizer: {lrr: 1}'), (e: unknown) => e instanceof PonderError && /stages\[0\]\.optimizer\.lrr: unknown key \(did you mean lr\?\)$/.test(e.message));
  });
});
