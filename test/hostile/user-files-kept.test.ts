import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonderError, type ErrorCode } from '../../src/errors.js';
import { createRunDir } from '../../src/train/run-dir.js';
import { importHfModel } from '../../src/io/hf-import.js';
import { exportHfModel } from '../../src/io/hf-export.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';
import { runPonder } from '../helpers/cli.js';

/**
 * Nothing a user owns is ever deleted or written over: a fresh run refuses a directory holding other
 * files (a `final/` of the user's own included); import/export refuse an --out that is the source or
 * holds it, and with --overwrite replace only a model directory (never a regular file or a directory
 * of other things); `tune` refuses an output that is the init model's own directory. Each refusal is
 * one line, and the files are checked byte for byte afterwards.
 */
let root = '';
let n = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-user-files-'));
});
after(() => rmSync(root, { recursive: true, force: true }));
function fresh(): string {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  return d;
}

function refuses(fn: () => unknown, code: ErrorCode, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PonderError, `expected a PonderError, got ${err instanceof Error ? err.stack : String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
  assert.match(err.message, pattern);
}

/** Every file under `dir` with its bytes, to compare before and after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name).slice(dir.length)] = readFileSync(join(e.parentPath, e.name)).toString('base64');
  }
  return out;
}

const H = 'c3'.repeat(32);
const config = tinyConfig('llama');
const weights = randomWeights(config, 4);

describe('files the user owns are kept', () => {
  it('a fresh run refuses a directory with files that are not a run, its own final/ included', () => {
    const out = fresh();
    mkdirSync(join(out, 'final'));
    writeFileSync(join(out, 'final', 'thesis.tex'), 'years of work');
    writeFileSync(join(out, 'notes.txt'), 'mine');
    const before = snapshot(out);
    refuses(() => createRunDir(out, { recipeText: 'a', recipeHash: H, resume: false }), 'BAD_INPUT', /is not empty and not a ponder run \(it holds "notes\.txt"\)/);
    rmSync(join(out, 'notes.txt'));
    refuses(() => createRunDir(out, { recipeText: 'a', recipeHash: H, resume: false }), 'BAD_INPUT', /already holds a run \(final\/\)/);
    delete before['/notes.txt'];
    assert.deepEqual(snapshot(out), before);
    // a file in checkpoints/ that is not a checkpoint is the user's too
    const run = fresh();
    mkdirSync(join(run, 'checkpoints'));
    writeFileSync(join(run, 'checkpoints', 'keep.bin'), 'x');
    refuses(() => createRunDir(run, { recipeText: 'a', recipeHash: H, resume: false }), 'BAD_INPUT', /"checkpoints\/keep\.bin"/);
    assert.equal(readFileSync(join(run, 'checkpoints', 'keep.bin'), 'utf8'), 'x');
  });

  it('import refuses --out that is the source or holds it, a regular file and a non-model directory', () => {
    const hf = writeHfModel(join(fresh(), 'hf'), config, weights);
    const before = snapshot(hf);
    refuses(() => importHfModel(hf, hf, { overwrite: true }), 'BAD_INPUT', /is the model being read/);
    refuses(() => importHfModel(hf, join(hf, '..'), { overwrite: true }), 'BAD_INPUT', /holds the model being read/);
    assert.deepEqual(snapshot(hf), before);
    const file = join(fresh(), 'file.txt');
    writeFileSync(file, 'precious');
    refuses(() => importHfModel(hf, file, { overwrite: true }), 'BAD_INPUT', /exists and is not a directory; --overwrite replaces only a model directory/);
    assert.equal(readFileSync(file, 'utf8'), 'precious');
    const home = fresh();
    writeFileSync(join(home, 'photo.jpg'), 'pixels');
    refuses(() => importHfModel(hf, home, { overwrite: true }), 'BAD_INPUT', /is not a model directory/);
    assert.equal(readFileSync(join(home, 'photo.jpg'), 'utf8'), 'pixels');
    // under a path whose parent is a file: one line, not an internal error
    refuses(() => importHfModel(hf, join(file, 'out')), 'BAD_INPUT', /a parent of it is a file/);
  });

  it('export refuses --out that is the source model, and a regular file with --overwrite', () => {
    const model = join(fresh(), 'model');
    saveModelDir(model, { config, weights });
    const before = snapshot(model);
    refuses(() => exportHfModel(model, model, { overwrite: true }), 'BAD_INPUT', /is the model being read/);
    assert.deepEqual(snapshot(model), before);
    const file = join(fresh(), 'out.safetensors');
    writeFileSync(file, 'precious');
    refuses(() => exportHfModel(model, file, { overwrite: true }), 'BAD_INPUT', /not a directory/);
    assert.equal(readFileSync(file, 'utf8'), 'precious');
  });

  it('bench --save replaces only an earlier saved run', () => {
    const file = join(fresh(), 'notes.json');
    writeFileSync(file, '{"mine": true}');
    const r = runPonder(['bench', 'kernels', '--filter', 'rmsnorm', '--save', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderrLines[0]!, /--save: ".*notes\.json" exists and is not a saved bench run; ponder replaces only its own saves/);
    assert.equal(readFileSync(file, 'utf8'), '{"mine": true}');
  });

  it('tune refuses an output that is the init model directory (in --check too), and writes nothing there', () => {
    const dir = fresh();
    const model = join(dir, 'model');
    saveModelDir(model, { config: tinyConfig('llama', { vocab_size: 320 }), weights: randomWeights(tinyConfig('llama', { vocab_size: 320 }), 1) });
    const before = snapshot(model);
    const recipe = join(dir, 'r.yaml');
    writeFileSync(
      recipe,
      `model: {init: ${model}}\noutput: ${model}\nstages:\n  - {name: s, kind: pretrain, data: {task: arithmetic, n: 8, digits: 1}, steps: 1, batch_size: 1, seq_len: 16, optimizer: {lr: 1.0e-3}}\n`,
    );
    for (const args of [['tune', recipe, '--check'], ['tune', recipe, '--plain']]) {
      const r = runPonder(args);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderrLines.length, 2, r.stderr);
      assert.match(r.stderrLines[0]!, /output .* is the init model's own directory/);
    }
    assert.deepEqual(snapshot(model), before);
    assert.ok(!existsSync(join(model, 'recipe.yaml')));
  });
});
