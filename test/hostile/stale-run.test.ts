import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRunDir, METRICS_FILE } from '../../src/train/run-dir.js';
import { runPonder } from '../helpers/cli.js';

/**
 * A run that failed before its first checkpoint (killed, or an error in its first steps) left a run
 * directory with a recipe and metrics but nothing to resume from. A fresh run accepts it (one warning
 * line, the metrics start again); --resume refuses it with a line that says to start without it.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');
const BIN = join(ROOT, 'bin/ponder.js');
const tmp = mkdtempSync(join(tmpdir(), 'ponder-stale-run-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const H = 'd4'.repeat(32);

describe('a run that stopped before its first checkpoint', () => {
  it('createRunDir: a fresh run starts it again; its metrics restart', () => {
    const out = join(tmp, 'unit');
    createRunDir(out, { recipeText: 'a', recipeHash: H, resume: false });
    appendFileSync(join(out, METRICS_FILE), '{"stage":0,"step":1,"loss":3}\n');
    writeFileSync(join(out, 'checkpoints', 'step-000004.ckpt.tmp'), 'partial');
    const again = createRunDir(out, { recipeText: 'b', recipeHash: H, resume: false });
    assert.equal(again.warnings.length, 1);
    assert.match(again.warnings[0]!, /stopped before its first checkpoint; starting it again/);
    assert.equal(readFileSync(join(out, METRICS_FILE), 'utf8'), '');
    assert.equal(readFileSync(join(out, 'recipe.yaml'), 'utf8'), 'b');
  });

  it("createRunDir: a stage runner's own files (self_evolve rounds, DPO reference log-probs) still mark it a ponder run", () => {
    const out = join(tmp, 'rounds');
    createRunDir(out, { recipeText: 'a', recipeHash: H, resume: false });
    writeFileSync(join(out, 'evolve-round-1.json'), '{}');
    writeFileSync(join(out, 'dpo-ref-logps.json.tmp'), '{');
    const again = createRunDir(out, { recipeText: 'b', recipeHash: H, resume: false });
    assert.match(again.warnings[0]!, /stopped before its first checkpoint; starting it again/);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    assert.throws(() => createRunDir(out, { recipeText: 'b', recipeHash: H, resume: false }), /not a ponder run \(it holds "notes\.txt"\)/);
  });

  it('killed (SIGKILL) after its first step: --resume says to start fresh, and a fresh run finishes', { timeout: 180_000 }, async () => {
    const out = join(tmp, 'killed');
    mkdirSync(out);
    const path = join(tmp, 'killed.yaml');
    writeFileSync(path, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${out}`));
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'tune', path, '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let seen = '';
      child.stdout.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('"type":"step"')) child.kill('SIGKILL');
      });
      child.on('exit', (c) => resolve(c));
    });
    assert.equal(code, null);
    assert.ok(existsSync(join(out, 'recipe.hash')));
    const resume = runPonder(['tune', path, '--resume', '--plain']);
    assert.equal(resume.code, 1, resume.stderr);
    assert.match(resume.stderrLines[0]!, /no checkpoints to resume from/);
    assert.match(resume.stderrLines[1]!, /start the run without --resume/);
    const r = runPonder(['tune', path, '--plain']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /stopped before its first checkpoint; starting it again/);
    assert.ok(existsSync(join(out, 'final/config.json')));
  });
});
