import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
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
    assert.equal(lines[0], 'suite,name,shape,ms_median,ms_p10,ms_p90,gflops,gbps,pct_of_peak,samples,adapter,error');
    assert.equal(lines.length, 2, s.stdout);
    assert.match(lines[1], /^kernels,rmsnorm,1x896,[\d.e-]+,[\d.e-]+,[\d.e-]+,[\d.e-]+,[\d.e-]+,[\d.e-]+,\d+,.+,$/);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.format, 'ponder-bench/1');
    for (const k of ['date', 'ponder_version', 'adapter', 'ceilings', 'rows']) assert.ok(k in saved, `missing ${k}`);
    assert.ok(saved.ceilings.peak_gbps > 0 && saved.ceilings.peak_gflops > 0);
    assert.ok(saved.rows.length >= 1 && saved.rows.every((r: { name: string; suite: string }) => r.name === 'rmsnorm' && r.suite === 'kernels'));
    assert.ok(saved.git_commit === undefined || /^[0-9a-f]{40}$/.test(saved.git_commit));

    // the saved run, doctored: one row at 1 ns, faster than any dispatch can be (a regression now,
    // however slow a loaded machine made the saved run itself), one case that is gone
    saved.rows[0].ms_median = 1e-6;
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

describe('ponder bench model / train / all', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ponder-bench-suites-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--list lists the cases of every suite; all = kernels, model, train', () => {
    const r = runPonder(['bench', 'all', '--list']);
    assert.equal(r.code, 0, r.stderr);
    const suites = r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
    assert.deepEqual([...new Set(suites)], ['kernels', 'model', 'train']);
    assert.match(r.stdout, /^model\s+qwen2\.5-0\.5b-shape\s+tg2 B32$/m);
    assert.match(r.stdout, /^train\s+bench-50m\s+bench B1 T256$/m);
    assert.match(r.stdout, /^train\s+tiny-arithmetic-sft\s+sft B16 T48$/m);
    const j = runPonder(['bench', 'train', '--list', '--json', '--filter', 'pretrain B32']);
    assert.deepEqual(j.stdout.trim().split('\n').map((l) => JSON.parse(l)), [{ suite: 'train', name: 'tiny-pretrain-sft', shape: 'pretrain B32 T96' }]);
  });

  it('bad suites, filters and flag combinations are one-line usage errors', () => {
    const u = runPonder(['bench', 'bogus']);
    assert.equal(u.code, 2);
    assert.equal(u.stderrLines.length, 1, u.stderr);
    assert.match(u.stderrLines[0]!, /^ponder: error: .*'bogus' is invalid .*Allowed choices are kernels, model, train, all/);
    const f = runPonder(['bench', 'model', '--filter', 'no-such-model']);
    assert.equal(f.code, 2);
    assert.equal(f.stderrLines[0], 'ponder: error: no benchmark case matches --filter "no-such-model"');
    assert.equal(f.stderrLines[1], 'hint: see `ponder bench model --list`');
    const a = runPonder(['bench', 'all', '--filter', 'no-such-case']);
    assert.equal(a.stderrLines[0], 'ponder: error: no benchmark case matches --filter "no-such-case"');
    // every suite takes --peers now (train: bench/peers/torch-train.ts)
    const p = runPonder(['bench', 'train', '--peers', '--list', '--filter', 'bench-50m']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /^train\s+bench-50m\s+bench B1 T256$/m);
  });

  it('bench model --json: decode rows at batch 1, plain and with MTP drafting, with their roofline', () => {
    const r = runPonder(['bench', 'model', '--filter', 'tiny-bytes tg32 B1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((x) => x.shape), ['tg32 B1', 'tg32 B1 mtp1']);
    for (const row of rows) {
      assert.equal(row.suite, 'model');
      assert.equal(row.batch, 1);
      assert.ok(row.tokens_per_s > 0 && row.ms_median > 0 && row.roofline_tokens_per_s > 0 && row.pct_of_roofline > 0, JSON.stringify(row));
    }
    assert.equal(rows[1].mtp, 1);
    assert.ok(rows[1].acceptance >= 0 && rows[1].acceptance <= 1, JSON.stringify(rows[1]));
    assert.equal(rows[0].acceptance, undefined);
    assert.ok(rows[1].speedup > 0 && rows[1].plain_tokens_per_s > 0, JSON.stringify(rows[1]));
  });

  it('bench model --plain: a drafting row says its speedup over plain decoding', () => {
    const r = runPonder(['bench', 'model', '--filter', 'tiny-bytes tg32 B1 mtp1', '--plain']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tg32 B1 mtp1 .*\d+\.\d\dx plain decoding \([\d.,]+k? tok\/s in alternating passes\)/);
  });

  it('bench all --json --save: a train row with its suite and memory; --compare keys rows by suite, name and shape', () => {
    const file = join(dir, 'train.json');
    const r = runPonder(['bench', 'all', '--filter', 'tiny-arithmetic', '--json', '--save', file]);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 1, r.stdout);
    const row = rows[0];
    assert.equal(row.suite, 'train');
    assert.equal(row.name, 'tiny-arithmetic-sft');
    assert.equal(row.shape, 'sft B16 T48');
    assert.ok(row.tokens_per_s > 0 && row.ms_median > 0 && row.params > 100_000, JSON.stringify(row));
    assert.ok(row.peak_bytes >= row.floor_bytes && row.peak_over_floor >= 1, JSON.stringify(row));
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.rows[0].suite, 'train');
    // the same name and shape under another suite is another row
    saved.rows[0].ms_median /= 1000;
    saved.rows.push({ ...saved.rows[0], suite: 'model', ms_median: saved.rows[0].ms_median * 1e6 });
    const doctored = join(dir, 'old.json');
    writeFileSync(doctored, JSON.stringify(saved));
    const c = runPonder(['bench', 'train', '--filter', 'tiny-arithmetic', '--compare', doctored, '--fail-on-regression']);
    assert.equal(c.code, 1);
    assert.match(c.stdout, /^tiny-arithmetic-sft\s+sft B16 T48\s.*\s[\d.]+x  << REGRESSION$/m);
    assert.match(c.stdout, /^vs saved run: 1 regression over 10%, 1 not run$/m);
    assert.equal(c.stderrLines.at(-1), `ponder: error: 1 case regressed by more than 10% against ${doctored}: train tiny-arithmetic-sft sft B16 T48`);
  });
});

