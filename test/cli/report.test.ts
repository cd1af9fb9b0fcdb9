import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder report RUN_DIR` through the real executable, on the run directory of a real `ponder tune`
 * of the tiny recipe: the plain output is the report.md the run wrote; --json holds the same figures
 * as the run's eval events; a missing or non-run directory is one line on stderr and exit 1.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');

const tmp = mkdtempSync(join(tmpdir(), 'ponder-report-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface ReportJson {
  model: { init: string; parameters: number };
  recipe: { file: string; hash: string };
  stages: { name: string; kind: string; steps: number; evals: Record<string, number | string> }[];
  final: Record<string, number | string> | null;
  elapsed_s: number;
  adapter: string;
}

describe('ponder report', () => {
  it('prints the report card of a tune run (plain = report.md) and --json with the eval figures', () => {
    const path = join(tmp, 'tiny.yaml');
    writeFileSync(path, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${join(tmp, 'run')}`));
    const t = runPonder(['tune', path, '--json']);
    assert.equal(t.code, 0, t.stderr);
    const evs = t.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    const done = evs.at(-1)!;
    assert.equal(done.report, join(tmp, 'run/report.md'));
    const start = evs[0]!;

    const plain = runPonder(['report', join(tmp, 'run')]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, readFileSync(join(tmp, 'run/report.md'), 'utf8'));
    assert.match(plain.stdout, /^\| pre \| pretrain \| 12 \| arithmetic @ step 12 \| 3 \| /m);
    assert.match(plain.stdout, /^\| chat \| sft \| 4 \| - \| - \| - \|$/m);

    const j = runPonder(['report', join(tmp, 'run'), '--json']);
    assert.equal(j.code, 0, j.stderr);
    const r = JSON.parse(j.stdout) as ReportJson;
    assert.deepEqual(r.stages.map((s) => [s.name, s.kind, s.steps]), [['pre', 'pretrain', 12], ['chat', 'sft', 4]]);
    const lastEval = evs.filter((e) => e.type === 'eval' && e.stage === 0).at(-1)!;
    assert.deepEqual(r.stages[0]!.evals, { task: 'arithmetic', step: lastEval.step, n: lastEval.n, accuracy: lastEval.accuracy });
    assert.deepEqual(r.stages[1]!.evals, {});
    assert.equal(r.final, null, 'the last stage has no eval');
    assert.equal(r.model.init, 'scratch');
    assert.equal(r.model.parameters, start.parameters);
    assert.equal(r.recipe.hash, start.recipe_hash);
    assert.equal(r.recipe.file, path);
    assert.ok(typeof r.adapter === 'string' && r.adapter.length > 0);
    assert.ok(r.elapsed_s >= 0);
  });

  it('a missing or non-run directory: one line, exit 1', () => {
    for (const [dir, re] of [[join(tmp, 'missing'), /no such directory/], [tmp, /not a ponder run directory/]] as const) {
      const r = runPonder(['report', dir]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderrLines.length <= 2, true, r.stderr); // the error line (and perhaps its hint)
      assert.match(r.stderrLines[0]!, re);
      assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
    }
  });
});
