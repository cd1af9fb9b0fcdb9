import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPonderError } from '../../src/errors.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { planRecipe } from '../../src/recipe/plan.js';
import { runPonder } from '../helpers/cli.js';

/**
 * The seed papers' recipes (recipes/{rft,exaone-style,phi4-mini-style,sphere,mimo-style}.yaml) load
 * with their stage kinds and settings, and pass `ponder tune --check`; a dpo stage whose pairs file
 * has a bad line fails at load time with one line naming that file and line.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ponder-stages-recipes-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const KINDS: Record<string, string[]> = {
  'rft.yaml': ['sft', 'rft'],
  'exaone-style.yaml': ['sft', 'dpo', 'grpo'],
  'phi4-mini-style.yaml': ['sft', 'sft', 'rollout_dpo', 'grpo'],
  'mimo-style.yaml': ['sft', 'grpo'],
  'sphere.yaml': ['sft', 'self_evolve'],
};

describe('preference recipes', () => {
  it('load with their kinds and settings, and plan', () => {
    for (const [name, kinds] of Object.entries(KINDS)) {
      const { recipe } = loadRecipe(join(ROOT, 'recipes', name));
      assert.deepEqual(recipe.stages.map((s) => s.kind), kinds, name);
      assert.ok(planRecipe(recipe).total_steps > 0, name);
      for (const s of recipe.stages) {
        if (s.kind === 'dpo' || s.kind === 'rollout_dpo' || s.kind === 'self_evolve') assert.ok(s.dpo && s.dpo.beta > 0, `${name} ${s.name}`);
        if (s.kind === 'rft' || s.kind === 'rollout_dpo' || s.kind === 'self_evolve') assert.ok(s.rollout && s.rollout.samples >= 2, `${name} ${s.name}`);
      }
    }
    const sphere = loadRecipe(join(ROOT, 'recipes', 'sphere.yaml')).recipe.stages[1]!;
    assert.equal(sphere.steps, sphere.evolve!.rounds * sphere.evolve!.steps_per_round);
  });

  it('pass ponder tune --check', () => {
    for (const name of Object.keys(KINDS)) {
      const r = runPonder(['tune', '--check', join(ROOT, 'recipes', name)]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, /ok: the recipe is valid/);
    }
  });

  it('a bad pairs file is one line naming the file and the line, at load time', () => {
    const pairs = join(tmp, 'bad.jsonl');
    writeFileSync(pairs, '{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", "rejected": "c"}\n');
    const recipe = join(tmp, 'r.yaml');
    writeFileSync(
      recipe,
      `model:\n  init: scratch\n  config: {hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 64}\nstages:\n  - name: d\n    kind: dpo\n    data: bad.jsonl\n    steps: 1\n    batch_size: 1\n    seq_len: 32\n    optimizer: {lr: 1.0e-3}\n`,
    );
    assert.throws(
      () => loadRecipe(recipe),
      (e: unknown) => isPonderError(e) && e.message === `${pairs}:2: missing "chosen" (a pair has "prompt", "chosen" and "rejected")`,
    );
    writeFileSync(join(tmp, 'good.jsonl'), '{"prompt": "a", "chosen": "b", "rejected": "c"}\n');
    const label = join(tmp, 'l.yaml');
    writeFileSync(label, `${(`model:\n  init: scratch\n  config: {hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 64}\nstages:\n  - name: d\n    kind: dpo\n    data: good.jsonl\n    steps: 1\n    batch_size: 1\n    seq_len: 32\n    loss: hinge\n    label_smoothing: 0.1\n    optimizer: {lr: 1.0e-3}\n`)}`);
    assert.throws(() => loadRecipe(label), (e: unknown) => isPonderError(e) && /l\.yaml:12: stages\[0\]\.label_smoothing: applies to the sigmoid and robust losses, not hinge/.test(e.message));
  });
});
