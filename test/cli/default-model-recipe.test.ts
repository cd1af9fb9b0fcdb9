import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { runPonder } from '../helpers/cli.js';

/**
 * The recipes that make the bundled model (recipes/default-model.yaml, then default-mtp.yaml on its
 * trunk) cannot rot: each runs end to end, scaled down to a few steps of a few rows by `key=value`
 * overrides (the recipe's own data, model, stages, optimizer and evals otherwise), and leaves a
 * final model and a report with a row per stage.
 */
describe('the bundled model\'s recipes, scaled down', () => {
  const cases: [string, number][] = [
    ['default-model.yaml', 2],
    ['default-mtp.yaml', 1],
  ];
  for (const [file, stages] of cases) {
    it(`${file} runs end to end`, () => {
      const out = mkdtempSync(join(tmpdir(), 'ponder-default-recipe-'));
      try {
        const small = Array.from({ length: stages }, (_, i) => [`stages.${i}.steps=2`, `stages.${i}.batch_size=2`, `stages.${i}.optimizer.warmup=1`, `stages.${i}.eval.n=2`, `stages.${i}.eval.max_tokens=16`, `stages.${i}.eval.every=2`]).flat();
        const r = runPonder(['tune', join(packageRoot, 'recipes', file), '--plain', `output=${join(out, 'run')}`, 'checkpoint_every=2', ...small], { timeoutMs: 300_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.ok(existsSync(join(out, 'run', 'final', 'config.json')), 'a final model');
        const report = readFileSync(join(out, 'run', 'report.md'), 'utf8');
        const rows = report.split('\n').filter((l) => /^\| \S+ \| sft \| 2 \| arithmetic @ step 2 \|/.test(l));
        assert.equal(rows.length, stages, report);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  }
});
