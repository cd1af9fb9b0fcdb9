import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyFreshStart, planFreshStart } from '../../src/cli/fresh-run.js';
import { PonderError } from '../../src/errors.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { randomWeights, tinyConfig } from '../helpers/tiny-models.js';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder tune --fresh`: an earlier run in the output directory is set aside (moved, byte for byte,
 * into `<output>.prev-N`) and the run starts over; a directory that is not a ponder run, one holding
 * files a run did not write, and the init model's own directory are refused with one line and left
 * exactly as they were.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'ponder-tune-fresh-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(tmp, `case-${n++}`);

/** Every file under `dir` with its bytes. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name).slice(dir.length)] = readFileSync(join(e.parentPath, e.name)).toString('base64');
  }
  return out;
}

/**
 * A finished run's files as ponder writes them (contents made up: --fresh only moves them). A
 * self_evolve stage's round files are left out where the CLI's plain check (train/run-dir.ts) sees
 * the directory: that check does not know them.
 */
function fakeRun(dir: string, rounds = true): void {
  mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  mkdirSync(join(dir, 'final'));
  mkdirSync(join(dir, 'completions'));
  writeFileSync(join(dir, 'recipe.yaml'), 'old recipe\n');
  writeFileSync(join(dir, 'recipe.hash'), 'ab'.repeat(32) + '\n');
  writeFileSync(join(dir, 'metrics.jsonl'), '{"stage":0,"step":1,"loss":2}\n');
  writeFileSync(join(dir, 'report.md'), '# report\n');
  writeFileSync(join(dir, 'rl-ref-logps.json'), '[]');
  if (rounds) writeFileSync(join(dir, 'evolve-round-1.json'), '{}');
  writeFileSync(join(dir, 'checkpoints', 'step-000004.ckpt'), 'ckpt');
  writeFileSync(join(dir, 'final', 'config.json'), '{}');
  writeFileSync(join(dir, 'final', 'weights.msgpack'), 'w');
  writeFileSync(join(dir, 'final', 'README.md'), 'card');
  writeFileSync(join(dir, 'completions', 'rl-step-000001.jsonl'), '{}\n');
}

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && !e.message.includes('\n') && pattern.test(e.message));
}

