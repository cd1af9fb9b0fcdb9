import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonderError } from '../../src/errors.js';
import { loadAnyModel, resolveModel } from '../../src/io/resolve-model.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import { randomWeights, tinyConfig, writeHfModel, TINY_TOKENIZER_DIR } from '../helpers/tiny-models.js';

let root = '';
let modelsDir = '';
const config = tinyConfig('qwen2', { num_hidden_layers: 1 });
const weights = randomWeights(config, 5);
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-resolve-'));
  modelsDir = join(root, 'models');
  saveModelDir(join(root, 'pmodel'), { config, weights });
  saveModelDir(join(root, 'sharded'), { config, weights, tokenizerFrom: TINY_TOKENIZER_DIR }, { shardBytes: 4096 });
  saveModelDir(join(modelsDir, 'default'), { config, weights, tokenizerFrom: TINY_TOKENIZER_DIR });
  writeHfModel(join(root, 'hf'), config, weights, { dtype: 'BF16' });
  writeHfModel(join(root, 'hf-sharded'), config, weights, { shards: 2 });
  mkdirSync(join(root, 'empty'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

function notFound(spec: string) {
  return (e: unknown) =>
    e instanceof PonderError &&
    e.code === 'NOT_FOUND' &&
    e.message === `no model at ${spec} (looked for a ponder model directory, a model named ${spec} under models/, or an HF directory)`;
}

describe('resolveModel', () => {
  it('ponder directories (single and sharded), named models, HF directories', () => {
    assert.deepEqual(resolveModel(join(root, 'pmodel'), { modelsDir }), { kind: 'ponder', dir: join(root, 'pmodel') });
    assert.deepEqual(resolveModel(join(root, 'sharded'), { modelsDir }), { kind: 'ponder', dir: join(root, 'sharded') });
    assert.deepEqual(resolveModel('default', { modelsDir }), { kind: 'named', dir: join(modelsDir, 'default') });
    assert.deepEqual(resolveModel(join(root, 'hf'), { modelsDir }), { kind: 'hf', dir: join(root, 'hf') });
    assert.deepEqual(resolveModel(join(root, 'hf-sharded'), { modelsDir }), { kind: 'hf', dir: join(root, 'hf-sharded') });
  });

  it('nothing there → NOT_FOUND with the full message', () => {
    for (const spec of ['no-such-model', join(root, 'missing'), join(root, 'empty'), '../default', '']) {
      assert.throws(() => resolveModel(spec, { modelsDir }), notFound(spec));
    }
  });

  it('loadAnyModel loads each kind with its tokenizer', async () => {
    const p = await loadAnyModel(join(root, 'pmodel'), { modelsDir });
    assert.equal(p.kind, 'ponder');
    assert.ok(p.tokenizer instanceof ByteTokenizer);
    for (const [n, t] of weights) assert.deepEqual(p.weights.get(n)!.data, t.data);
    const s = await loadAnyModel(join(root, 'sharded'), { modelsDir });
    assert.equal(s.tokenizer.vocabSize, 317);
    for (const [n, t] of weights) assert.deepEqual(s.weights.get(n)!.data, t.data);
    const d = await loadAnyModel('default', { modelsDir });
    assert.equal(d.kind, 'named');
    assert.equal(d.tokenizer.vocabSize, 317);
    const h = await loadAnyModel(join(root, 'hf-sharded'), { modelsDir });
    assert.equal(h.kind, 'hf');
    assert.deepEqual(h.config, config);
    assert.equal(h.tokenizer.vocabSize, 317);
    for (const [n, t] of weights) assert.deepEqual(h.weights.get(n)!.data, t.data);
    await assert.rejects(loadAnyModel('nothing', { modelsDir }), notFound('nothing'));
  });
});
