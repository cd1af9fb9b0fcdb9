import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { PonderError, type ErrorCode } from '../../src/errors.js';
import { f16ToF32Array, f32ToF16Array } from '../../src/io/bf16.js';
import { loadModelDir, loadTokenizer, saveModelDir, planShards, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from '../../src/io/model-dir.js';
import { checkFitsDevice } from '../../src/io/fits-device.js';
import { ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import type { Weights } from '../../src/model/config.js';
import { randomWeights, tinyConfig, TINY_TOKENIZER_DIR, type TinyFamily } from '../helpers/tiny-models.js';
import { testSeed } from '../helpers/random.js';

let root = '';
let counter = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-model-dir-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});
function fresh(): string {
  const d = join(root, String(counter++));
  mkdirSync(d);
  return join(d, 'model');
}

/** Asserts `fn` throws a one-line PonderError with `code` whose message contains every string in `parts`. */
export function throwsPonder(fn: () => unknown, code: ErrorCode, ...parts: string[]): PonderError {
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

function assertBitsEqual(a: Weights, b: Weights): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, t] of a) {
    const u = b.get(name)!;
    assert.deepEqual(u.shape, t.shape, name);
    assert.ok(u.data instanceof Float32Array, name);
    assert.deepEqual(new Uint32Array(u.data.buffer, u.data.byteOffset, u.data.length), new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length), name);
  }
}

const families: TinyFamily[] = ['llama', 'qwen2', 'qwen3', 'mimo'];