describe('ponder bench kernels --peers', () => {
  const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

  it('adds each peer\'s GFLOP/s and ponder/peer ratio to matmul rows (CSV), with a note per peer', () => {
    const r = runPonder(['bench', 'kernels', '--peers', '--filter', '/^matmul 256x256x256$/', '--csv', '--time', '20']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const header = lines[0]!.split(',');
    for (const c of ['numpy_gflops', 'ratio_vs_numpy', 'tfjs_webgpu_gflops', 'ratio_vs_tfjs_webgpu']) assert.ok(header.includes(c), `missing ${c}: ${lines[0]}`);
    assert.equal(lines.length, 2, r.stdout);
    const cells = lines[1]!.replace(/"[^"]*"/g, 'ADAPTER').split(',');
    assert.equal(cells.length, header.length);
    const get = (c: string) => cells[header.indexOf(c)]!;
    const gflops = Number(get('gflops'));
    if (hasNumpy) {
      const np = Number(get('numpy_gflops'));
      assert.ok(np > 0, lines[1]);
      assert.ok(Math.abs(Number(get('ratio_vs_numpy')) - gflops / np) < 1e-6 * (gflops / np));
    } else assert.equal(get('numpy_gflops'), '');
    const tf = get('tfjs_webgpu_gflops');
    if (tf !== '') assert.ok(Math.abs(Number(get('ratio_vs_tfjs_webgpu')) - gflops / Number(tf)) < 1e-6 * (gflops / Number(tf)));
  });

  it('the plain table shows the peer columns and says what each peer is', () => {
    const r = runPonder(['bench', 'kernels', '--peers', '--filter', '/^matmul 256x256x256$/', '--time', '20', '--plain']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^peer numpy: (numpy \d|skipped \()/m);
    assert.match(r.stdout, /^peer tfjs-webgpu: (tfjs [\d.]+ WebGPU backend|skipped \()/m);
    assert.match(r.stdout, /^peer onnxruntime-webgpu: (onnxruntime-node [\d.]+ WebGPU EP|skipped \()/m);
    assert.match(r.stdout, /^peer pytorch: (torch [\d.]+|skipped \()/m);
    assert.match(r.stdout, /% peak\s+numpy GFLOP\/s\s+vs numpy\s+tfjs-webgpu GFLOP\/s\s+vs tfjs-webgpu\s+onnxruntime-webgpu GFLOP\/s\s+vs onnxruntime-webgpu\s+pytorch GFLOP\/s\s+vs pytorch$/m);
    assert.match(r.stdout, /^matmul\s+256x256x256\s+.*[\d.]+%(\s+(-|[\d.]+)\s+(-|[\d.]+x)){4}$/m);
  });
});

describe('ponder bench model --peers', () => {
  const python = process.env.PONDER_PYTHON || 'python3';
  const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

  it('the plain table has PyTorch\'s tok/s and ratio on the batch-1 prefill row, with a note saying what runs', () => {
    const r = runPonder(['bench', 'model', '--peers', '--filter', 'tiny-bytes pp64 B1', '--plain']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, hasTorch ? /^peer pytorch: torch [\d.]+\S* \(/m : /^peer pytorch: skipped \(/m);
    assert.ok(!/numpy|tfjs/.test(r.stdout), 'the model suite opens only model peers');
    assert.match(r.stdout, /params\s+disp\/step\s+subm\/step\s+pytorch tok\/s\s+vs pytorch$/m);
    // with torch the figure is there only because its greedy tokens equal ponder's
    assert.match(r.stdout, hasTorch ? /^tiny-bytes\s+pp64 B1\s.*821\.2k\s+-\s+-\s+[\d.]+\s+[\d.]+x$/m : /^tiny-bytes\s+pp64 B1\s.*821\.2k\s+-\s+-\s+-\s+-$/m);
  });

  it('CSV: a peer that cannot run leaves its columns empty and the run succeeds', () => {
    const r = runPonder(['bench', 'model', '--peers', '--filter', 'tiny-bytes pp64 B1', '--csv'], { env: { PONDER_PYTHON: '/nonexistent/python' } });
    assert.equal(r.code, 0, r.stderr);
    const [head, row, ...rest] = r.stdout.trim().split('\n');
    assert.deepEqual(rest, []);
    const header = head!.split(',');
    for (const c of ['pytorch_tokens_per_s', 'ratio_vs_pytorch']) assert.ok(header.includes(c), `missing ${c}: ${head}`);
    assert.ok(!header.includes('numpy_gflops'));
    const cells = row!.replace(/"[^"]*"/g, 'ADAPTER').split(',');
    assert.equal(cells.length, header.length);
    assert.equal(cells[header.indexOf('shape')], 'pp64 B1');
    assert.ok(Number(cells[header.indexOf('tokens_per_s')]) > 0);
    assert.equal(cells[header.indexOf('pytorch_tokens_per_s')], '');
    assert.equal(cells[header.indexOf('ratio_vs_pytorch')], '');
  });
});
