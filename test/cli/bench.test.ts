import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
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
      for (const k of ['name', 'shape', 'ms_median', 'gflops', 'gbps', 'pct_of_peak', 'adapter']) assert.ok(k in row, `missing ${k}`);
      assert.ok(row.ms_median > 0);
      assert.ok(typeof row.pct_of_peak === 'number' && row.pct_of_peak > 0, `pct_of_peak ${row.pct_of_peak}`);
      assert.match(row.name, /rmsnorm/);
    }
  });

  it('prints an aligned plain table without escape codes', () => {
    const r = runPonder(['bench', 'kernels', '--filter', 'argmax', '--time', '20']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /kernel\s+shape\s+ms \(median\)\s+GFLOP\/s\s+GB\/s\s+% peak/);
    assert.match(r.stdout, /^ceilings: copy [\d.]+ GB\/s, matmul [\d.]+ GFLOP\/s \(matmul\.ABt 1024x1024x1024\)$/m);
    assert.match(r.stdout, /^argmax\s+1x151936\s+[\d.e+-]+\s+[\d.e+-]+\s+[\d.e+-]+\s+[\d.]+%$/m);
    assert.ok(!r.stdout.includes('\u001b['), 'no ANSI escapes');
  });
});

describe('ponder bench --save / --compare', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ponder-bench-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'run.json');

  it('--csv --save prints CSV and writes the run; --compare marks regressions; --fail-on-regression exits 1', () => {
    const quick = ['bench', 'kernels', '--filter', 'rmsnorm 1x896', '--time', '20'];
    const s = runPonder([...quick, '--csv', '--save', file]);
    assert.equal(s.code, 0, s.stderr);
    const lines = s.stdout.trim().split('\n');
    assert.equal(lines[0], 'name,shape,ms_median,ms_p10,ms_p90,gflops,gbps,pct_of_peak,samples,adapter,error');
    assert.equal(lines.length, 2, s.stdout);
    assert.match(lines[1], /^rmsnorm,1x896,[\d.e-]+,[\d.e-]+,[\d.e-]+,[\d.e-]+,[\d.e-]+,[\d.e-]+,\d+,.+,$/);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.format, 'ponder-bench/1');
    for (const k of ['date', 'ponder_version', 'adapter', 'ceilings', 'rows']) assert.ok(k in saved, `missing ${k}`);
    assert.ok(saved.ceilings.peak_gbps > 0 && saved.ceilings.peak_gflops > 0);
    assert.ok(saved.rows.length >= 1 && saved.rows.every((r: { name: string }) => r.name === 'rmsnorm'));
    assert.ok(saved.git_commit === undefined || /^[0-9a-f]{40}$/.test(saved.git_commit));

    // the saved run, doctored: one row 1000x faster than it can be (a regression now), one case that is gone
    saved.rows[0].ms_median /= 1000;
    saved.rows.push({ ...saved.rows[0], name: 'removed.kernel', shape: '1x1' });
    const doctored = join(dir, 'old.json');
    writeFileSync(doctored, JSON.stringify(saved));
    const c = runPonder([...quick, '--compare', doctored, '--threshold', '25']);
    assert.equal(c.code, 0, 'regressions alone do not fail the run\n' + c.stderr);
    assert.match(c.stdout, /^compared with: .*regressions over 25% are marked$/m);
    assert.match(c.stdout, /% peak\s+old ms\s+ratio$/m);
    assert.match(c.stdout, /^rmsnorm\s+1x896\s.*\s[\d.]+x  << REGRESSION$/m);
    assert.match(c.stdout, /^vs saved run: 1 regression over 25%, 1 not run$/m);

    const f = runPonder([...quick, '--compare', doctored, '--fail-on-regression', '--json']);
    assert.equal(f.code, 1);
    const row = JSON.parse(f.stdout.trim().split('\n')[0]);
    assert.ok(row.ratio > 25 && row.old_ms_median > 0, JSON.stringify(row));
    assert.equal(row.status, 'regression');
    assert.match(f.stderr, /^ponder: error: 1 case regressed by more than 10% against .*: rmsnorm 1x896$/m);
  });

  it('a missing or invalid --compare file is a one-line error before any GPU work', () => {
    const m = runPonder(['bench', 'kernels', '--compare', join(dir, 'nope.json')]);
    assert.equal(m.code, 1);
    assert.equal(m.stderrLines[0], `ponder: error: --compare file "${join(dir, 'nope.json')}" does not exist`);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"rows": 3');
    const b = runPonder(['bench', 'kernels', '--compare', bad]);
    assert.equal(b.code, 1);
    assert.match(b.stderrLines[0], /^ponder: error: --compare file ".*bad\.json" is not valid JSON/);
    assert.equal(b.stdout, '');
    const u = runPonder(['bench', 'kernels', '--fail-on-regression']);
    assert.equal(u.code, 2);
    assert.equal(u.stderrLines[0], 'ponder: error: --fail-on-regression needs --compare FILE');
  });
});
