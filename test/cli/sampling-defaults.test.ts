import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPonder } from '../helpers/cli.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * A model's generation_config.json sets generate's and chat's sampling defaults; flags override it.
 * With `do_sample: false` the model decodes greedily unless told otherwise, so the seed no longer
 * matters and the text equals an explicit `--temperature 0`.
 */
let root: string;
let greedyModel: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-sampling-'));
  const config = tinyConfig('qwen2');
  const hf = writeHfModel(join(root, 'hf'), config, randomWeights(config, 8));
  greedyModel = join(root, 'greedy');
  assert.equal(runPonder(['import', hf, '--out', greedyModel]).code, 0);
  writeFileSync(join(greedyModel, 'generation_config.json'), JSON.stringify({ do_sample: false }));
});
after(() => rmSync(root, { recursive: true, force: true }));

const text = (args: string[]) => {
  const r = runPonder(args);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).text as string;
};

describe("the model's sampling defaults", () => {
  for (const cmd of ['generate', 'chat']) {
    it(`${cmd}: do_sample false means greedy by default; --temperature overrides it`, () => {
      const base = [cmd, '--model', greedyModel, '--prompt', 'hello', '--max-tokens', '12', '--json'];
      const greedy = text([...base, '--temperature', '0']);
      assert.equal(text([...base, '--seed', '1']), greedy);
      assert.equal(text([...base, '--seed', '2']), greedy);
      // sampled at a high temperature, three seeds cannot all give the greedy text of 12 random-model tokens
      const sampled = ['1', '2', '3'].map((s) => text([...base, '--temperature', '5', '--seed', s]));
      assert.ok(sampled.some((t) => t !== greedy), 'an explicit --temperature is used');
    });
  }

  it('a broken generation_config.json: one line, exit 1', () => {
    writeFileSync(join(greedyModel, 'generation_config.json'), '{"temperature": "hot"}');
    const r = runPonder(['generate', '--model', greedyModel, '--prompt', 'hi', '--max-tokens', '2']);
    assert.equal(r.code, 1);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderr, /generation_config\.json: "temperature" must be a number/);
    writeFileSync(join(greedyModel, 'generation_config.json'), JSON.stringify({ do_sample: false }));
  });
});