function tinyRecipe(output: string, extra = ''): string {
  const path = join(tmp, `recipe-${n++}.yaml`);
  writeFileSync(path, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${output}`) + extra);
  return path;
}

describe('tune --fresh sets an earlier run aside', () => {
  it('moves every file of a run, unchanged, into <output>.prev-N, and the next time into .prev-2', () => {
    const out = fresh();
    fakeRun(out);
    const before = snapshot(out);
    const plan = planFreshStart(out)!;
    assert.equal(plan.to, `${out}.prev-1`);
    assert.deepEqual(snapshot(out), before, 'planning moves nothing');
    const line = applyFreshStart(plan, 'runs/x');
    assert.match(line, /^set aside the earlier run in runs\/x: checkpoints\/, completions\/, evolve-round-1\.json, final\/, metrics\.jsonl, recipe\.hash and 3 more moved to .*case-\d+\.prev-1$/);
    assert.deepEqual(readdirSync(out), []);
    assert.deepEqual(snapshot(`${out}.prev-1`), before);
    fakeRun(out);
    assert.equal(planFreshStart(out)!.to, `${out}.prev-2`);
  });

  it('has nothing to set aside in a missing or empty directory', () => {
    const out = fresh();
    assert.equal(planFreshStart(out), undefined);
    mkdirSync(out);
    assert.equal(planFreshStart(out), undefined);
  });

  it('refuses a directory that is not a ponder run, and one holding files a run did not write', () => {
    const notRun = fresh();
    mkdirSync(join(notRun, 'final'), { recursive: true });
    writeFileSync(join(notRun, 'final', 'config.json'), '{}');
    refuses(() => planFreshStart(notRun), /is not a ponder run \(no recipe\.hash\)/);

    const cases: [string, (dir: string) => void, RegExp][] = [
      ['a file of the user', (d) => writeFileSync(join(d, 'notes.txt'), 'mine'), /holds files a run did not write \("notes\.txt"\)/],
      ['a file in final/', (d) => writeFileSync(join(d, 'final', 'thesis.tex'), 'years'), /"final\/thesis\.tex"/],
      ['a file in checkpoints/', (d) => writeFileSync(join(d, 'checkpoints', 'keep.bin'), 'x'), /"checkpoints\/keep\.bin"/],
      ['a folder named like a run file', (d) => mkdirSync(join(d, 'metrics.jsonl.d')), /"metrics\.jsonl\.d"/],
    ];
    for (const [what, add, pattern] of cases) {
      const out = fresh();
      fakeRun(out);
      add(out);
      const before = snapshot(out);
      refuses(() => planFreshStart(out), pattern);
      assert.deepEqual(snapshot(out), before, what);
      assert.ok(!existsSync(`${out}.prev-1`), what);
    }
  });

  it('tune: --check --fresh says what it would set aside and moves nothing; --fresh with --resume is a usage error', () => {
    const out = fresh();
    fakeRun(out, false);
    const before = snapshot(out);
    const recipe = tinyRecipe(out);
    const plain = runPonder(['tune', recipe, '--check']);
    assert.equal(plain.code, 1, plain.stderr);
    assert.match(plain.stderrLines[0]!, /already holds a run/);
    assert.match(plain.stderrLines[1]!, /--fresh to start over/);
    const check = runPonder(['tune', recipe, '--check', '--fresh']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /^--fresh would set aside the earlier run in .*: checkpoints\/, .* would move to .*\.prev-1$/m);
    assert.match(check.stdout, /ok: the recipe is valid/);
    const both = runPonder(['tune', recipe, '--fresh', '--resume']);
    assert.equal(both.code, 2);
    assert.match(both.stderrLines[0]!, /--fresh starts the run over and --resume continues it/);
    assert.deepEqual(snapshot(out), before);
    assert.ok(!existsSync(`${out}.prev-1`));
  });

  it("tune --fresh refuses the init model's own directory and moves nothing", () => {
    const model = fresh();
    const config = tinyConfig('llama');
    saveModelDir(model, { config, weights: randomWeights(config, 1) });
    writeFileSync(join(model, 'recipe.hash'), 'ab'.repeat(32) + '\n');
    const before = snapshot(model);
    const path = join(tmp, `init-${n++}.yaml`);
    writeFileSync(path, `model: {init: ${model}}\noutput: ${model}\nstages:\n  - {name: s, kind: sft, data: {task: arithmetic, n: 8, digits: 1}, steps: 1, batch_size: 2, seq_len: 32, optimizer: {lr: 0.001}}\n`);
    const r = runPonder(['tune', path, '--fresh', '--check']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderrLines[0]!, /is the init model's own directory; a run would write into it/);
    assert.deepEqual(snapshot(model), before);
  });

  it('tune --fresh over a finished run: one line, the earlier run kept aside, the new run finishes', { timeout: 180_000 }, () => {
    const out = fresh();
    fakeRun(out);
    const before = snapshot(out);
    // a short recipe: one 2-step stage
    const path = join(tmp, `short-${n++}.yaml`);
    writeFileSync(path, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${out}`).replace(/^checkpoint_every: .*$/m, 'checkpoint_every: 0').replace(/steps: 12/, 'steps: 2').replace(/\n  - name: chat[\s\S]*$/, '\n').replace(/eval: .*\n/, '').replace(/warmup: 2/, 'warmup: 0'));
    const r = runPonder(['tune', path, '--fresh', '--plain'], { env: { XDG_RUNTIME_DIR: '/tmp' } });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderrLines.filter((l) => l.includes('set aside'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^set aside the earlier run in .*: .* moved to .*\.prev-1$/);
    assert.deepEqual(snapshot(`${out}.prev-1`), before);
    assert.ok(existsSync(join(out, 'final', 'config.json')));
    assert.notEqual(readFileSync(join(out, 'recipe.hash'), 'utf8'), before['/recipe.hash']);
  });
});
