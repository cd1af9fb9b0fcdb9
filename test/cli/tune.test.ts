import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPonder } from '../helpers/cli.js';

/** `ponder tune` through the real executable: --json events, --plain lines, Ctrl-C, and the final model. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');
const BIN = join(ROOT, 'bin/ponder.js');

const tmp = mkdtempSync(join(tmpdir(), 'ponder-tune-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function recipeIn(name: string): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(path, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${join(tmp, name)}`));
  return path;
}

describe('ponder tune', () => {
  it('--json: every event one JSON line, in order; the final model works with `ponder generate`', () => {
    const r = runPonder(['tune', recipeIn('json'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const evs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    assert.equal(evs[0]!.type, 'start');
    assert.equal(evs[1]!.type, 'stage');
    assert.equal(evs.at(-1)!.type, 'done');
    const steps = evs.filter((e) => e.type === 'step');
    assert.equal(steps.length, 16);
    for (const k of ['stage', 'step', 'loss', 'lr', 'grad_norm', 'skipped', 'tokens_per_s', 'gpu_mem_bytes']) assert.ok(k in steps[0]!, `step event without ${k}`);
    assert.deepEqual(evs.filter((e) => e.type === 'checkpoint').map((e) => e.step), [4, 8, 12, 16]);
    assert.ok(evs.some((e) => e.type === 'eval'));
    const finalDir = join(tmp, 'json/final');
    assert.equal(evs.at(-1)!.final_dir, finalDir);

    const g = runPonder(['generate', '--model', finalDir, '--prompt', 'What is 2 + 3?', '--raw', '-n', '5', '-t', '0', '--json']);
    assert.equal(g.code, 0, g.stderr);
    const out = JSON.parse(g.stdout.trim()) as { text: string; stats: { new_tokens: number } };
    assert.ok(out.stats.new_tokens >= 1 && out.stats.new_tokens <= 5);
  });

  it('--plain: progress lines without escape codes; a second run into the same output is refused', () => {
    const path = recipeIn('plain');
    const r = runPonder(['tune', path, '--plain']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes('\x1b'));
    assert.match(r.stdout, /^\[pre\] step 1\/12 {2}loss \d+\.\d{4} {2}lr 0 {2}gnorm \d+\.\d{3} {2}\d+ tok\/s {2}mem .+ {2}eta \d+:\d\d$/m);
    assert.match(r.stdout, /^\[pre\] step 12\/12 /m);
    assert.match(r.stdout, /^stage 2 "chat" \(sft\): 4 steps$/m);
    assert.match(r.stdout, /^done: 16 steps in .*final$/m);
    const again = runPonder(['tune', path, '--plain']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds a run/);
  });

  it('Ctrl-C: finishes the step, checkpoints, exits 130 saying how to resume; --resume finishes', async () => {
    const path = recipeIn('sigint');
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'tune', path, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let sent = false;
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (!sent && out.includes('"type":"step"')) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (c) => resolve({ code: c, stderr: err }));
    });
    assert.equal(code, 130, stderr);
    assert.match(stderr, /training stopped after step \d+; checkpoint .*step-\d{6}\.ckpt/);
    assert.match(stderr, /--resume/);
    assert.ok(!existsSync(join(tmp, 'sigint/final')));
    const r = runPonder(['tune', path, '--resume', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(tmp, 'sigint/final/config.json')));
  });
});
