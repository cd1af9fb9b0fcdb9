import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The `ponder tune` dashboard in a real terminal (tmux) at 80×24 and 60×18, on the tiny two-stage
 * recipe: the frame fits (its header stays on screen), p pauses (PAUSED), q stops with a checkpoint and
 * exits 130 with the summary as the frame's last line and "ponder: training stopped after step N; …;
 * resume with …" (no "error:"), and `--resume` finishes the run with the earlier steps in its curve.
 * The terminal's byte stream (pipe-pane) must hold no screen or scrollback clear (ESC[2J / ESC[3J):
 * Ink clears both to redraw a frame as tall as the terminal — nor Dawn's start-up warnings. The 60×18
 * run sets NO_COLOR and must hold no colour or style escapes.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');
const BIN = join(ROOT, 'bin/ponder.js');
const root = mkdtempSync(join(tmpdir(), 'ponder-tune-term-'));
after(() => rmSync(root, { recursive: true, force: true }));

function hasTmux(): boolean {
  return spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;
}

/** Colour and style SGR sequences (ESC[...m with a non-reset parameter). */
const SGR_STYLE = /\x1b\[(?:[1-9]|[1-9]\d)(?:;\d+)*m/;

describe('ponder tune dashboard in a small terminal (tmux)', () => {
  const skip = hasTmux() ? false : 'tmux is not installed';
  for (const [cols, rows, noColor] of [
    [80, 24, false],
    [60, 18, true],
  ] as const) {
    it(`${cols}×${rows}${noColor ? ' with NO_COLOR' : ''}: fits, pauses, q stops without "error:", --resume finishes; no clears`, { skip, timeout: 180_000 }, async () => {
      const dir = join(root, `${cols}x${rows}`);
      mkdirSync(dir, { recursive: true });
      const recipe = join(dir, 'recipe.yaml');
      writeFileSync(recipe, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${join(dir, 'run')}`));
      let socket = '';
      const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const screen = () => {
        try {
          return tmux('capture-pane', '-p', '-t', 'tune');
        } catch {
          return ''; // the session ended
        }
      };
      const until = async (what: string, ok: (s: string) => boolean, ms = 90_000): Promise<string> => {
        const t0 = Date.now();
        for (;;) {
          const s = screen();
          if (ok(s)) return s;
          if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}; screen:\n${s}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      // one shell per run: the command, then its exit code into a file, then a pause so the screen stays
      const session = async (name: string, args: string[]): Promise<{ code: string; stream: string; last: string }> => {
        socket = `ponder-tune-term-${process.pid}-${cols}-${name}`; // a fresh server per run
        const codeFile = join(dir, `${name}.code`);
        const stream = join(dir, `${name}.stream`);
        const env = ['env', '-u', 'CI', '-u', 'CONTINUOUS_INTEGRATION', ...(noColor ? ['NO_COLOR=1'] : ['-u', 'NO_COLOR']), process.execPath, BIN, 'tune', recipe, ...args];
        const quoted = env.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
        tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'tune', '-x', String(cols), '-y', String(rows), `sh -c "${quoted.replace(/"/g, '\\"')}; echo \\$? > ${codeFile}; sleep 60"`);
        tmux('pipe-pane', '-t', 'tune', '-o', `cat >> '${stream}'`);
        return { code: codeFile, stream, last: '' };
      };
      try {
        const first = await session('first', []);
        let s = await until('the dashboard', (s) => /\d+\/16 steps/.test(s) && s.includes('p pause'));
        assert.match(s, /ponder tune → /, 'the header is on screen: the frame fits');
        tmux('send-keys', '-t', 'tune', 'p');
        s = await until('the pause', (s) => /PAUSED after step \d+/.test(s));
        const paused = Number(/PAUSED after step (\d+)/.exec(s)![1]);
        assert.match(s, /ponder tune → /);
        assert.match(s, /p resume · /);
        tmux('send-keys', '-t', 'tune', 'q');
        await until('the exit', () => existsSync(first.code) && readFileSync(first.code, 'utf8').trim() !== '', 60_000);
        assert.equal(readFileSync(first.code, 'utf8').trim(), '130');
        s = await until('the last lines', (s) => s.includes('ponder: training stopped'));
        const lines = s.split('\n').filter((l) => l.trim() !== '');
        const stopLine = lines.findIndex((l) => l.startsWith('ponder: training stopped'));
        assert.match(lines[stopLine - 1]!, new RegExp(`^stopped at step ${paused} of 16`), 'the summary is the frame\'s last line');
        assert.match(lines.slice(stopLine).join(''), new RegExp(`^ponder: training stopped after step ${paused}; checkpoint .*; resume with .*--resume`));
        assert.ok(!s.includes('error:'), s);
        spawnSync('tmux', ['-L', socket, 'kill-server']);

        const second = await session('second', ['--resume']);
        s = await until('the resumed run to finish', () => existsSync(second.code) && readFileSync(second.code, 'utf8').trim() !== '', 120_000);
        assert.equal(readFileSync(second.code, 'utf8').trim(), '0');
        s = screen();
        assert.match(s, new RegExp(`^ponder tune \\(resumed at step ${paused}\\) → `, 'm'));
        assert.match(s, /done: 16 steps in /);
        assert.ok(existsSync(join(dir, 'run/final/config.json')));

        for (const stream of [first.stream, second.stream]) {
          const bytes = readFileSync(stream, 'latin1');
          assert.ok(bytes.length > 0);
          assert.equal(bytes.includes('\u001b[2J'), false, 'the screen was cleared');
          assert.equal(bytes.includes('\u001b[3J'), false, 'the scrollback was cleared');
          assert.equal(bytes.includes('artificially reduced'), false, "Dawn's start-up warnings reached the terminal");
          if (noColor) assert.doesNotMatch(bytes, SGR_STYLE, 'a colour or style under NO_COLOR');
          else assert.match(bytes, SGR_STYLE, 'colours without NO_COLOR (the check above can fail)');
        }
      } finally {
        spawnSync('tmux', ['-L', socket, 'kill-server']);
      }
    });
  }
});
