import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arithmeticTask } from '../../src/tasks/arithmetic.js';
import { runPonder } from '../helpers/cli.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * `ponder eval`: the problems are the task's own (same seed, digits and ops), every answer is scored
 * by the task's extractor and verifier, the summary counts them; bad flags are one line and exit 2.
 */
let root: string;
let model: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-eval-'));
  const config = tinyConfig('qwen2');
  model = writeHfModel(join(root, 'hf'), config, randomWeights(config, 4));
});
after(() => rmSync(root, { recursive: true, force: true }));

interface Item {
  index: number;
  prompt: string;
  answer: string;
  text: string;
  predicted?: string;
  correct: boolean;
}

describe('ponder eval', () => {
  it('--show --json: the task\'s problems, scored by its verifier, summed in the summary', () => {
    const r = runPonder(['eval', '--model', model, '--n', '3', '--digits', '2', '--ops', '+,-', '--seed', '5', '--max-tokens', '6', '--show', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const items: Item[] = lines.slice(0, -1);
    const summary = lines.at(-1);
    const problems = arithmeticTask.generate(3, 5, { digits: 2, ops: ['+', '-'] });
    assert.deepEqual(items.map((i) => i.prompt), problems.map((p) => p.prompt));
    for (const [k, it] of items.entries()) {
      assert.equal(it.answer, problems[k]!.answer);
      assert.equal(it.predicted, arithmeticTask.extractAnswer(it.text));
      assert.equal(it.correct, arithmeticTask.verify(problems[k]!, it.predicted));
    }
    const correct = items.filter((i) => i.correct).length;
    assert.equal(summary.n, 3);
    assert.equal(summary.correct, correct);
    assert.equal(summary.accuracy, correct / 3);
    assert.deepEqual(summary.ops, ['+', '-']);
  });

  it('plain output is one summary line', () => {
    const r = runPonder(['eval', '--model', model, '--n', '2', '--max-tokens', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^arithmetic \(digits 1, seed 0\): \d\/2 correct \(\d+\.\d%\)$/);
  });

  for (const [args, pattern] of [
    [['--ops', '+,/'], /--ops takes a comma-separated list/],
    [['--task', 'poetry'], /unknown task "poetry"/],
    [['--think', 'maybe'], /--think takes on or off/],
    [['--n', '0'], /--n must be an integer >= 1/],
    [['--raw', '--think', 'on'], /--think applies to the chat format/],
  ] as [string[], RegExp][]) {
    it(`${args.join(' ')}: one line, exit 2`, () => {
      const r = runPonder(['eval', '--model', model, ...args]);
      assert.equal(r.code, 2);
      assert.equal(r.stderrLines.length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    });
  }

  it('a missing model: one line, exit 1', () => {
    const r = runPonder(['eval', '--model', join(root, 'nope')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderrLines.length, 1, r.stderr);
  });
});