describe('ponder model directory: round trips', () => {
  for (const family of families) {
    it(`${family}: save → load is bit-exact, config survives, byte tokenizer`, async () => {
      const config = tinyConfig(family);
      const weights = randomWeights(config, testSeed);
      const dir = fresh();
      saveModelDir(dir, { config, weights, card: { source: 'test' } });
      assert.deepEqual(readdirSync(dir).sort(), ['README.md', 'config.json', WEIGHTS_FILE]);
      const m = loadModelDir(dir);
      assert.equal(m.tokenizerKind, 'bytes');
      assert.deepEqual(m.config, { ...config, ponder: { tokenizer: 'bytes' } });
      assertBitsEqual(weights, m.weights);
      const card = readFileSync(join(dir, 'README.md'), 'utf8');
      assert.match(card, new RegExp(`family: ${family}`));
      assert.match(card, /source: test/);
      assert.ok((await loadTokenizer(dir, m.config)) instanceof ByteTokenizer);
      // No temporary siblings are left behind.
      assert.deepEqual(readdirSync(dirname(dir)), ['model']);
    });
  }

  it('weights files are plain msgpack any library reads', () => {
    const config = tinyConfig('qwen3');
    const weights = randomWeights(config, testSeed);
    const dir = fresh();
    saveModelDir(dir, { config, weights });
    const v = unpack(readFileSync(join(dir, WEIGHTS_FILE))) as { format: string; version: number; tensors: { name: string; dtype: string; shape: number[]; data: Uint8Array }[] };
    assert.equal(v.format, 'ponder-weights');
    assert.equal(v.version, 1);
    assert.equal(v.tensors.length, weights.size);
    const e = v.tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    assert.equal(e.dtype, 'f32');
    assert.deepEqual(e.shape, [320, 32]);
    const data = new Float32Array(new Uint8Array(e.data).buffer);
    assert.deepEqual(data, weights.get('model.embed_tokens.weight')!.data);
  });

  it('a file written by another msgpack writer (map16, any key order) loads', () => {
    const config = tinyConfig('llama', { num_hidden_layers: 1 });
    const weights = randomWeights(config, testSeed);
    const dir = fresh();
    saveModelDir(dir, { config, weights });
    const tensors = [...weights].reverse().map(([name, t]) => ({ data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), shape: t.shape, dtype: 'f32', name }));
    writeFileSync(join(dir, WEIGHTS_FILE), pack({ tensors, version: 1, format: 'ponder-weights' }));
    assertBitsEqual(weights, loadModelDir(dir).weights);
  });

  it('f16 save: values within f16 rounding (exactly the round-to-nearest-even value)', () => {
    const config = tinyConfig('qwen2');
    const weights = randomWeights(config, testSeed);
    const dir = fresh();
    saveModelDir(dir, { config, weights }, { dtype: 'f16' });
    const m = loadModelDir(dir);
    assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).torch_dtype, 'float16');
    for (const [name, t] of weights) {
      const want = f16ToF32Array(f32ToF16Array(t.data));
      assert.deepEqual(m.weights.get(name)!.data, want, name);
      for (let i = 0; i < t.data.length; i++) assert.ok(Math.abs(want[i]! - t.data[i]!) <= Math.abs(t.data[i]!) * 2 ** -11 + 2 ** -25, name);
    }
    // Half the bytes of the f32 file (plus headers).
    const f32dir = fresh();
    saveModelDir(f32dir, { config, weights });
    const r = statSync(join(dir, WEIGHTS_FILE)).size / statSync(join(f32dir, WEIGHTS_FILE)).size;
    assert.ok(r > 0.5 && r < 0.55, String(r));
  });

  it('sharded with a tiny limit: index + shards, none over the limit unless a lone tensor is larger', () => {
    const config = tinyConfig('qwen3', { num_hidden_layers: 3 });
    const weights = randomWeights(config, testSeed);
    const dir = fresh();
    const limit = 8000; // the embedding (320x32 f32 = 40960 bytes) is larger: a shard of its own
    saveModelDir(dir, { config, weights, tokenizerFrom: TINY_TOKENIZER_DIR }, { shardBytes: limit });
    const files = readdirSync(dir).filter((f) => f.endsWith('.msgpack')).sort();
    assert.ok(files.length > 3, files.join());
    assert.ok(!files.includes(WEIGHTS_FILE));
    const n = files.length;
    files.forEach((f, i) => assert.equal(f, `weights-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.msgpack`));
    const index = JSON.parse(readFileSync(join(dir, WEIGHTS_INDEX_FILE), 'utf8'));
    assert.equal(index.format, 'ponder-weights-index');
    assert.equal(index.version, 1);
    assert.equal(Object.keys(index.weight_map).length, weights.size);
    for (const f of files) {
      const v = unpack(readFileSync(join(dir, f))) as { tensors: { data: Uint8Array }[] };
      const bytes = v.tensors.reduce((a, t) => a + t.data.length, 0);
      assert.ok(bytes <= limit || v.tensors.length === 1, `${f}: ${bytes} bytes in ${v.tensors.length} tensors`);
    }
    const m = loadModelDir(dir);
    assert.equal(m.tokenizerKind, 'hf');
    assertBitsEqual(weights, m.weights);
  });

  it('planShards: greedy, oversized tensors alone, never empty', () => {
    const t = (bytes: number) => ({ bytes });
    assert.deepEqual(planShards([t(3), t(3), t(3), t(10), t(1)], 6).map((s) => s.map((x) => x.bytes)), [[3, 3], [3], [10], [1]]);
    assert.deepEqual(planShards([], 6), [[]]);
  });

  it('HF tokenizer: files copied, loadTokenizer gives the HF tokenizer', async () => {
    const config = tinyConfig('qwen2');
    const dir = fresh();
    saveModelDir(dir, { config, weights: randomWeights(config, 1), tokenizerFrom: TINY_TOKENIZER_DIR });
    assert.ok(existsSync(join(dir, 'tokenizer.json')) && existsSync(join(dir, 'tokenizer_config.json')));
    const m = loadModelDir(dir);
    assert.equal(m.config.ponder?.tokenizer, 'hf');
    const tok = await loadTokenizer(dir, m.config);
    assert.equal(tok.vocabSize, 317);
    assert.ok(tok.encode('hello').length > 0);
    // A vocabulary larger than the model's embedding is refused.
    await assert.rejects(loadTokenizer(dir, { ...m.config, vocab_size: 300 }), (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && /317 tokens/.test(e.message));
  });

  it('--out exists: refused unless overwrite; overwrite replaces it whole', () => {
    const config = tinyConfig('llama', { num_hidden_layers: 1 });
    const dir = fresh();
    saveModelDir(dir, { config, weights: randomWeights(config, 1) });
    const w2 = randomWeights(config, 2);
    throwsPonder(() => saveModelDir(dir, { config, weights: w2 }), 'BAD_INPUT', dir, 'already exists');
    assertBitsEqual(randomWeights(config, 1), loadModelDir(dir).weights);
    // Sharded → single: stale shards must not survive.
    saveModelDir(dir, { config, weights: w2 }, { overwrite: true, shardBytes: 1000 });
    assert.ok(existsSync(join(dir, WEIGHTS_INDEX_FILE)));
    saveModelDir(dir, { config, weights: w2 }, { overwrite: true });
    assert.deepEqual(readdirSync(dir).sort(), ['README.md', 'config.json', WEIGHTS_FILE]);
    assertBitsEqual(w2, loadModelDir(dir).weights);
    assert.deepEqual(readdirSync(dirname(dir)), ['model']);
  });
});

