import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPonder } from '../helpers/cli.js';

/**
 * SIGTERM and SIGHUP during `ponder tune` act as Ctrl-C: the step finishes, a checkpoint is written,
 * the command exits 130 (the interrupted status, whatever stopped it) with a line saying how to
 * resume, and --resume finishes the run. The signal is sent after the first step event of a tiny
 * recipe (checkpoints every 4 steps, so the checkpoint on disk is the one the signal wrote).
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');
const BIN = join(ROOT, 'bin/ponder.js');
const tmp = mkdtempSync(join(tmpdir(), 'ponder-tune-signals-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function recipeIn(name: string): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(path, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${join(tmp, name)}`));
  return path;
}

/** Runs `ponder tune path --json`, sends `signal` after the first step event; resolves on exit. */
export function tuneAndSignal(path: string, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'tune', path, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sent && out.includes('"type":"step"')) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (c) => resolve({ code: c, stderr: err }));
  });
}

describe('signals during ponder tune', () => {
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    it(`${signal}: checkpoint, exit 130, --resume finishes`, { timeout: 180_000 }, async () => {
      const path = recipeIn(signal.toLowerCase());
      const run = join(tmp, signal.toLowerCase());
      const { code, stderr } = await tuneAndSignal(path, signal);
      assert.equal(code, 130, stderr);
      assert.match(stderr, /training stopped after step \d+; checkpoint .*step-\d{6}\.ckpt/);
      assert.match(stderr, /--resume/);
      const ckpts = readdirSync(join(run, 'checkpoints')).filter((f) => f.endsWith('.ckpt'));
      assert.equal(ckpts.length, 1, ckpts.join(', '));
      assert.ok(!existsSync(join(run, 'final')));
      if (signal === 'SIGTERM') {
        const r = runPonder(['tune', path, '--resume', '--json']);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(existsSync(join(run, 'final/config.json')));
      }
    });
  }
});
