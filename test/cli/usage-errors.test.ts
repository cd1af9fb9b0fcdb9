import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runPonder } from '../helpers/cli.js';

describe('command-line usage errors', () => {
  it('an unknown command gives one line and exit 2', () => {
    const r = runPonder(['frobnicate']);
    assert.equal(r.code, 2);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderr, /^ponder: error: unknown command 'frobnicate'/);
  });

  it('an unknown flag gives one line and exit 2', () => {
    const r = runPonder(['info', '--frobnicate']);
    assert.equal(r.code, 2);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderr, /^ponder: error: unknown option '--frobnicate'/);
  });

  it('a bad --backend value is a usage error', () => {
    const r = runPonder(['info', '--backend', 'glide']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^ponder: error: option '--backend <backend>' argument 'glide' is invalid/);
  });

  it('every command has --help', () => {
    for (const cmd of [[], ['info'], ['bench'], ['tune']]) {
      const r = runPonder([...cmd, '--help']);
      assert.equal(r.code, 0, `${cmd.join(' ')} --help`);
      assert.match(r.stdout, /^Usage: ponder/);
    }
  });

  it('the tune alias means `ponder tune`', () => {
    const r = runPonder(['tune', '--help']);
    assert.match(r.stdout, /Usage: ponder tune .*<recipe>/);
  });

  it('bench --filter that matches nothing is a usage error naming the filter', () => {
    const r = runPonder(['bench', 'kernels', '--filter', 'no-such-kernel']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no benchmark case matches --filter "no-such-kernel"/);
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  });
});
