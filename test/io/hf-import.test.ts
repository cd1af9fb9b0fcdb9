import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PonderError, type ErrorCode } from '../../src/errors.js';
import { bf16ToF32Array, f16ToF32Array, f32ToBf16Array, f32ToF16Array } from '../../src/io/bf16.js';
import { importHfModel, readHfModel } from '../../src/io/hf-import.js';
import { loadModelDir, loadTokenizer } from '../../src/io/model-dir.js';
import type { Weights } from '../../src/model/config.js';
import { randomWeights, tinyConfig, writeHfModel, type TinyFamily } from '../helpers/tiny-models.js';
import { testSeed } from '../helpers/random.js';

let root = '';
let counter = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-hf-import-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});
function fresh(): string {
  const d = join(root, String(counter++));
  mkdirSync(d);
  return d;
}

function throwsPonder(fn: () => unknown, code: ErrorCode, ...parts: string[]): PonderError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PonderError, `expected a PonderError, got ${err instanceof Error ? err.stack : String(err)}`);
  assert.equal(err.code, code, `code of: ${err.message}`);
  assert.ok(!err.message.includes('\n'), `message is one line: ${err.message}`);
  for (const p of parts) assert.ok(err.message.includes(p), `message ${JSON.stringify(err.message)} should contain ${JSON.stringify(p)}`);
  return err;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function assertWeights(want: Weights, got: Weights, round: (x: Float32Array) => Float32Array = (x) => x): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [name, t] of want) {
    const g = got.get(name)!;
    assert.deepEqual(g.shape, t.shape, name);
    assert.deepEqual(bits(g.data), bits(round(t.data)), name);
  }
}

const ROUND = {
  F32: (x: Float32Array) => x,
  F16: (x: Float32Array) => f16ToF32Array(f32ToF16Array(x)),
  BF16: (x: Float32Array) => bf16ToF32Array(f32ToBf16Array(x)),
};

describe('HF import: every family from F32, F16, BF16 and sharded safetensors', () => {
  const families: TinyFamily[] = ['llama', 'qwen2', 'qwen3', 'mimo'];
  for (const family of families) {
    for (const [dtype, shards] of [['F32', 1], ['F16', 1], ['BF16', 1], ['F32', 3], ['BF16', 4]] as const) {
      it(`${family} ${dtype}${shards > 1 ? ` in ${shards} shards` : ''}`, async () => {
        const config = tinyConfig(family);
        const weights = randomWeights(config, testSeed);
        const hf = writeHfModel(join(fresh(), 'hf'), config, weights, { dtype, shards });
        assert.equal(existsSync(join(hf, 'model.safetensors.index.json')), shards > 1);
        const out = join(fresh(), 'model');
        const r = importHfModel(hf, out);
        assert.equal(r.config.family, family);
        const m = loadModelDir(out);
        assert.equal(m.tokenizerKind, 'hf');
        assert.deepEqual(m.config, { ...config, ponder: { tokenizer: 'hf' } });
        assertWeights(weights, m.weights, ROUND[dtype]);
        assert.ok(existsSync(join(out, 'tokenizer.json')) && existsSync(join(out, 'tokenizer_config.json')));
        assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /imported from Hugging Face/);
        const tok = await loadTokenizer(out, m.config);
        assert.equal(tok.vocabSize, 317);
        // In memory, the same.
        assertWeights(weights, readHfModel(hf).weights, ROUND[dtype]);
      });
    }
  }

  it('drops rotary_emb.inv_freq, a tied lm_head and MTP layers the config does not declare, with notes', () => {
    const config = tinyConfig('mimo');
    const weights = randomWeights(config, testSeed);
    const extra: Weights = new Map(weights);
    extra.set('model.layers.0.self_attn.rotary_emb.inv_freq', { shape: [4], data: new Float32Array(4) });
    extra.set('lm_head.weight', weights.get('model.embed_tokens.weight')!);
    extra.set('model.mtp_layers.0.input_layernorm.weight', { shape: [32], data: new Float32Array(32) });
    extra.set('model.mtp_layers.0.mlp.up_proj.weight', { shape: [48, 32], data: new Float32Array(48 * 32) });
    const hf = writeHfModel(join(fresh(), 'hf'), config, extra);
    const r = readHfModel(hf);
    assertWeights(weights, r.weights);
    assert.equal(r.notes.length, 3);
    assert.match(r.notes.join('|'), /1 rotary_emb\.inv_freq/);
    assert.match(r.notes.join('|'), /2 MTP tensors/);
    assert.match(r.notes.join('|'), /lm_head\.weight/);
  });

  it('untied llama keeps lm_head; no tokenizer.json → byte tokenizer with a note', () => {
    const config = tinyConfig('llama', { tie_word_embeddings: false });
    const weights = randomWeights(config, testSeed);
    assert.ok(weights.has('lm_head.weight'));
    const hf = writeHfModel(join(fresh(), 'hf'), config, weights, { tokenizer: false });
    const out = join(fresh(), 'model');
    const r = importHfModel(hf, out);
    assert.match(r.notes.join('|'), /byte tokenizer/);
    const m = loadModelDir(out);
    assert.equal(m.tokenizerKind, 'bytes');
    assertWeights(weights, m.weights);
    assert.ok(!existsSync(join(out, 'tokenizer.json')));
  });
});

