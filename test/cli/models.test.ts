import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countParameters, findModels, MAX_RUNS, shortCount } from '../../src/io/model-catalog.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { modelsDir } from '../../src/paths.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * `ponder models`: finds the bundled models, ./models/* (ponder and HF directories, a broken one
 * listed with its reason, a folder without a model skipped) and the final models of recent runs
 * (./runs/<run>/final, newest first, unfinished runs skipped), and shows family, parameters, context
 * and the card's summary. Parameters are counted from the config's shapes without reading weights.
 */
const BIN = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));
let cwd: string;

before(() => {
  cwd = mkdtempSync(join(tmpdir(), 'ponder-models-'));
  const llama = tinyConfig('llama');
  const hf = writeHfModel(join(cwd, 'models/tiny-hf'), tinyConfig('qwen3'), randomWeights(tinyConfig('qwen3'), 1));
  writeFileSync(join(hf, 'README.md'), '---\nsummary: A test model for listings.\nexample: Say hi.\n---\n# tiny\n');
  mkdirSync(join(cwd, 'models/notes'), { recursive: true });
  writeFileSync(join(cwd, 'models/notes/todo.txt'), 'not a model');
  mkdirSync(join(cwd, 'models/broken'), { recursive: true });
  writeFileSync(join(cwd, 'models/broken/config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'] }));
  writeFileSync(join(cwd, 'models/broken/weights.msgpack'), '');
  const t0 = Date.now() / 1000 - 1000;
  for (const [i, run] of ['older', 'newer'].entries()) {
    const dir = join(cwd, 'runs', run, 'final');
    saveModelDir(dir, { config: llama, weights: randomWeights(llama, 2) });
    utimesSync(join(dir, 'config.json'), t0 + i * 100, t0 + i * 100);
  }
  mkdirSync(join(cwd, 'runs/unfinished/checkpoints'), { recursive: true });
});
after(() => rmSync(cwd, { recursive: true, force: true }));

describe('model catalog', () => {
  it('counts parameters from the config: the tiny llama by hand, the bundled model as its card says', () => {
    // embed 320x32 + 2 x (q 32x32 + k 16x32 + v 16x32 + o 32x32 + gate/up/down 3 x 48x32 + 2 norms x 32) + norm 32 + lm_head 320x32
    assert.deepEqual(countParameters(tinyConfig('llama')), { trunk: 10240 + 2 * (1024 + 512 + 512 + 1024 + 3 * 1536 + 64) + 32 + 10240, mtp: 0 });
    const bundled = findModels({ cwd, bundledDir: modelsDir }).find((m) => m.name === 'default')!;
    assert.deepEqual(countParameters(bundled.config!), { trunk: 854_912, mtp: 230_016 });
    assert.equal(shortCount(854_912), '855K');
    assert.equal(shortCount(36_000), '36K');
    assert.equal(shortCount(1_234_567_890), '1.23B');
    assert.equal(shortCount(999), '999');
  });

  it('finds bundled, local and run models in that order; newest runs first; skips folders without a model', () => {
    const found = findModels({ cwd, bundledDir: modelsDir });
    assert.deepEqual(
      found.map((m) => [m.name, m.source, m.format]),
      [
        ['default', 'bundled', 'ponder'],
        [join('models', 'broken'), 'local', 'ponder'],
        [join('models', 'tiny-hf'), 'local', 'hf'],
        [join('runs', 'newer', 'final'), 'run', 'ponder'],
        [join('runs', 'older', 'final'), 'run', 'ponder'],
      ],
    );
    const broken = found[1]!;
    assert.equal(broken.config, undefined);
    assert.match(broken.error!, /GPT2LMHeadModel/);
    assert.equal(found[2]!.summary, 'A test model for listings.');
    assert.equal(found[2]!.config!.family, 'qwen3');
    assert.ok(MAX_RUNS >= 2);
  });

  it('`ponder models` prints the table and --json the same entries', () => {
    const r = spawnSync(process.execPath, [BIN, 'models'], { cwd, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'no GPU is opened, so no Dawn warnings either');
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^NAME\s+SOURCE\s+FAMILY\s+PARAMS\s+CONTEXT\s+FOR$/);
    assert.match(r.stdout, /^default\s+bundled\s+llama\s+855K \+230K MTP\s+512\s+A small reasoning model/m);
    assert.match(r.stdout, /^models\/tiny-hf\s+local\s+qwen3\s+\S+\s+128\s+A test model for listings\.$/m);
    assert.match(r.stdout, /^models\/broken\s+local\s+\?\s+\?\s+\?\s+cannot read: .*GPT2LMHeadModel/m);
    assert.ok(r.stdout.indexOf('runs/newer/final') < r.stdout.indexOf('runs/older/final'));
    assert.ok(!r.stdout.includes('unfinished') && !r.stdout.includes('notes'));
    assert.match(r.stdout, /ponder show NAME/);
    const j = spawnSync(process.execPath, [BIN, 'models', '--json'], { cwd, encoding: 'utf8' });
    assert.equal(j.status, 0, j.stderr);
    const list = JSON.parse(j.stdout) as { name: string; parameters?: number; mtp_parameters?: number; context?: number; family?: string }[];
    assert.deepEqual(list[0], { ...list[0], name: 'default', parameters: 854_912, mtp_parameters: 230_016, context: 512, family: 'llama' });
    assert.equal(list.length, 5);
  });
});
