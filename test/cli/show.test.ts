import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveModelDir } from '../../src/io/model-dir.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * `ponder show MODEL`: the card's summary and example, family, parameters, context, tokenizer,
 * sampling defaults, config.json and the chat template as the model reads it, for the bundled model,
 * an HF directory (its Jinja template) and a tune run directory (its final/ model); an unknown model
 * is one error line pointing at `ponder models`, with no GPU opened.
 */
const BIN = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));
let root: string;
before(() => (root = mkdtempSync(join(tmpdir(), 'ponder-show-'))));
after(() => rmSync(root, { recursive: true, force: true }));

const ponder = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

describe('ponder show', () => {
  it('the bundled model: card, figures, config and the template with the card\'s example', () => {
    const r = ponder('show', 'default');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^ {2}for {9}A small reasoning model/m);
    assert.match(r.stdout, /^ {2}try {9}What is 23 \+ 45\?$/m);
    assert.match(r.stdout, /^ {2}family {6}llama \(LlamaForCausalLM\)$/m);
    assert.match(r.stdout, /^ {2}parameters {2}854,912 \+ 230,016 in 1 MTP module$/m);
    assert.match(r.stdout, /^ {2}context {5}512 tokens$/m);
    assert.match(r.stdout, /^ {2}vocabulary {2}263 ids \(byte tokenizer\)$/m);
    assert.match(r.stdout, /^ {2}sampling {4}greedy \(generation_config\.json\)$/m);
    assert.match(r.stdout, /^config\.json\n {2}\{\n {4}"architectures": \[/m);
    assert.match(r.stdout, /^template .*\n {2}<\|im_start\|>user\n {2}What is 23 \+ 45\?<\|im_end\|>\n {2}<\|im_start\|>assistant$/m);
    const j = ponder('show', 'default', '--json');
    const o = JSON.parse(j.stdout) as Record<string, unknown>;
    assert.equal(o.parameters, 854_912);
    assert.equal(o.mtp_parameters, 230_016);
    assert.equal(o.context, 512);
    assert.deepEqual(o.sampling, { temperature: 0 });
    assert.equal((o.config as { vocab_size: number }).vocab_size, 263);
    assert.match(o.template_example as string, /What is 23 \+ 45\?/);
  });

  it('an HF directory shows its tokenizer and renders its Jinja chat template; a run directory shows its final model', () => {
    const cfg = tinyConfig('qwen2');
    const hf = writeHfModel(join(root, 'hf'), cfg, randomWeights(cfg, 3));
    const r = ponder('show', hf);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {2}for {9}- \(no README\.md card\)$/m);
    assert.match(r.stdout, /^ {2}family {6}qwen2 \(Qwen2ForCausalLM\)$/m);
    assert.match(r.stdout, /^ {2}vocabulary {2}320 ids \(Hugging Face tokenizer\.json\)$/m);
    assert.match(r.stdout, /<\|im_start\|>user\n {2}Hello!<\|im_end\|>/);
    const llama = tinyConfig('llama');
    saveModelDir(join(root, 'run/final'), { config: llama, weights: randomWeights(llama, 4) });
    const run = ponder('show', join(root, 'run'));
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^ {2}parameters {2}36,000$/m);
    assert.ok(run.stdout.includes(join(root, 'run/final')));
  });

  it('an unknown model: one error line and a hint, exit 1, no GPU warnings', () => {
    const r = ponder('show', 'no-such-model');
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0]!, /^ponder: error: no model at no-such-model/);
    assert.match(lines[1]!, /^hint: .*ponder models/);
  });
});
