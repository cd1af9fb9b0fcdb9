import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `ponder eval` with stderr on a terminal (tmux) and stdout in a file: the terminal sees the answers
 * counted as they finish ("k/n answers", rewritten in place) and the line cleared at the end; the
 * file gets the result alone. (With stderr not a terminal nothing is drawn: eval.test.ts reads a
 * clean stderr.)
 */
let root = '';
before(() => (root = mkdtempSync(join(tmpdir(), 'ponder-eval-progress-'))));
after(() => rmSync(root, { recursive: true, force: true }));

const bin = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));
const hasTmux = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;

describe('eval progress on a terminal', () => {
  it('counts answers on stderr while stdout goes to a file', { skip: hasTmux ? false : 'tmux is not installed', timeout: 120_000 }, async () => {
    const socket = `ponder-eval-progress-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const out = join(root, 'out.json');
    const done = join(root, 'done');
    const run = [process.execPath, bin, 'eval', '-n', '6', '--digits', '1', '--max-tokens', '8', '--json'].map(q).join(' ');
    // the pane is recorded from its first byte: the command waits a moment for pipe-pane
    const cmd = `sleep 1; XDG_RUNTIME_DIR=/tmp ${run} > ${q(out)}; echo $? > ${q(done)}; sleep 60`;
    const stream = join(root, 'stream');
    tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'eval', '-x', '80', '-y', '24', 'sh', '-c', cmd);
    try {
      tmux('pipe-pane', '-t', 'eval', '-o', `cat >> ${q(stream)}`);
      for (let i = 0; i < 500 && !existsSync(done); i++) await new Promise((r) => setTimeout(r, 200));
      assert.ok(existsSync(done), 'eval finished');
      assert.equal(readFileSync(done, 'utf8').trim(), '0');
      const result = JSON.parse(readFileSync(out, 'utf8'));
      assert.equal(result.n, 6);
      const seen = readFileSync(stream, 'latin1');
      assert.match(seen, /\r?[1-6]\/6 answers/, 'answers counted on the terminal');
      assert.match(seen, /6\/6 answers\r\x1b\[K/, 'the count is cleared once all are in');
    } finally {
      try {
        tmux('kill-server');
      } catch {
        /* already gone */
      }
    }
  });
});
