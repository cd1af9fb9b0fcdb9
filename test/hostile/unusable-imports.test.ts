import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonderError } from '../../src/errors.js';
import { importUsableHfModel } from '../../src/io/hf-import.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';
import { runPonder } from '../helpers/cli.js';

/**
 * An import that every later command would fail on is refused at import, with one line and nothing
 * written: a malformed tokenizer.json, a tokenizer with more tokens than vocab_size, bos/eos ids
 * outside the vocabulary, an unknown ponder.tokenizer. A good model still imports.
 */
let root = '';
let n = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-unusable-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function hf(mutate: (dir: string) => void, overrides: Parameters<typeof tinyConfig>[1] = {}): string {
  const config = tinyConfig('qwen2', overrides);
  const dir = writeHfModel(join(root, `hf-${n++}`), config, randomWeights(config, 2));
  mutate(dir);
  return dir;
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
}

async function refused(dir: string, pattern: RegExp): Promise<void> {
  const out = join(root, `out-${n++}`);
  await assert.rejects(importUsableHfModel(dir, out), (e: unknown) => {
    assert.ok(e instanceof PonderError, String(e));
    assert.equal(e.code, 'BAD_INPUT', e.message);
    assert.ok(!e.message.includes('\n'));
    assert.match(e.message, pattern);
    return true;
  });
  assert.ok(!existsSync(out), 'nothing written');
}

describe('imports that cannot be used are refused', () => {
  it('malformed tokenizer.json (JSON, but not a tokenizer; and not JSON)', async () => {
    await refused(hf((d) => writeFileSync(join(d, 'tokenizer.json'), '{"model": 7}')), /tokenizer\.json/);
    await refused(hf((d) => writeFileSync(join(d, 'tokenizer.json'), '{"model": ')), /tokenizer\.json/);
  });

  it('a tokenizer larger than vocab_size', async () => {
    await refused(hf((d) => editConfig(d, (c) => { delete c.bos_token_id; delete c.eos_token_id; }), { vocab_size: 100 }), /the tokenizer has \d+ tokens but the model's vocab_size is only 100/);
  });

  it('bos / eos ids outside the vocabulary; an unknown ponder.tokenizer', async () => {
    await refused(hf((d) => editConfig(d, (c) => (c.eos_token_id = 5000))), /eos_token_id 5000 is outside the vocabulary \(vocab_size 320/);
    await refused(hf((d) => editConfig(d, (c) => (c.bos_token_id = -1))), /bos_token_id -1 is outside the vocabulary/);
    await refused(hf((d) => editConfig(d, (c) => (c.eos_token_id = [1, 999]))), /eos_token_id 999/);
    await refused(hf((d) => editConfig(d, (c) => (c.ponder = { tokenizer: 'sentencepiece' }))), /ponder\.tokenizer is "sentencepiece"/);
  });

  it('through the CLI: one line, exit 1; a good model imports', () => {
    const bad = hf((d) => editConfig(d, (c) => (c.eos_token_id = 5000)));
    const r = runPonder(['import', bad, '--out', join(root, 'cli-bad')]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.ok(!existsSync(join(root, 'cli-bad')));
    const good = hf(() => {});
    const ok = runPonder(['import', good, '--out', join(root, 'cli-good')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(existsSync(join(root, 'cli-good', 'weights.msgpack')));
  });
});