describe('ponder model directory: bad input', () => {
  const config = tinyConfig('qwen2');
  const weights = randomWeights(config, testSeed);
  function saved(opts: { shardBytes?: number } = {}): string {
    const dir = fresh();
    saveModelDir(dir, { config, weights }, opts);
    return dir;
  }
  function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
    const p = join(dir, 'config.json');
    const c = JSON.parse(readFileSync(p, 'utf8'));
    edit(c);
    writeFileSync(p, JSON.stringify(c));
  }

  it('nothing written on failure: bad weights → no directory, no temp siblings', () => {
    const dir = fresh();
    const w = new Map(weights);
    w.delete('model.norm.weight');
    throwsPonder(() => saveModelDir(dir, { config, weights: w }), 'BAD_INPUT', 'missing tensor "model.norm.weight"');
    const w2 = new Map(weights);
    w2.set('model.layers.0.mlp.up_proj.weight', { shape: [32, 48], data: new Float32Array(32 * 48) });
    throwsPonder(() => saveModelDir(dir, { config, weights: w2 }), 'BAD_INPUT', 'model.layers.0.mlp.up_proj.weight', '[32x48]', '[48x32]');
    throwsPonder(() => saveModelDir(dir, { config, weights, tokenizerFrom: join(root, 'nope') }), 'NOT_FOUND', 'tokenizer.json');
    const w3 = new Map(weights);
    w3.set('model.layers.9.extra.weight', { shape: [1], data: new Float32Array(1) });
    throwsPonder(() => saveModelDir(dir, { config, weights: w3 }), 'BAD_INPUT', 'unexpected tensor "model.layers.9.extra.weight"');
    assert.equal(existsSync(dir), false);
    assert.deepEqual(readdirSync(dirname(dir)), []);
  });

  it('missing directory / config / weights → NOT_FOUND', () => {
    throwsPonder(() => loadModelDir(join(root, 'does-not-exist')), 'NOT_FOUND', 'does-not-exist');
    const a = saved();
    rmSync(join(a, 'config.json'));
    throwsPonder(() => loadModelDir(a), 'NOT_FOUND', join(a, 'config.json'));
    const b = saved();
    rmSync(join(b, WEIGHTS_FILE));
    throwsPonder(() => loadModelDir(b), 'NOT_FOUND', b, 'weights.msgpack');
    const c = saved({ shardBytes: 10000 });
    const shard = readdirSync(c).find((f) => f.endsWith('.msgpack'))!;
    rmSync(join(c, shard));
    throwsPonder(() => loadModelDir(c), 'NOT_FOUND', shard);
  });

  it('invalid JSON config, unsupported architecture (lists the supported ones)', () => {
    const a = saved();
    writeFileSync(join(a, 'config.json'), '{"architectures": [');
    throwsPonder(() => loadModelDir(a), 'BAD_INPUT', join(a, 'config.json'), 'invalid JSON');
    const b = saved();
    editConfig(b, (c) => (c.architectures = ['GPT2LMHeadModel']));
    throwsPonder(() => loadModelDir(b), 'BAD_INPUT', 'GPT2LMHeadModel', 'LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MiMoForCausalLM');
  });

  it('config/weight mismatch: shape (names tensor and both shapes), missing tensor, unexpected tensor', () => {
    const a = saved();
    editConfig(a, (c) => (c.intermediate_size = 64));
    throwsPonder(() => loadModelDir(a), 'BAD_INPUT', 'model.layers.0.mlp.gate_proj.weight', '[48x32]', '[64x32]');
    const b = saved();
    editConfig(b, (c) => (c.num_hidden_layers = 3));
    throwsPonder(() => loadModelDir(b), 'BAD_INPUT', 'missing tensor "model.layers.2.input_layernorm.weight"');
    const c = saved();
    editConfig(c, (x) => (x.num_hidden_layers = 1));
    throwsPonder(() => loadModelDir(c), 'BAD_INPUT', 'unexpected tensor "model.layers.1.');
    const d = saved();
    editConfig(d, (x) => (x.tie_word_embeddings = false));
    throwsPonder(() => loadModelDir(d), 'BAD_INPUT', 'missing tensor "lm_head.weight"');
  });

  it('truncated msgpack at any point → one BAD_INPUT line naming the file', () => {
    const dir = saved();
    const file = join(dir, WEIGHTS_FILE);
    const full = readFileSync(file);
    const cuts = [0, 1, 5, 20, 40, 100, 1000, full.length >> 1, full.length - 5, full.length - 1];
    for (const cut of cuts) {
      writeFileSync(file, full.subarray(0, cut));
      throwsPonder(() => loadModelDir(dir), 'BAD_INPUT', file);
    }
    writeFileSync(file, full);
    truncateSync(file, full.length - 1);
    throwsPonder(() => loadModelDir(dir), 'BAD_INPUT', file, 'truncated');
  });

  it('corrupt weights files → one BAD_INPUT line naming the file and the problem', () => {
    const dir = saved();
    const file = join(dir, WEIGHTS_FILE);
    const t = weights.get('model.norm.weight')!;
    const one = (over: Record<string, unknown>) => ({ name: 'model.norm.weight', dtype: 'f32', shape: t.shape, data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), ...over });
    const cases: [unknown, string][] = [
      [{ format: 'safetensors', version: 1, tensors: [] }, 'not a ponder weights file'],
      [{ format: 'ponder-weights', version: 2, tensors: [] }, 'unsupported weights version 2'],
      [{ format: 'ponder-weights', version: 1, tensors: 'x' }, '"tensors" must be an array'],
      [[1, 2, 3], 'not a ponder weights file'],
      [{ format: 'ponder-weights', version: 1, tensors: [one({ dtype: 'bf16' })] }, 'unsupported dtype "bf16"'],
      [{ format: 'ponder-weights', version: 1, tensors: [one({ shape: [-1] })] }, 'shape must be'],
      [{ format: 'ponder-weights', version: 1, tensors: [one({ shape: [33] })] }, 'needs 132 bytes but its data has 128'],
      [{ format: 'ponder-weights', version: 1, tensors: [one({ data: [1, 2] })] }, 'data must be a msgpack bin'],
      [{ format: 'ponder-weights', version: 1, tensors: [one({}), one({})] }, 'appears twice'],
      [{ format: 'ponder-weights', version: 1, tensors: [one({ name: 7 })] }, 'has no name'],
    ];
    for (const [value, msg] of cases) {
      writeFileSync(file, pack(value));
      throwsPonder(() => loadModelDir(dir), 'BAD_INPUT', file, msg);
    }
    writeFileSync(file, Buffer.concat([pack({ format: 'ponder-weights', version: 1, tensors: [] }), Buffer.from([1, 2])]));
    throwsPonder(() => loadModelDir(dir), 'BAD_INPUT', file, 'unexpected bytes after');
    writeFileSync(file, Buffer.from([0xc1, 0, 0]));
    throwsPonder(() => loadModelDir(dir), 'BAD_INPUT', file, '0xc1');
    // A bin that claims 4 GiB in a tiny file: refused from the header, nothing allocated.
    writeFileSync(file, Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xf0, 1, 2]));
    throwsPonder(() => loadModelDir(dir), 'BAD_INPUT', file, 'truncated');
    writeFileSync(file, Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xf0, 1, 2]));
    throwsPonder(() => loadModelDir(dir), 'BAD_INPUT', file, 'truncated');
  });

  it('bad index → BAD_INPUT naming weights.index.json', () => {
    const dir = saved({ shardBytes: 10000 });
    const p = join(dir, WEIGHTS_INDEX_FILE);
    const good = JSON.parse(readFileSync(p, 'utf8'));
    const names = Object.keys(good.weight_map);
    const shards = [...new Set(Object.values(good.weight_map) as string[])];
    const cases: [string, string][] = [
      ['{"weight_map": ', 'invalid JSON'],
      ['[]', 'must be a JSON object'],
      [JSON.stringify({ ...good, format: 'x' }), 'not a ponder weights index'],
      [JSON.stringify({ ...good, version: 9 }), 'unsupported index version 9'],
      [JSON.stringify({ ...good, weight_map: 3 }), 'weight_map must be'],
      [JSON.stringify({ ...good, weight_map: {} }), 'weight_map is empty'],
      [JSON.stringify({ ...good, weight_map: { ...good.weight_map, [names[0]!]: '../evil.msgpack' } }), 'must be a .msgpack file name in this directory'],
      [JSON.stringify({ ...good, weight_map: { ...good.weight_map, [names.at(-1)!]: shards[0] } }), `weight_map puts it in ${shards[0]}`],
      [JSON.stringify({ ...good, weight_map: { ...good.weight_map, 'ghost.weight': shards[0] } }), '"ghost.weight" is listed in weight_map'],
    ];
    for (const [text, msg] of cases) {
      writeFileSync(p, text);
      throwsPonder(() => loadModelDir(dir), 'BAD_INPUT', p, msg);
    }
    // A tensor whose shard holds others too, dropped from weight_map.
    const victim = names.find((n) => names.filter((m) => good.weight_map[m] === good.weight_map[n]).length > 1)!;
    const { [victim]: _, ...rest } = good.weight_map;
    writeFileSync(p, JSON.stringify({ ...good, weight_map: rest }));
    throwsPonder(() => loadModelDir(dir), 'BAD_INPUT', victim, 'does not list it');
  });
});

