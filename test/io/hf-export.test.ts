import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { BYTE_SPECIAL_TOKENS, ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import { loadHfTokenizer } from '../../src/data/hf-tokenizer.js';
import { encodeMessages } from '../../src/data/prompt.js';
import { readSamplingDefaults } from '../../src/io/generation-config.js';
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

  it('a byte-tokenizer model exports an HF tokenizer.json that @huggingface/tokenizers loads and that gives the same ids', async () => {
    const config = tinyConfig('qwen3', { num_hidden_layers: 1 });
    const pdir = fresh('model');
    saveModelDir(pdir, { config, weights: randomWeights(config, 3) });
    const out = fresh('export');
    const r = exportHfModel(pdir, out);
    assert.deepEqual(r.notes, []);
    assert.deepEqual(readdirSync(out).sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const lib = new HfLibTokenizer(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')));
    const bytes = new ByteTokenizer();
    const strings = [
      'What is 47 + 38?',
      'héllo wörld — 日本語 🎉 ñ',
      '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n4+5\n</think>\n9<|eos|>',
      ' \t two  spaces\r\n\u0000\u007f\u00ad end',
      '<|pad|><|bos|></think><think',
    ];
    for (const text of strings) {
      const want = bytes.encode(text, { parseSpecialTokens: true });
      assert.deepEqual(lib.encode(text, { add_special_tokens: false }).ids, want, JSON.stringify(text));
      assert.deepEqual(lib.encode(text).ids, bytes.encode(text, { parseSpecialTokens: true, addSpecialTokens: true }), `with <|bos|>: ${JSON.stringify(text)}`);
      assert.equal(lib.decode(want, { skip_special_tokens: false }), text);
    }
    // ponder reading the exported directory as an HF tokenizer: same ids, same chat prompt, same stops
    const hf = await loadHfTokenizer(out);
    const conversation = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'What is 4 + 5? é' },
    ];
    for (const enableThinking of [true, false]) {
      assert.deepEqual(encodeMessages(hf, conversation, { enableThinking }), encodeMessages(bytes, conversation, { enableThinking }));
    }
    for (const text of strings) assert.deepEqual(hf.encode(text), bytes.encode(text), JSON.stringify(text));
    assert.deepEqual([...hf.eosIds].sort(), [...bytes.eosIds].sort());
    assert.equal(hf.specialTokens.think, BYTE_SPECIAL_TOKENS.think);
    assert.equal(hf.specialTokens.end_think, BYTE_SPECIAL_TOKENS.end_think);
  });

  it('generation_config.json goes along (byte and HF tokenizers) and survives export → import', () => {
    const config = tinyConfig('llama', { num_hidden_layers: 1 });
    const pdir = fresh('model');
    saveModelDir(pdir, { config, weights: randomWeights(config, 4) });
    writeFileSync(join(pdir, 'generation_config.json'), JSON.stringify({ do_sample: false, top_k: 7 }));
    const out = fresh('export');
    exportHfModel(pdir, out);
    const gen = JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8'));
    assert.equal(gen.do_sample, false);
    assert.equal(gen.top_k, 7);
    assert.deepEqual(gen.eos_token_id, [BYTE_SPECIAL_TOKENS.eos, BYTE_SPECIAL_TOKENS.im_end]);
    const back = fresh('back');
    importHfModel(out, back);
    assert.deepEqual(readSamplingDefaults(back), { temperature: 0, topK: 7 });
    // an HF-tokenizer model: its file is copied as it is
    const again = fresh('again');
    exportHfModel(back, again);
    assert.deepEqual(JSON.parse(readFileSync(join(again, 'generation_config.json'), 'utf8')), gen);
    // an HF directory without a tokenizer still brings its generation config in
    const bare = writeHfModel(fresh('bare'), config, randomWeights(config, 5), { dtype: 'F32' });
    for (const f of readdirSync(bare)) if (f.startsWith('tokenizer')) rmSync(join(bare, f));
    writeFileSync(join(bare, 'generation_config.json'), JSON.stringify({ temperature: 0.3 }));
    const imported = fresh('imported');
    importHfModel(bare, imported);
    assert.deepEqual(readSamplingDefaults(imported), { temperature: 0.3 });
    // a malformed file: one clear error, nothing written
    writeFileSync(join(pdir, 'generation_config.json'), JSON.stringify({ temperature: 'hot' }));
    const refused = fresh('refused');
    assert.throws(() => exportHfModel(pdir, refused), isPonder('BAD_INPUT', 'temperature'));
    assert.equal(existsSync(refused), false);
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
