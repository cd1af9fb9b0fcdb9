import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runPonder } from '../helpers/cli.js';

describe('ponder bench kernels', () => {
  it('--list names every case without running it', () => {
    const r = runPonder(['bench', 'kernels', '--list']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.trim().split('\n').length >= 10);
  });

  it('--json prints one object per case with the documented fields', () => {
    const r = runPonder(['bench', 'kernels', '--filter', 'rmsnorm 1x896', '--json', '--time', '20']);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(rows.length >= 1);
    for (const row of rows) {
      for (const k of ['name', 'shape', 'ms_median', 'gflops', 'gbps', 'adapter']) assert.ok(k in row, `missing ${k}`);
      assert.ok(row.ms_median > 0);
      assert.match(row.name, /rmsnorm/);
    }
  });

  it('prints an aligned plain table without escape codes', () => {
    const r = runPonder(['bench', 'kernels', '--filter', 'argmax', '--time', '20']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /kernel\s+shape\s+ms \(median\)\s+GFLOP\/s\s+GB\/s/);
    assert.ok(!r.stdout.includes('\u001b['), 'no ANSI escapes');
  });
});