describe('HF import: bad input, and nothing written on failure', () => {
  const config = tinyConfig('qwen2');
  const weights = randomWeights(config, testSeed);
  function hfDir(opts: { shards?: number; weights?: Weights } = {}): string {
    return writeHfModel(join(fresh(), 'hf'), config, opts.weights ?? weights, { shards: opts.shards });
  }
  /** importHfModel must fail with `code` and the parts, and leave no output directory (nor temp siblings). */
  function importFails(hf: string, code: ErrorCode, ...parts: string[]): void {
    const parent = fresh();
    const out = join(parent, 'model');
    throwsPonder(() => importHfModel(hf, out), code, ...parts);
    assert.equal(existsSync(out), false, 'nothing written');
    assert.deepEqual(readdirSync(parent), []);
  }
  function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
    const p = join(dir, 'config.json');
    const c = JSON.parse(readFileSync(p, 'utf8'));
    edit(c);
    writeFileSync(p, JSON.stringify(c));
  }

  it('missing directory, config.json, weights, tokenizer_config.json → NOT_FOUND', () => {
    importFails(join(root, 'nope'), 'NOT_FOUND', 'nope');
    const a = hfDir();
    rmSync(join(a, 'config.json'));
    importFails(a, 'NOT_FOUND', join(a, 'config.json'));
    const b = hfDir();
    rmSync(join(b, 'model.safetensors'));
    importFails(b, 'NOT_FOUND', 'model.safetensors');
    const c = hfDir({ shards: 3 });
    rmSync(join(c, 'model-00002-of-00003.safetensors'));
    importFails(c, 'NOT_FOUND', 'model-00002-of-00003.safetensors');
    const d = hfDir();
    rmSync(join(d, 'tokenizer_config.json'));
    importFails(d, 'NOT_FOUND', 'tokenizer_config.json');
  });

  it('invalid JSON config; unsupported architecture lists the supported ones', () => {
    const a = hfDir();
    writeFileSync(join(a, 'config.json'), '{"architectures": ["Qwen2ForCausalLM"],');
    importFails(a, 'BAD_INPUT', join(a, 'config.json'), 'invalid JSON');
    const b = hfDir();
    editConfig(b, (c) => (c.architectures = ['MistralForCausalLM']));
    importFails(b, 'BAD_INPUT', 'unsupported architecture "MistralForCausalLM"', 'supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MiMoForCausalLM');
    const c = hfDir();
    editConfig(c, (x) => delete x.architectures);
    importFails(c, 'BAD_INPUT', 'no "architectures"', 'LlamaForCausalLM');
    const d = hfDir();
    editConfig(d, (x) => (x.hidden_size = -4));
    importFails(d, 'BAD_INPUT', 'hidden_size');
  });

  it('config/weight shape mismatch names the tensor and both shapes; missing and unexpected tensors', () => {
    const a = hfDir();
    editConfig(a, (c) => (c.intermediate_size = 40));
    importFails(a, 'BAD_INPUT', '"model.layers.0.mlp.gate_proj.weight"', '[48x32]', '[40x32]');
    const w = new Map(weights);
    w.delete('model.layers.1.self_attn.k_proj.bias');
    importFails(hfDir({ weights: w }), 'BAD_INPUT', 'missing tensor "model.layers.1.self_attn.k_proj.bias"', '[16]');
    const b = hfDir();
    editConfig(b, (c) => (c.num_hidden_layers = 1));
    importFails(b, 'BAD_INPUT', 'unexpected tensor "model.layers.1.');
    const w2 = new Map(weights);
    w2.set('model.layers.0.self_attn.q_proj.weight', { shape: [32, 31], data: new Float32Array(32 * 31) });
    importFails(hfDir({ weights: w2 }), 'BAD_INPUT', 'model.layers.0.self_attn.q_proj.weight', '[32x31]', '[32x32]');
  });

  it('truncated or corrupt safetensors; bad index', () => {
    const a = hfDir();
    const f = join(a, 'model.safetensors');
    truncateSync(f, readFileSync(f).length - 10);
    importFails(a, 'BAD_INPUT', f, 'truncated');
    const b = hfDir();
    writeFileSync(join(b, 'model.safetensors'), 'garbage!garbage');
    importFails(b, 'BAD_INPUT', 'model.safetensors');
    const c = hfDir({ shards: 2 });
    writeFileSync(join(c, 'model.safetensors.index.json'), '{"weight_map": {');
    importFails(c, 'BAD_INPUT', 'model.safetensors.index.json', 'not valid JSON');
    const d = hfDir({ shards: 2 });
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': '../x.safetensors' } }));
    importFails(d, 'BAD_INPUT', 'outside the model directory');
  });

  it('--out exists: refused before anything is read; overwrite replaces it', () => {
    const hf = hfDir();
    const out = join(fresh(), 'model');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'x');
    throwsPonder(() => importHfModel(hf, out), 'BAD_INPUT', out, 'already exists');
    assert.deepEqual(readdirSync(out), ['keep.txt']);
    // --overwrite replaces only a model directory: a directory of other files stays as it is
    throwsPonder(() => importHfModel(hf, out, { overwrite: true }), 'BAD_INPUT', out, 'not a model directory');
    assert.deepEqual(readdirSync(out), ['keep.txt']);
    const model = join(dirname(out), 'model2');
    importHfModel(hf, model);
    writeFileSync(join(model, 'old.txt'), 'x');
    importHfModel(hf, model, { overwrite: true });
    assert.ok(!existsSync(join(model, 'old.txt')));
    assertWeights(weights, loadModelDir(model).weights);
    assert.deepEqual(readdirSync(dirname(out)).sort(), ['model', 'model2']);
  });
});
