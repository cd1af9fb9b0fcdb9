import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonderError, type ErrorCode } from '../../src/errors.js';
import { readRegularFile, readTextFile } from '../../src/io/read-file.js';
import { loadModelDir, saveModelDir } from '../../src/io/model-dir.js';
import { importHfModel, readHfModel } from '../../src/io/hf-import.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { readJsonl } from '../../src/data/jsonl.js';
import { readTextDocuments } from '../../src/data/batches.js';
import { loadHfTokenizer } from '../../src/data/hf-tokenizer.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { loadSavedRun } from '../../src/engine/bench/compare.js';
import { randomWeights, tinyConfig, TINY_TOKENIZER_DIR, writeHfModel } from '../helpers/tiny-models.js';

/**
 * Special files in place of a user file: a FIFO (whose open blocks until a writer comes), /dev/zero
 * (endless) and a directory are refused with one line by every reader ponder has, without hanging;
 * a file over the reader's size limit is refused before it is read. A hang here fails the test by its
 * timeout (the FIFOs never get a writer).
 */
let root = '';
let n = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-special-files-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function fresh(): string {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  return d;
}

function fifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}

async function refuses(fn: () => unknown, code: ErrorCode, pattern: RegExp): Promise<void> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PonderError, `expected a PonderError, got ${err instanceof Error ? err.stack : String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
  assert.match(err.message, pattern);
}

const NOT_REGULAR = /FIFO|not a regular file|character device|is a directory/;
const T = { timeout: 20_000 };

describe('special files instead of user files', () => {
  it('readRegularFile: FIFO, /dev/zero, a directory and a missing file; the size limit', T, async () => {
    const d = fresh();
    await refuses(() => readRegularFile(fifo(join(d, 'pipe')), { maxBytes: 100 }), 'BAD_INPUT', /FIFO \(named pipe\), not a regular file/);
    await refuses(() => readRegularFile('/dev/zero', { maxBytes: 100 }), 'BAD_INPUT', /character device/);
    await refuses(() => readRegularFile(d, { maxBytes: 100, what: 'recipe file' }), 'BAD_INPUT', /is a directory, not a recipe file/);
    await refuses(() => readRegularFile(join(d, 'missing'), { maxBytes: 100 }), 'NOT_FOUND', /no such file/);
    writeFileSync(join(d, 'big'), Buffer.alloc(101, 0x61));
    await refuses(() => readRegularFile(join(d, 'big'), { maxBytes: 100, what: 'data file' }), 'BAD_INPUT', /larger than 100 B/);
    assert.equal(readRegularFile(join(d, 'big'), { maxBytes: 101 }).length, 101);
    writeFileSync(join(d, 'bad-utf8'), Buffer.from([0x61, 0xff]));
    await refuses(() => readTextFile(join(d, 'bad-utf8'), { maxBytes: 10, fatal: true }), 'BAD_INPUT', /not valid UTF-8/);
    // a symlink to a FIFO is followed and refused too
    symlinkSync(join(d, 'pipe'), join(d, 'link'));
    await refuses(() => readRegularFile(join(d, 'link'), { maxBytes: 100 }), 'BAD_INPUT', /FIFO/);
  });

  it('recipes, data files, --compare files', T, async () => {
    const d = fresh();
    await refuses(() => loadRecipe(fifo(join(d, 'r.yaml'))), 'BAD_INPUT', NOT_REGULAR);
    await refuses(() => loadRecipe('/dev/zero'), 'BAD_INPUT', NOT_REGULAR);
    await refuses(() => readJsonl(fifo(join(d, 'd.jsonl'))), 'BAD_INPUT', NOT_REGULAR);
    await refuses(() => readTextDocuments(fifo(join(d, 'd.txt'))), 'BAD_INPUT', NOT_REGULAR);
    await refuses(() => loadSavedRun(fifo(join(d, 'bench.json'))), 'BAD_INPUT', NOT_REGULAR);
    await refuses(() => loadSavedRun('/dev/zero'), 'BAD_INPUT', NOT_REGULAR);
  });

  it('model directories: config.json, weights.msgpack, model.safetensors, tokenizer files', T, async () => {
    const config = tinyConfig('qwen2');
    const weights = randomWeights(config, 1);

    const ponder = join(fresh(), 'model');
    saveModelDir(ponder, { config, weights });
    rmSync(join(ponder, 'weights.msgpack'));
    fifo(join(ponder, 'weights.msgpack'));
    await refuses(() => loadModelDir(ponder), 'BAD_INPUT', NOT_REGULAR);
    rmSync(join(ponder, 'config.json'));
    fifo(join(ponder, 'config.json'));
    await refuses(() => loadModelDir(ponder), 'BAD_INPUT', NOT_REGULAR);

    const hf = writeHfModel(join(fresh(), 'hf'), config, weights);
    rmSync(join(hf, 'model.safetensors'));
    fifo(join(hf, 'model.safetensors'));
    await refuses(() => readHfModel(hf), 'BAD_INPUT', NOT_REGULAR);

    // a tokenizer file that is only copied, never parsed
    const hf2 = writeHfModel(join(fresh(), 'hf'), config, weights);
    fifo(join(hf2, 'special_tokens_map.json'));
    await refuses(() => importHfModel(hf2, join(root, `out-${n++}`)), 'BAD_INPUT', NOT_REGULAR);

    const tok = fresh();
    copyFileSync(join(TINY_TOKENIZER_DIR, 'tokenizer_config.json'), join(tok, 'tokenizer_config.json'));
    fifo(join(tok, 'tokenizer.json'));
    await refuses(() => loadHfTokenizer(tok), 'BAD_INPUT', NOT_REGULAR);
  });

  it('checkpoints', T, async () => {
    const d = fresh();
    await refuses(() => readCheckpoint(fifo(join(d, 'step-000001.ckpt'))), 'BAD_INPUT', NOT_REGULAR);
    await refuses(() => readCheckpoint('/dev/zero'), 'BAD_INPUT', NOT_REGULAR);
  });
});
