import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPonder } from '../helpers/cli.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * `ponder chat` through the real executable: headless (--prompt, piped stdin, --json), the missing-model
 * error before any UI, and the Ink app in a real pseudo-terminal (tmux): type a question, read the
 * answer off the screen, leave with Ctrl-D.
 */
let root: string;
let model: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-chat-'));
  const config = tinyConfig('qwen2');
  const hf = writeHfModel(join(root, 'hf'), config, randomWeights(config, 3));
  model = join(root, 'tiny');
  const r = runPonder(['import', hf, '--out', model]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(root, { recursive: true, force: true }));

const GREEDY = ['--max-tokens', '8', '--temperature', '0'];

interface Answer {
  text: string;
  stats: { prompt_tokens: number; new_tokens: number; tokens_per_s: number; stop_reason: string };
}

describe('ponder chat, headless', () => {
  it('--prompt answers once to stdout; --json gives {text, stats}; piped stdin is the prompt', () => {
    const r = runPonder(['chat', '--model', model, '--prompt', 'hello there', ...GREEDY, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j: Answer = JSON.parse(r.stdout);
    assert.equal(typeof j.text, 'string');
    assert.ok(j.stats.prompt_tokens > 0 && j.stats.new_tokens <= 8, JSON.stringify(j.stats));

    const piped = runPonder(['chat', '--model', model, ...GREEDY, '--json'], { input: 'hello there' });
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(JSON.parse(piped.stdout).text, j.text, 'stdin and --prompt give the same (greedy) answer');

    const plain = runPonder(['chat', '--model', model, '--prompt', 'hello there', ...GREEDY]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, j.text + '\n', 'streamed text is the answer, then a newline');
  });

  it('--json splits reasoning from content; --think/--no-think and --mtp/--no-mtp are accepted; a bad --mtp is a usage error', () => {
    const r = runPonder(['chat', '--model', model, '--prompt', 'hi', ...GREEDY, '--json', '--think', '--no-mtp']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(typeof j.content, 'string');
    assert.equal(j.content, j.reasoning === undefined ? j.text : j.content);
    const noMtp = runPonder(['chat', '--model', model, '--prompt', 'hi', '--mtp']);
    assert.equal(noMtp.code, 2);
    assert.match(noMtp.stderrLines[0] ?? '', /has no MTP layers/);
    const bad = runPonder(['chat', '--model', model, '--prompt', 'hi', '--mtp=zero']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderrLines[0] ?? '', /--mtp must be an integer/);
  });

  it('a missing model is one NOT_FOUND line before anything else; an empty prompt is a usage error', () => {
    const r = runPonder(['chat', '--model', join(root, 'nothing-here'), '--prompt', 'hi']);
    assert.equal(r.code, 1);
    assert.match(r.stderrLines[0] ?? '', /^ponder: error: no model at .*nothing-here/);
    assert.ok(r.stderrLines.length <= 2, r.stderr);
    assert.equal(r.stdout, '');
    const empty = runPonder(['chat', '--model', model], { input: '  \n' });
    assert.equal(empty.code, 2);
    assert.match(empty.stderrLines[0] ?? '', /the prompt is empty/);
  });
});

function hasTmux(): boolean {
  return spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;
}

describe('ponder chat in a terminal (tmux)', () => {
  const skip = hasTmux() ? false : 'tmux is not installed (apt-get install tmux; scripts/setup.sh should list it)';
  it('shows the app, answers a typed question on screen, and leaves on Ctrl-D', { skip, timeout: 120_000 }, async () => {
    const expected: Answer = JSON.parse(runPonder(['chat', '--model', model, '--prompt', 'what is two plus two?', ...GREEDY, '--json']).stdout);
    const socket = `ponder-chat-test-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const bin = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));
    // Ink renders only a final frame when it sees CI / CONTINUOUS_INTEGRATION (as CI runs set); this is
    // a real terminal session, so the app runs without them.
    // the input history goes to a temporary state directory, never the user's
    const state = join(root, 'state');
    const argv = ['env', '-u', 'CI', '-u', 'CONTINUOUS_INTEGRATION', `PONDER_STATE_DIR=${state}`, process.execPath, bin, 'chat', '--model', model, ...GREEDY];
    const cmd = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'chat', '-x', '100', '-y', '30', cmd);
    const screen = () => tmux('capture-pane', '-p', '-t', 'chat');
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
    try {
      await until('the app', (s) => s.includes('ponder chat ·') && s.includes('ctx 0/128'));
      tmux('send-keys', '-t', 'chat', '-l', 'what is two plus two?');
      await until('the typed question', (s) => s.includes('what is two plus two?'));
      tmux('send-keys', '-t', 'chat', 'Enter');
      const used = expected.stats.prompt_tokens + expected.stats.new_tokens;
      const s = await until('the answer', (s) => s.includes(`ctx ${used}/128`) && !s.includes('generating'));
      assert.match(s, /› what is two plus two\?/);
      // the answer's first characters show on screen (random weights: whatever the model says, often
      // U+FFFD from invalid bytes; markdown markers would be drawn differently, so those are not compared)
      const head = (expected.text.trim().split('\n')[0] ?? '').slice(0, 8).trim();
      if (head !== '' && !/[*`#+\-]/.test(head) && !/[\u0000-\u001f]/.test(head)) {
        assert.ok(s.includes(head), `expected ${JSON.stringify(head)} (from ${JSON.stringify(expected.text)}) on screen:\n${s}`);
      }
      tmux('send-keys', '-t', 'chat', 'C-d');
      await until('the app to exit', () => spawnSync('tmux', ['-L', socket, 'has-session', '-t', 'chat']).status !== 0, 20_000);
      assert.deepEqual(readFileSync(join(state, 'history'), 'utf8'), JSON.stringify('what is two plus two?') + '\n', 'the input history persists');
    } finally {
      spawnSync('tmux', ['-L', socket, 'kill-server']);
    }
  });
});
