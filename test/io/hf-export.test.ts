import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PonderError } from '../../src/errors.js';
import { exportHfModel } from '../../src/io/hf-export.js';
import { importHfModel, readHfModel } from '../../src/io/hf-import.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { expectedWeights, parseModelConfig } from '../../src/model/config.js';
import { randomWeights, tinyConfig, writeHfModel, type TinyFamily } from '../helpers/tiny-models.js';
import { testSeed } from '../helpers/random.js';

let root = '';
let counter = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-hf-export-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});
function fresh(name: string): string {
  const d = join(root, String(counter++));
  mkdirSync(d);
  return join(d, name);
}

function isPonder(code: string, ...parts: string[]) {
  return (e: unknown) => e instanceof PonderError && e.code === code && !e.message.includes('\n') && parts.every((p) => e.message.includes(p));
}

describe('HF export', () => {
  const families: TinyFamily[] = ['llama', 'qwen2', 'qwen3', 'mimo'];
  for (const family of families) {
    for (const tied of [true, false]) {
      it(`${family} (${tied ? 'tied' : 'untied'}): import → export round trip is bit-identical, config survives`, () => {
        const config = tinyConfig(family, { tie_word_embeddings: tied, rms_norm_eps: 1e-5, rope_theta: 12345, max_position_embeddings: 96, eos_token_id: [314, 312] });
        const weights = randomWeights(config, testSeed);
        const hf = writeHfModel(fresh('hf'), config, weights, { dtype: 'F32' });
        const pdir = fresh('model');
        importHfModel(hf, pdir);
        const out = fresh('export');
        const r = exportHfModel(pdir, out);
        assert.deepEqual(r.notes, []);
        assert.deepEqual(readdirSync(out).sort(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
        const raw = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
        assert.equal(raw.ponder, undefined, 'no ponder fields in an HF config');
        assert.equal(raw.torch_dtype, 'float32');
        assert.deepEqual(raw.architectures, [config.architecture]);
        assert.deepEqual(parseModelConfig(raw), config);
        // HF names, in expectedWeights order, F32; lm_head only when untied.
        const header = readSafetensorsHeader(join(out, 'model.safetensors'));
        assert.deepEqual(header.tensors.map((t) => t.name), [...expectedWeights(config).keys()]);
        assert.ok(header.tensors.every((t) => t.dtype === 'F32'));
        assert.equal(header.tensors.some((t) => t.name === 'lm_head.weight'), !tied);
        const back = readHfModel(out);
        assert.deepEqual(back.config, config);
        for (const [name, t] of weights) {
          const g = back.weights.get(name)!;
          assert.deepEqual(g.shape, t.shape, name);
          assert.deepEqual(new Uint32Array(g.data.buffer, g.data.byteOffset, g.data.length), new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length), name);
        }
        assert.equal(back.weights.size, weights.size);
        assert.deepEqual(readFileSync(join(out, 'tokenizer.json')), readFileSync(join(hf, 'tokenizer.json')));
      });
    }
  }

  it('a byte-tokenizer model exports without tokenizer files, with a note', () => {
    const config = tinyConfig('qwen3', { num_hidden_layers: 1 });
    const pdir = fresh('model');
    saveModelDir(pdir, { config, weights: randomWeights(config, 3) });
    const out = fresh('export');
    const r = exportHfModel(pdir, out);
    assert.match(r.notes.join(), /byte tokenizer/);
    assert.deepEqual(readdirSync(out).sort(), ['config.json', 'model.safetensors']);
  });

  it('bad input: missing model → NOT_FOUND; --out exists refused; nothing written on failure', () => {
    const out = fresh('export');
    assert.throws(() => exportHfModel(join(root, 'nope'), out), isPonder('NOT_FOUND', 'nope'));
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(dirname(out)), []);
    const config = tinyConfig('llama', { num_hidden_layers: 1 });
    const pdir = fresh('model');
    saveModelDir(pdir, { config, weights: randomWeights(config, 3) });
    mkdirSync(out);
    assert.throws(() => exportHfModel(pdir, out), isPonder('BAD_INPUT', out, 'already exists'));
    assert.deepEqual(readdirSync(out), []);
    exportHfModel(pdir, out, { overwrite: true });
    assert.ok(existsSync(join(out, 'model.safetensors')));
  });
});
