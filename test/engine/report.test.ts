import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evalColumns, formatReport, readRunReport, reportJson } from '../../src/engine/report.js';
import { runTuner } from '../../src/engine/tuner.js';
import type { TuneEvalEvent, TuneEvent } from '../../src/engine/tuner-events.js';
import { isPonderError } from '../../src/errors.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { testGpu } from '../helpers/gpu.js';

/**
 * The report card: a tiny two-stage run (both stages evaluated) ends by writing report.md with a row
 * per stage and a column per eval figure, holding the figures of each stage's last eval event, and the
 * final held-out scores (the last stage's last eval); the card is rebuilt from the run directory
 * alone. A synthetic run directory covers figures a runner may add (pass@k, maj@k), a stage without
 * an eval and a run that has not finished.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');

const tmp = mkdtempSync(join(tmpdir(), 'ponder-report-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The tiny recipe with an eval on its SFT stage too. */
function recipeIn(name: string): string {
  const path = join(tmp, `${name}.yaml`);
  const text = readFileSync(RECIPE, 'utf8')
    .replace(/^output: .*$/m, `output: ${join(tmp, name)}`)
    .replace('optimizer: {lr: 5.0e-3, schedule: constant}', 'optimizer: {lr: 5.0e-3, schedule: constant}\n    eval: {task: arithmetic, n: 2}');
  writeFileSync(path, text);
  return path;
}

/** The table rows of a markdown section, as cells. */
function tableRows(md: string, heading: string): string[][] {
  const section = md.split(`## ${heading}`)[1]!.split('\n## ')[0]!;
  return section
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) => l.slice(1, -1).split('|').map((c) => c.trim()));
}

