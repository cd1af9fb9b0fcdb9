import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `ponder chat` on the bundled model in a real terminal (tmux) at 80×24 and 60×18: the first screen
 * says what the model is for; an answer lands in the scrollback; /reset starts an empty conversation
 * (so /save has nothing to write); and Ink never clears the screen or the scrollback on the way (the
 * terminal's byte stream is recorded with pipe-pane and searched for ESC[2J / ESC[3J).
 */
let root: string;
before(() => (root = mkdtempSync(join(tmpdir(), 'ponder-chat-term-'))));
after(() => rmSync(root, { recursive: true, force: true }));

function hasTmux(): boolean {
  return spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;
}

const bin = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));

describe('ponder chat in a small terminal (tmux)', () => {
  const skip = hasTmux() ? false : 'tmux is not installed';
  for (const [cols, rows] of [
    [80, 24],
    [60, 18],
  ] as const) {
    it(`${cols}×${rows}: welcome, an answer into the scrollback, /reset, /save refused; no screen clears`, { skip, timeout: 120_000 }, async () => {
      const dir = join(root, `${cols}x${rows}`);
      const socket = `ponder-chat-term-${process.pid}-${cols}`;
      const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const argv = ['env', '-u', 'CI', '-u', 'CONTINUOUS_INTEGRATION', `PONDER_STATE_DIR=${join(dir, 'state')}`, process.execPath, bin, 'chat'];
      const cmd = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      execFileSync('mkdir', ['-p', dir]);
      const stream = join(dir, 'stream');
      tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'chat', '-x', String(cols), '-y', String(rows), cmd);
      tmux('pipe-pane', '-t', 'chat', '-o', `cat >> '${stream}'`);
      const screen = () => tmux('capture-pane', '-p', '-t', 'chat');
      const everything = () => tmux('capture-pane', '-p', '-S', '-', '-t', 'chat');
      const until = async (what: string, ok: (s: string) => boolean, ms = 60_000): Promise<string> => {
        const t0 = Date.now();
        for (;;) {
          let s = '';
          try {
            s = screen();
          } catch {
            /* the session ended */
          }
          if (ok(s)) return s;
          if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}; screen:\n${s}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      const send = (text: string) => {
        tmux('send-keys', '-t', 'chat', '-l', text);
        tmux('send-keys', '-t', 'chat', 'Enter');
      };
      try {
        await until('the welcome', (s) => s.includes('ponder chat · default') && s.includes('Try: What is 23 + 45?'));
        send('What is 47 + 38?');
        await until('the answer', (s) => /= \d+\./.test(s) && s.includes('Ctrl-D leaves'));
        send('/reset');
        await until('reset', (s) => s.includes('new conversation') && s.includes('ctx 0/512'));
        send('/save ' + join(dir, 'x.jsonl'));
        await until('nothing to save', (s) => s.includes('nothing to save'));
        assert.equal(existsSync(join(dir, 'x.jsonl')), false);
        const all = everything();
        assert.ok(all.indexOf('What is 47 + 38?') < all.indexOf('new conversation'), all);
        tmux('send-keys', '-t', 'chat', 'C-d');
        await until('the app to exit', () => spawnSync('tmux', ['-L', socket, 'has-session', '-t', 'chat']).status !== 0, 20_000);
      } finally {
        spawnSync('tmux', ['-L', socket, 'kill-server']);
      }
      const bytes = readFileSync(stream, 'latin1');
      assert.ok(bytes.length > 0);
      assert.equal(bytes.includes('\u001b[2J'), false, 'the screen was cleared');
      assert.equal(bytes.includes('\u001b[3J'), false, 'the scrollback was cleared');
    });
  }
});
