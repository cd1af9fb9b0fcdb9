/**
 * GRPO raises the mean reward (the CI-sized evidence): the tiny-grpo-learns fixture trains a scratch
 * byte model for 4 SFT steps, then 16 GRPO steps whose reward is the verifier's accuracy plus DAPO's
 * overlong penalty (0 up to 2 new tokens, -1 at 8). The rewards are computed from the model's own
 * samples, so they rise only if the policy gradient points the right way: with a wrong sign or a
 * misplaced weight the rollouts keep running to the budget and the mean reward stays at its start.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTuner } from '../../src/engine/tuner.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { testGpu } from '../helpers/gpu.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ponder-grpo-learns-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

it('a short GRPO stage after a short SFT raises the mean reward on a toy task', async () => {
  const path = join(tmp, 'learns.yaml');
  writeFileSync(path, readFileSync(join(ROOT, 'test/fixtures/recipes/tiny-grpo-learns.yaml'), 'utf8').replace(/^output: .*$/m, `output: ${join(tmp, 'run')}`));
  const gpu = await testGpu();
  const steps: { reward: number; length: number }[] = [];
  for await (const e of runTuner(gpu, loadRecipe(path))) {
    if (e.type === 'step' && e.stage === 1) steps.push({ reward: e.metrics.reward!, length: e.metrics['completions/mean_length']! });
  }
  assert.equal(steps.length, 16);
  const first = steps.slice(0, 4);
  const last = steps.slice(-4);
  const gain = mean(last.map((s) => s.reward)) - mean(first.map((s) => s.reward));
  assert.ok(gain > 0.15, `mean reward ${mean(first.map((s) => s.reward)).toFixed(3)} (steps 1-4) -> ${mean(last.map((s) => s.reward)).toFixed(3)} (steps 13-16)`);
  assert.ok(mean(last.map((s) => s.length)) < mean(first.map((s) => s.length)) - 1, 'the completions shorten');
});
