import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder tune --check` through the real executable (and the `tune` alias): a valid recipe prints its
 * plan and exits 0; a broken one prints exactly one error line naming file, line and field and exits
 * 1. Without --check, a broken recipe gets its own error before training starts. None of this opens
 * the GPU (training runs themselves are tested in test/cli/tune.test.ts).
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TUNE_BIN = fileURLToPath(new URL('../../../bin/tune.js', import.meta.url));
// With no Vulkan driver to find, opening the GPU would fail: --check passing shows it never tries.
const env = { VK_ICD_FILENAMES: '/nonexistent/icd.json' };

function runTune(args: string[]) {
  const r = spawnSync(process.execPath, [TUNE_BIN, ...args], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
  const stderrLines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Warning: '));
  return { code: r.status, stdout: r.stdout, stderrLines };
}

describe('ponder tune --check', () => {
  for (const name of ['recipes/tiny-arithmetic-sft.yaml', 'recipes/tiny-pretrain-sft.yaml']) {
    it(`${name} passes and prints its plan`, () => {
      const r = runPonder(['tune', '--check', `${ROOT}${name}`], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^recipe {2}.*sha256 [0-9a-f]{12}$/m);
      assert.match(r.stdout, /^model {3}scratch: .*vocab bytes \(263\), [\d.]+k parameters$/m);
      assert.match(r.stdout, /^stage 1 \S+ \((sft|pretrain)\): arithmetic n=\d+ .* tokens\/step/m);
      assert.match(r.stdout, /^total {3}\d stages?, \d+ steps, [\d.]+[kM] tokens$/m);
      assert.match(r.stdout, /^ok: the recipe is valid$/m);
    });
  }

  it('--json prints one object with the hash and the plan', () => {
    const r = runPonder(['tune', '--check', '--json', `${ROOT}recipes/tiny-pretrain-sft.yaml`], { env });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const j = JSON.parse(lines[0]!);
    assert.equal(j.ok, true);
    assert.match(j.hash, /^[0-9a-f]{64}$/);
    assert.equal(j.plan.total_steps, 600);
    assert.deepEqual(j.plan.stages.map((s: { name: string }) => s.name), ['pretrain', 'sft']);
    assert.equal(j.plan.stages[0].tokens_per_step, 32 * 96);
    assert.ok(j.plan.model.parameters > 0);
  });

  it('shows gradient accumulation: micro-batches, effective batch and tokens per optimizer step', () => {
    const r = runPonder(['tune', '--check', `${ROOT}test/fixtures/recipes/tiny-accum.yaml`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^stage 1 pre \(pretrain\): arithmetic n=40 digits=1; 3 steps x 2x24 x 2 micro-batches \(effective batch 4\) = 96 tokens\/step \(288\); /m);
  });

  it('a broken recipe: one error line with file, line and field, exit 1', () => {
    const path = `${ROOT}test/fixtures/recipes/negative-lr.yaml`;
    for (const args of [['tune', '--check', path], ['tune', '--check', '--json', path]]) {
      const r = runPonder(args);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.deepEqual(r.stderrLines, [`ponder: error: ${path}:22: stages[0].optimizer.lr: must be > 0 (got -1)`]);
    }
  });

  it('without --check: a broken recipe gets its own one-line error before any training starts', () => {
    const bad = runPonder(['tune', `${ROOT}test/fixtures/recipes/unknown-kind.yaml`]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderrLines.length, 1, bad.stderr);
    assert.match(bad.stderrLines[0]!, /unknown-kind\.yaml:16: stages\[0\]\.kind: unknown stage kind "ppo" \(known: pretrain, sft[^)]*\)$/);
  });
});

describe('the tune alias', () => {
  it('`tune --check recipe.yaml` is `ponder tune --check recipe.yaml` (relative paths from the working directory)', () => {
    const r = runTune(['--check', 'recipes/tiny-arithmetic-sft.yaml']);
    assert.equal(r.code, 0, r.stderrLines.join('\n'));
    assert.match(r.stdout, /^recipe {2}recipes\/tiny-arithmetic-sft\.yaml {2}sha256 /m);
    assert.match(r.stdout, /^ok: the recipe is valid$/m);
  });

  it('`tune --check` on a broken recipe: one line, exit 1', () => {
    const r = runTune(['--check', 'test/fixtures/recipes/yaml-syntax.yaml']);
    assert.equal(r.code, 1);
    assert.equal(r.stderrLines.length, 1, r.stderrLines.join('\n'));
    assert.match(r.stderrLines[0]!, /error: test\/fixtures\/recipes\/yaml-syntax\.yaml:17: YAML syntax error: /);
  });
});
