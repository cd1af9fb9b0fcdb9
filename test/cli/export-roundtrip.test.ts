import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder export` → `ponder import` of the bundled model (byte tokenizer, greedy generation config,
 * one MTP module) through the real executable: the re-imported model (now on the exported HF
 * tokenizer.json) answers with the same greedy text as the original, with no sampling flag given, so a
 * dropped generation_config.json (sampling at 0.7) or a tokenizer that gives other ids fails it.
 */
let root: string;
before(() => (root = mkdtempSync(join(tmpdir(), 'ponder-roundtrip-'))));
after(() => rmSync(root, { recursive: true, force: true }));

interface Answer {
  text: string;
  stats: { new_tokens: number; prompt_tokens: number };
}

describe('export → import round trip', () => {
  it('the bundled model answers the same after export and re-import (default sampling, chat template)', () => {
    const hf = join(root, 'hf');
    const back = join(root, 'back');
    const exported = runPonder(['export', 'default', '--out', hf]);
    assert.equal(exported.code, 0, exported.stderr);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) assert.ok(existsSync(join(hf, f)), f);
    assert.equal(JSON.parse(readFileSync(join(hf, 'generation_config.json'), 'utf8')).do_sample, false);
    const imported = runPonder(['import', hf, '--out', back]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(JSON.parse(readFileSync(join(back, 'config.json'), 'utf8')).ponder?.tokenizer, 'hf');

    for (const args of [['generate', '--prompt', 'What is 48 + 37?'], ['chat', '--prompt', 'What is 6 * 7?', '--no-think']]) {
      const run = (model: string): Answer => {
        const r = runPonder([...args, '--model', model, '--max-tokens', '24', '--seed', '5', '--json']);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout);
      };
      const a = run('default');
      const b = run(back);
      assert.ok(a.stats.new_tokens > 0);
      assert.equal(b.stats.prompt_tokens, a.stats.prompt_tokens, `${args[0]}: same prompt ids count`);
      assert.equal(b.text, a.text, `${args[0]}: same greedy text`);
    }
  });
});
