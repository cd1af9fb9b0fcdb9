import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRecipe } from '../../src/recipe/load.js';
import { packageRoot } from '../../src/paths.js';
import { runPonder } from '../helpers/cli.js';

/**
 * The recipe that makes the bundled model cannot rot: recipes/default-model.yaml (the seed papers'
 * pipeline: two SFT stages, rollout DPO, GRPO, then the MTP module) runs end to end, scaled down to a
 * step or two of a few rows, short rollouts and short evals by `key=value` overrides (the recipe's
 * own data, model, stage kinds and settings otherwise), and leaves a final model and a report with a
 * row per stage.
 */

/** Overrides that shrink stage i of a recipe to a step or two, by kind. */
function shrink(kind: string, i: number): string[] {
  const s = `stages.${i}`;
  const common = [`${s}.batch_size=2`, `${s}.eval.n=2`, `${s}.eval.max_tokens=16`];
  if (kind === 'grpo') return [...common, `${s}.steps=1`, `${s}.eval.every=1`, `${s}.group_size=2`, `${s}.max_new_tokens=8`, `${s}.temperature=1.0`];
  if (kind === 'rollout_dpo') return [...common, `${s}.steps=1`, `${s}.eval.every=1`, `${s}.samples=2`, `${s}.pairs_per_prompt=1`, `${s}.max_new_tokens=8`, `${s}.optimizer.warmup=0`];
  return [...common, `${s}.steps=2`, `${s}.eval.every=2`, `${s}.optimizer.warmup=1`];
}

describe('the bundled model\'s recipe, scaled down', () => {
  for (const file of ['default-model.yaml']) {
    it(`${file} runs end to end`, () => {
      const path = join(packageRoot, 'recipes', file);
      const kinds = loadRecipe(path).recipe.stages.map((s) => s.kind);
      const out = mkdtempSync(join(tmpdir(), 'ponder-default-recipe-'));
      try {
        const small = kinds.flatMap((k, i) => shrink(k, i));
        const r = runPonder(['tune', path, '--plain', `output=${join(out, 'run')}`, 'checkpoint_every=2', ...small], { timeoutMs: 300_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.ok(existsSync(join(out, 'run', 'final', 'config.json')), 'a final model');
        const report = readFileSync(join(out, 'run', 'report.md'), 'utf8');
        const rows = report.split('\n').filter((l) => /^\| \S+ \| \w+ \| [12] \| arithmetic @ step [12] \|/.test(l));
        assert.equal(rows.length, kinds.length, report);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  }

  it('default-model.yaml follows the paper\'s stages and trains an MTP module last, on the frozen trunk', () => {
    const { recipe } = loadRecipe(join(packageRoot, 'recipes', 'default-model.yaml'));
    assert.deepEqual(recipe.stages.map((s) => s.kind), ['sft', 'sft', 'rollout_dpo', 'grpo', 'sft']);
    const last = recipe.stages.at(-1)!;
    assert.ok(last.kind === 'sft' && last.mtp?.freeze_trunk === true);
    assert.equal(recipe.model.init, 'scratch');
  });
});
