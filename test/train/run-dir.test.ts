import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonderError, type ErrorCode } from '../../src/errors.js';
import { createRunDir, MetricsWriter, truncateMetrics, METRICS_FILE, RECIPE_FILE, RECIPE_HASH_FILE } from '../../src/train/run-dir.js';

let root = '';
let counter = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-run-dir-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});
function fresh(): string {
  return join(root, `run-${counter++}`);
}

function throwsPonder(fn: () => unknown, code: ErrorCode, ...parts: string[]): PonderError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PonderError, `expected a PonderError, got ${err instanceof Error ? err.stack : String(err)}`);
  assert.equal(err.code, code, `code of: ${err.message}`);
  assert.ok(!err.message.includes('\n'), `message is one line: ${err.message}`);
  for (const p of parts) assert.ok(err.message.includes(p), `"${err.message}" should mention "${p}"`);
  return err;
}

const H1 = 'a1'.repeat(32);
const H2 = 'b2'.repeat(32);

function lines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('run directory', () => {
  it('writes the resolved recipe and its hash', () => {
    const out = fresh();
    const run = createRunDir(out, { recipeText: 'model: x\n', recipeHash: H1, resume: false });
    assert.equal(readFileSync(join(out, RECIPE_FILE), 'utf8'), 'model: x\n');
    assert.equal(readFileSync(join(out, RECIPE_HASH_FILE), 'utf8'), H1 + '\n');
    assert.ok(existsSync(run.checkpointsDir));
    assert.equal(run.metricsPath, join(out, METRICS_FILE));
    assert.equal(run.resumed, false);
    assert.deepEqual(run.warnings, []);
  });

  it('a fresh run refuses a directory that holds a run; an empty one is fine', () => {
    const out = fresh();
    mkdirSync(out);
    createRunDir(out, { recipeText: 'a', recipeHash: H1, resume: false });
    writeFileSync(join(out, 'checkpoints', 'step-000001.ckpt'), 'x');
    throwsPonder(() => createRunDir(out, { recipeText: 'a', recipeHash: H1, resume: false }), 'BAD_INPUT', out, 'already holds a run');
    const file = fresh();
    writeFileSync(file, 'x');
    throwsPonder(() => createRunDir(file, { recipeText: 'a', recipeHash: H1, resume: false }), 'BAD_INPUT', 'not a directory');
  });

  it('resumes with the same recipe; refuses a changed one unless force', () => {
    const out = fresh();
    createRunDir(out, { recipeText: 'lr: 1\n', recipeHash: H1, resume: false });
    const same = createRunDir(out, { recipeText: 'lr: 1\n', recipeHash: H1, resume: true });
    assert.equal(same.resumed, true);
    assert.deepEqual(same.warnings, []);
    const err = throwsPonder(() => createRunDir(out, { recipeText: 'lr: 2\n', recipeHash: H2, resume: true }), 'BAD_INPUT', 'the recipe changed since this run started', `hash ${H1.slice(0, 12)} != ${H2.slice(0, 12)}`, '--force');
    assert.equal(err.code, 'BAD_INPUT');
    assert.equal(readFileSync(join(out, RECIPE_HASH_FILE), 'utf8'), H1 + '\n', 'a refused resume changes nothing');
    const forced = createRunDir(out, { recipeText: 'lr: 2\n', recipeHash: H2, resume: true, force: true });
    assert.equal(forced.warnings.length, 1);
    assert.ok(forced.warnings[0]!.includes('--force'));
    assert.equal(readFileSync(join(out, RECIPE_FILE), 'utf8'), 'lr: 2\n');
    assert.equal(readFileSync(join(out, RECIPE_HASH_FILE), 'utf8'), H2 + '\n');
    assert.equal(readFileSync(join(out, `recipe.${H1.slice(0, 12)}.yaml`), 'utf8'), 'lr: 1\n');
    // The new hash is now the run's: resuming with it needs no force.
    assert.deepEqual(createRunDir(out, { recipeText: 'lr: 2\n', recipeHash: H2, resume: true }).warnings, []);
  });

  it('resume of a missing run and bad hashes are one-line errors', () => {
    const out = fresh();
    throwsPonder(() => createRunDir(out, { recipeText: 'a', recipeHash: H1, resume: true }), 'NOT_FOUND', 'no run to resume');
    throwsPonder(() => createRunDir(out, { recipeText: 'a', recipeHash: 'not hex!', resume: false }), 'BAD_INPUT', 'recipe hash');
  });

  it('MetricsWriter appends one flushed JSON line per step, stage and step first', () => {
    const out = fresh();
    const run = createRunDir(out, { recipeText: 'a', recipeHash: H1, resume: false });
    const w = new MetricsWriter(run);
    w.append({ loss: 2.5, step: 1, stage: 0, lr: 1e-3, grad_norm: 0.7, tokens_per_s: 1234.5 });
    assert.equal(readFileSync(run.metricsPath, 'utf8'), '{"stage":0,"step":1,"loss":2.5,"lr":0.001,"grad_norm":0.7,"tokens_per_s":1234.5}\n');
    w.append({ stage: 0, step: 2, loss: 2.4, extra: { eval: 'x' } });
    assert.deepEqual(lines(run.metricsPath).map((r) => r.step), [1, 2]);
    throwsPonder(() => w.append({ stage: 0, step: -1 }), 'BAD_INPUT', 'stage and step');
    throwsPonder(() => w.append({ stage: 0, step: 3, loss: 1n as unknown as number }), 'BAD_INPUT', 'not JSON-serializable');
    assert.equal(lines(run.metricsPath).length, 2);
  });

  it('on resume, truncates lines after the resumed step (and a torn last line) so metrics never duplicate', () => {
    const out = fresh();
    const run = createRunDir(out, { recipeText: 'a', recipeHash: H1, resume: false });
    const w = new MetricsWriter(run);
    for (let s = 1; s <= 5; s++) w.append({ stage: 0, step: s, loss: 10 - s });
    for (let s = 6; s <= 8; s++) w.append({ stage: 1, step: s, loss: 10 - s });
    appendFileSync(run.metricsPath, '{"stage":1,"step":9,"lo'); // crash mid-write
    // Checkpoint was at stage 1, step 6: lines 7, 8 and the torn one go.
    const resumed = createRunDir(out, { recipeText: 'a', recipeHash: H1, resume: true });
    const w2 = new MetricsWriter(resumed, { stage: 1, step: 6 });
    assert.equal(w2.dropped, 3);
    assert.deepEqual(lines(run.metricsPath).map((r) => r.step), [1, 2, 3, 4, 5, 6]);
    for (let s = 7; s <= 9; s++) w2.append({ stage: 1, step: s, loss: 1 });
    assert.deepEqual(lines(run.metricsPath).map((r) => r.step), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Resuming further back, into stage 0.
    assert.deepEqual(truncateMetrics(run.metricsPath, { stage: 0, step: 3 }), { kept: 3, dropped: 6 });
    assert.deepEqual(lines(run.metricsPath).map((r) => r.step), [1, 2, 3]);
    // Resuming at or past the end keeps everything; a missing file is fine.
    assert.deepEqual(truncateMetrics(run.metricsPath, { stage: 9, step: 0 }), { kept: 3, dropped: 0 });
    assert.deepEqual(truncateMetrics(join(out, 'none.jsonl'), { stage: 0, step: 0 }), { kept: 0, dropped: 0 });
    assert.ok(readFileSync(run.metricsPath, 'utf8').endsWith('\n'));
  });
});
