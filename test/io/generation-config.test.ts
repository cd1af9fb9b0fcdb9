import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonderError } from '../../src/errors.js';
import { readSamplingDefaults } from '../../src/io/generation-config.js';

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-gencfg-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function dirWith(name: string, text: string | undefined): string {
  const dir = mkdtempSync(join(root, `${name}-`));
  if (text !== undefined) writeFileSync(join(dir, 'generation_config.json'), text);
  return dir;
}

describe('generation_config.json sampling defaults', () => {
  it('no file: no defaults', () => {
    assert.deepEqual(readSamplingDefaults(dirWith('none', undefined)), {});
  });

  it('reads temperature, top_k, top_p, min_p; ignores other fields', () => {
    const d = dirWith('qwen', JSON.stringify({ do_sample: true, temperature: 0.6, top_k: 20, top_p: 0.95, min_p: 0.05, eos_token_id: [1, 2], max_new_tokens: 9 }));
    assert.deepEqual(readSamplingDefaults(d), { temperature: 0.6, topK: 20, topP: 0.95, minP: 0.05 });
  });

  it('do_sample: false is greedy, whatever the temperature says', () => {
    assert.deepEqual(readSamplingDefaults(dirWith('greedy', JSON.stringify({ do_sample: false, temperature: 0.9 }))), { temperature: 0 });
  });

  for (const [name, text, pattern] of [
    ['not json', '{ temperature: ', /generation_config\.json/],
    ['an array', '[1]', /expected a JSON object/],
    ['negative temperature', '{"temperature": -1}', /"temperature" must be a number in \[0, 100\]/],
    ['fractional top_k', '{"top_k": 2.5}', /"top_k" must be an integer/],
    ['top_p above 1', '{"top_p": 1.5}', /"top_p"/],
    ['do_sample a string', '{"do_sample": "no"}', /"do_sample" must be true or false/],
  ] as [string, string, RegExp][]) {
    it(`${name}: one clear error naming the file`, () => {
      assert.throws(
        () => readSamplingDefaults(dirWith('bad', text)),
        (e: unknown) => e instanceof PonderError && pattern.test(e.message) && !e.message.includes('\n'),
      );
    });
  }
});