describe('report card', () => {
  it('a run writes report.md: a row per stage with its last eval, the final scores, model, recipe and adapter', async () => {
    const path = recipeIn('run');
    const gpu = await testGpu();
    const events: TuneEvent[] = [];
    for await (const e of runTuner(gpu, loadRecipe(path))) events.push(e);
    const done = events.at(-1)!;
    assert.ok(done.type === 'done' && done.report === join(tmp, 'run/report.md'));
    const md = readFileSync(join(tmp, 'run/report.md'), 'utf8');
    assert.equal(md, formatReport(readRunReport(join(tmp, 'run'))), 'the card is rebuilt from the run directory alone');

    const evals = events.filter((e): e is TuneEvalEvent => e.type === 'eval');
    const lastOf = (stage: number) => evals.filter((e) => e.stage === stage).at(-1)!;
    const rows = tableRows(md, 'Held-out evaluation per stage');
    assert.deepEqual(rows[0], ['stage', 'kind', 'steps', 'eval', 'n', 'accuracy']);
    assert.equal(rows.length, 2 + 2, 'header, rule, a row per stage');
    for (const [i, name, kind, steps] of [[0, 'pre', 'pretrain', '12'], [1, 'chat', 'sft', '4']] as const) {
      const e = lastOf(i);
      assert.deepEqual(rows[2 + i], [name, kind, steps, `arithmetic @ step ${e.step}`, String(e.n), e.accuracy.toFixed(4)]);
    }
    assert.deepEqual(evals.map((e) => `${e.stage}:${e.step}`), ['0:8', '0:12', '1:4']);

    const final = tableRows(md, 'Final held-out scores');
    const acc = lastOf(1).accuracy;
    assert.deepEqual(final.slice(2), [['accuracy', acc.toFixed(4)]]);
    assert.match(md, /Stage chat, step 4: arithmetic, 2 problems\./);

    const start = events[0]!;
    assert.ok(start.type === 'start');
    const r = readRunReport(join(tmp, 'run'));
    assert.equal(r.done, true);
    assert.equal(r.model.parameters, start.parameters);
    assert.equal(r.recipe.hash, start.recipe_hash);
    assert.equal(r.recipe.file, path);
    assert.ok(r.adapter && r.adapter.length > 0);
    assert.ok(r.elapsed_s !== undefined && r.elapsed_s >= 0);
    assert.match(md, new RegExp(`\\| model \\| scratch \\(LlamaForCausalLM, hidden 32 x 2 layers\\), ${start.parameters.toLocaleString('en-US')} parameters \\|`));
    assert.match(md, new RegExp(`\\| recipe \\| ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(sha256 ${start.recipe_hash.slice(0, 12)}\\) \\|`));
    assert.match(md, new RegExp(`\\| adapter \\| ${r.adapter!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\|`));
    assert.match(md, /\| steps \| 16 of 16 \|/);
  });

  it('other eval figures become columns; a stage without eval and an unfinished run still report', () => {
    const dir = join(tmp, 'synthetic');
    mkdirSync(dir);
    writeFileSync(join(dir, 'recipe.hash'), 'ab'.repeat(32) + '\n');
    writeFileSync(
      join(dir, 'recipe.yaml'),
      'recipe_hash: x\nfile: /r.yaml\nmodel: {init: default, config: {architecture: Qwen3ForCausalLM, hidden_size: 64, num_hidden_layers: 4}}\nstages:\n' +
        '  - {name: a, kind: sft, steps: 4}\n  - {name: b, kind: grpo, steps: 3}\n  - {name: c, kind: dpo, steps: 2}\n',
    );
    const lines = [
      { stage: 0, step: 1, loss: 2, time_s: 1.5 },
      { stage: 0, step: 2, eval_task: 'arithmetic', accuracy: 0.25, eval_n: 8 },
      { stage: 0, step: 4, loss: 1, time_s: 3 },
      { stage: 0, step: 4, eval_task: 'arithmetic', accuracy: 0.5, eval_n: 8 },
      { stage: 1, step: 2, loss: 0.5, reward: 0.7, time_s: 7.25 },
      { stage: 1, step: 2, eval_task: 'arithmetic', accuracy: 0.625, 'pass@4': 0.875, 'maj@4': 0.75, eval_n: 8 },
    ];
    writeFileSync(join(dir, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n{"stage": 1, "st');
    const r = readRunReport(dir);
    assert.equal(r.done, false);
    assert.equal(r.elapsed_s, 7.25);
    assert.deepEqual(evalColumns(r), ['accuracy', 'pass@4', 'maj@4']);
    assert.deepEqual(r.stages.map((s) => s.steps_done), [4, 2, 0]);
    assert.equal(r.final, undefined);
    const json = reportJson(r) as { stages: { name: string; evals: Record<string, unknown> }[]; final: unknown; adapter: unknown };
    assert.deepEqual(json.stages.map((s) => s.evals), [{ task: 'arithmetic', step: 4, n: 8, accuracy: 0.5 }, { task: 'arithmetic', step: 2, n: 8, accuracy: 0.625, 'pass@4': 0.875, 'maj@4': 0.75 }, {}]);
    assert.equal(json.final, null);
    assert.equal(json.adapter, null);
    const md = formatReport(r);
    const rows = tableRows(md, 'Held-out evaluation per stage');
    assert.deepEqual(rows[0], ['stage', 'kind', 'steps', 'eval', 'n', 'accuracy', 'pass@4', 'maj@4']);
    assert.deepEqual(rows.slice(2), [
      ['a', 'sft', '4', 'arithmetic @ step 4', '8', '0.5000', '-', '-'],
      ['b', 'grpo', '2/3', 'arithmetic @ step 2', '8', '0.6250', '0.8750', '0.7500'],
      ['c', 'dpo', '0/2', '-', '-', '-', '-', '-'],
    ]);
    assert.match(md, /\| steps \| 6 of 9 \(not finished\) \|/);
    assert.match(md, /\| wall time \| 0:07 \|/);
    assert.match(md, /The last stage \(c\) has no evaluation\./);
    assert.match(md, /\| model \| default \(Qwen3ForCausalLM, hidden 64 x 4 layers\) \|/);
  });

  it('a missing directory or one without a run is one clear error', () => {
    for (const [dir, re] of [[join(tmp, 'nope'), /no such directory/], [tmp, /not a ponder run directory/]] as const) {
      assert.throws(() => readRunReport(dir), (e: unknown) => isPonderError(e) && re.test(e.message) && !e.message.includes('\n'));
    }
  });
});
