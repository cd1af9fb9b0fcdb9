import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runPonder } from '../helpers/cli.js';

// The tuning run itself is covered by test/engine/autotune.test.ts (tiny shapes); these check the flag's
// usage errors, which must come before any GPU work.
it('bench --tune outside the kernels suite, or with --list, is a one-line usage error', () => {
  for (const args of [['bench', 'model', '--tune'], ['bench', 'kernels', '--tune', '--list']]) {
    const r = runPonder(args, { env: { PONDER_NO_TUNE_CACHE: '1' } });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderr, /ponder: error: --tune/);
    assert.equal(r.stdout, '');
  }
});
