import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bf16BitsToF32, f32ToBf16Bits } from '../../src/io/bf16.js';
import type { Weights } from '../../src/model/config.js';
import { runPonder } from '../helpers/cli.js';
import { assertClose } from '../helpers/compare.js';
import { randomWeights, tinyConfig, writeHfModel, type TinyFamily } from '../helpers/tiny-models.js';
import { referenceLogits } from '../reference/transformer.js';

/**
 * The inference issue's "done means", end to end through the real executable: import a tiny random HF
 * model of each family and check `ponder logits` against an independent float64 forward; generate
 * text; export and re-import bit-exactly; and broken inputs fail with one line and leave --out alone.
 */
let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-models-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function roundedToBf16(w: Weights): Weights {
  const out: Weights = new Map();
  for (const [k, t] of w) out.set(k, { shape: t.shape, data: Float32Array.from(t.data, (v) => bf16BitsToF32(f32ToBf16Bits(v))) });
  return out;
}

const TOKENS = [5, 17, 200, 3, 99, 42, 7];

function checkLogits(modelDir: string, family: TinyFamily, weights: Weights): void {
  const config = tinyConfig(family);
  const r = runPonder(['logits', '--model', modelDir, '--tokens', TOKENS.join(','), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rows: number[][] = JSON.parse(r.stdout).logits;
  assert.equal(rows.length, TOKENS.length);
  assert.equal(rows[0].length, config.vocab_size);
  const expected = referenceLogits(config, weights, TOKENS);
  assertClose(`${family} logits`, rows.flat(), expected, { rtol: 1e-5, atol: 1e-5 });
}

describe('model commands end to end', () => {
  for (const [family, dtype, shards] of [
    ['llama', 'F32', 1],
    ['qwen2', 'BF16', 2],
    ['qwen3', 'F32', 1],
  ] as const) {
    it(`imports a ${family} model (${dtype}, ${shards} shard${shards > 1 ? 's' : ''}) and its logits match the float64 reference`, () => {
      const config = tinyConfig(family);
      const weights = randomWeights(config, 11);
      const hf = writeHfModel(join(root, `${family}-hf`), config, weights, { dtype, shards });
      const out = join(root, `${family}-ponder`);
      const r = runPonder(['import', hf, '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      checkLogits(out, family, dtype === 'BF16' ? roundedToBf16(weights) : weights);
      // an HF directory works directly as --model too (imported on the fly)
      checkLogits(hf, family, dtype === 'BF16' ? roundedToBf16(weights) : weights);
    });
  }

  it('export → import is bit-exact', () => {
    const config = tinyConfig('qwen2');
    const weights = randomWeights(config, 5);
    const hf = writeHfModel(join(root, 'rt-hf'), config, weights);
    const a = join(root, 'rt-a');
    const exported = join(root, 'rt-exported');
    const b = join(root, 'rt-b');
    assert.equal(runPonder(['import', hf, '--out', a]).code, 0);
    const ex = runPonder(['export', a, '--format', 'hf', '--out', exported]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.ok(existsSync(join(exported, 'config.json')));
    assert.equal(runPonder(['import', exported, '--out', b]).code, 0);
    const la = runPonder(['logits', '--model', a, '--tokens', '1,2,3']).stdout;
    const lb = runPonder(['logits', '--model', b, '--tokens', '1,2,3']).stdout;
    assert.equal(la, lb);
  });

  it('generate streams text and --json reports stats; greedy is deterministic', () => {
    const config = tinyConfig('qwen2');
    const hf = writeHfModel(join(root, 'gen-hf'), config, randomWeights(config, 3));
    const out = join(root, 'gen-ponder');
    assert.equal(runPonder(['import', hf, '--out', out]).code, 0);
    const args = ['generate', '--model', out, '--prompt', 'hello there', '--max-tokens', '12', '--temperature', '0', '--json'];
    const r1 = runPonder(args);
    assert.equal(r1.code, 0, r1.stderr);
    const j = JSON.parse(r1.stdout);
    assert.equal(typeof j.text, 'string');
    for (const k of ['prompt_tokens', 'new_tokens', 'prefill_tokens_per_s', 'tokens_per_s']) assert.equal(typeof j.stats[k], 'number', k);
    assert.ok(j.stats.new_tokens <= 12 && j.stats.prompt_tokens > 0);
    assert.equal(JSON.parse(runPonder(args).stdout).text, j.text, 'greedy decoding gives the same text twice');
    const sampled = ['generate', '--model', out, '--prompt', 'hi', '--max-tokens', '8', '--temperature', '1', '--seed', '7', '--json'];
    assert.equal(JSON.parse(runPonder(sampled).stdout).text, JSON.parse(runPonder(sampled).stdout).text);
    const plain = runPonder(['generate', '--model', out, '--prompt', 'hi', '--max-tokens', '4', '--temperature', '0']);
    assert.equal(plain.code, 0, plain.stderr);
  });
});

describe('model commands on bad input', () => {
  function assertOneLine(r: ReturnType<typeof runPonder>, code: number, pattern: RegExp): void {
    assert.equal(r.code, code, r.stderr);
    assert.match(r.stderrLines[0] ?? '', pattern);
    assert.ok(r.stderrLines.length <= 2, r.stderr); // the error and at most a hint
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  }

  it('a missing HF directory: one line, nothing written', () => {
    const out = join(root, 'never');
    assertOneLine(runPonder(['import', join(root, 'no-such-dir'), '--out', out]), 1, /^ponder: error: .*no-such-dir/);
    assert.ok(!existsSync(out));
  });

  it('an existing --out is refused (with a hint) and kept intact; --overwrite replaces it', () => {
    const config = tinyConfig('llama');
    const hf = writeHfModel(join(root, 'twice-hf'), config, randomWeights(config, 2));
    const out = join(root, 'twice-out');
    assert.equal(runPonder(['import', hf, '--out', out]).code, 0);
    const before = readFileSync(join(out, 'config.json'), 'utf8');
    const r = runPonder(['import', hf, '--out', out]);
    assertOneLine(r, 1, /already exists/);
    assert.match(r.stderrLines[1] ?? '', /^hint: .*--overwrite/);
    assert.equal(readFileSync(join(out, 'config.json'), 'utf8'), before);
    assert.equal(runPonder(['import', hf, '--out', out, '--overwrite']).code, 0);
  });

  it('a model too large for the device is refused from its config alone, naming the size and the limit', () => {
    const dir = join(root, 'huge-hf');
    const config = tinyConfig('llama');
    writeHfModel(dir, config, randomWeights(config, 1));
    // claim a 2M x 8192 embedding (64 GiB as f32) without writing its weights: the check must come first
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    Object.assign(cfg, { vocab_size: 2_000_000, hidden_size: 8192, num_attention_heads: 64, num_key_value_heads: 8, head_dim: 128, intermediate_size: 16384 });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    assertOneLine(runPonder(['logits', '--model', dir, '--tokens', '1']), 1, /GiB.*maxBufferSize|maxBufferSize.*GiB/);
  });

  it('an unsupported architecture lists the supported ones', () => {
    const config = tinyConfig('llama');
    const hf = writeHfModel(join(root, 'gpt2-hf'), config, randomWeights(config, 1));
    const cfg = JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8'));
    cfg.architectures = ['GPT2LMHeadModel'];
    writeFileSync(join(hf, 'config.json'), JSON.stringify(cfg));
    const out = join(root, 'gpt2-out');
    assertOneLine(runPonder(['import', hf, '--out', out]), 1, /unsupported architecture "GPT2LMHeadModel".*LlamaForCausalLM.*Qwen2ForCausalLM.*Qwen3ForCausalLM/);
    assert.ok(!existsSync(out));
  });

  it('a truncated safetensors file: one line, nothing written', () => {
    const config = tinyConfig('llama');
    const hf = writeHfModel(join(root, 'trunc-hf'), config, randomWeights(config, 1));
    const file = join(hf, 'model.safetensors');
    truncateSync(file, readFileSync(file).length - 100);
    const out = join(root, 'trunc-out');
    assertOneLine(runPonder(['import', hf, '--out', out]), 1, /truncated/);
    assert.ok(!existsSync(out));
  });

  it('invalid JSON in config.json names the file', () => {
    const config = tinyConfig('llama');
    const hf = writeHfModel(join(root, 'badjson-hf'), config, randomWeights(config, 1));
    writeFileSync(join(hf, 'config.json'), '{"architectures": [');
    assertOneLine(runPonder(['import', hf, '--out', join(root, 'badjson-out')]), 1, /config\.json/);
  });

  it('a missing model, an out-of-vocabulary token, and bad flag values', () => {
    assertOneLine(runPonder(['generate', '--model', join(root, 'nothing-here'), '--prompt', 'x']), 1, /^ponder: error: no model at/);
    const config = tinyConfig('llama');
    const hf = writeHfModel(join(root, 'oov-hf'), config, randomWeights(config, 1));
    assertOneLine(runPonder(['logits', '--model', hf, '--tokens', '1,99999']), 1, /token id 99999 is outside the vocabulary \(size 320\)/);
    assertOneLine(runPonder(['logits', '--model', hf, '--tokens', '1,x']), 2, /--tokens must be a comma-separated list/);
    assertOneLine(runPonder(['generate', '--model', hf, '--prompt', 'x', '--temperature', 'hot']), 2, /--temperature must be a number/);
  });
});