describe('checkFitsDevice', () => {
  const config = tinyConfig('qwen2', { vocab_size: 1000, hidden_size: 64, num_attention_heads: 8, head_dim: 8, max_position_embeddings: 256 });
  it('sums weights and KV cache', () => {
    const r = checkFitsDevice(config, { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 1 << 27 }, { kvSlots: 2 });
    let w = 0;
    for (const t of randomWeights(config, 1).values()) w += t.data.length * 4;
    assert.equal(r.weightBytes, w);
    assert.equal(r.kvBytes, 2 * 2 * 256 * 2 * 8 * 4 * 2);
    assert.equal(r.totalBytes, w + r.kvBytes);
    assert.equal(r.largest.bytes, 1000 * 64 * 4);
  });
  it('a tensor over maxStorageBufferBindingSize is fine; over maxBufferSize is DEVICE_LIMIT naming size and limit', () => {
    checkFitsDevice(config, { maxBufferSize: 1 << 20, maxStorageBufferBindingSize: 1 << 16 });
    // The embedding is 1000x64 f32 = 256000 bytes.
    throwsPonder(() => checkFitsDevice(config, { maxBufferSize: 200_000, maxStorageBufferBindingSize: 1 << 16 }), 'DEVICE_LIMIT', 'model needs', 'GiB of GPU memory for weights + KV cache', 'tensor "model.embed_tokens.weight" needs one buffer of 250.0 KiB', 'at most 195.3 KiB per buffer (maxBufferSize)');
    throwsPonder(() => checkFitsDevice(config, { maxBufferSize: 300_000, maxStorageBufferBindingSize: 1 << 16 }, { kvSlots: 64, maxPositions: 256 }), 'DEVICE_LIMIT', 'KV cache');
  });
});
