import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder tune` through the real executable: --json events, --plain lines, Ctrl-C, the final model,
 * and the dashboard in a real pseudo-terminal (tmux): pause, checkpoint while paused, quit.
 */
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
    const help = runPonder(['tune', '--help']);
    assert.match(help.stdout, /live dashboard/);
    for (const key of [/^ {2}p {2}pause \/ resume/m, /^ {2}s {2}write a checkpoint now/m, /^ {2}e {2}run the stage's evaluation now/m, /^ {2}q {2}write a checkpoint and quit/m]) assert.match(help.stdout, key);
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

function hasTmux(): boolean {
  return spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;
}

describe('ponder tune dashboard in a terminal (tmux)', () => {
  const skip = hasTmux() ? false : 'tmux is not installed (apt-get install tmux; scripts/setup.sh should list it)';
  it('draws the dashboard; p pauses, s checkpoints while paused, q checkpoints and exits 130', { skip, timeout: 120_000 }, async () => {
    const path = recipeIn('dashboard');
    const codeFile = join(tmp, 'dashboard.code');
    const socket = `ponder-tune-test-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    // Ink renders only a final frame under CI / CONTINUOUS_INTEGRATION; this is a real terminal session
    const argv = ['env', '-u', 'CI', '-u', 'CONTINUOUS_INTEGRATION', process.execPath, BIN, 'tune', path];
    const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'tune', '-x', '110', '-y', '32', `sh -c "${quoted.replace(/"/g, '\\"')}; echo \\$? > ${codeFile}"`);
    const screen = () => {
      try {
        return tmux('capture-pane', '-p', '-t', 'tune');
      } catch {
        return ''; // the session ended
      }
    };
    const until = async (what: string, ok: (s: string) => boolean, ms = 60_000): Promise<string> => {
      const t0 = Date.now();
      for (;;) {
        const s = screen();
        if (ok(s)) return s;
        if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}; screen:\n${s}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      let s = await until('the dashboard', (s) => /\d+\/16 steps/.test(s) && s.includes('p pause'));
      assert.match(s, /ponder tune → .*dashboard/);
      assert.match(s, /▶ pre\s+pretrain/);
      tmux('send-keys', '-t', 'tune', 'p');
      s = await until('the pause', (s) => /PAUSED after step \d+/.test(s));
      const paused = Number(/PAUSED after step (\d+)/.exec(s)![1]);
      await new Promise((r) => setTimeout(r, 500));
      assert.match(screen(), new RegExp(`${paused}/16 steps`), 'no step runs while paused');
      tmux('send-keys', '-t', 'tune', 's');
      await until('the checkpoint', (s) => s.includes(`checkpoint step ${paused}:`) || s.includes(`checkpoint for step ${paused} already written`));
      tmux('send-keys', '-t', 'tune', 'q');
      await until('the exit', () => existsSync(codeFile) && readFileSync(codeFile, 'utf8').trim() !== '', 30_000);
      assert.equal(readFileSync(codeFile, 'utf8').trim(), '130');
      assert.ok(existsSync(join(tmp, 'dashboard/checkpoints', `step-${String(paused).padStart(6, '0')}.ckpt`)), readdirSync(join(tmp, 'dashboard/checkpoints')).join(', '));
      assert.ok(!existsSync(join(tmp, 'dashboard/final')));
    } finally {
      spawnSync('tmux', ['-L', socket, 'kill-server']);
    }
  });
});
