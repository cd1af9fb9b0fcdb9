import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { arithmeticTask } from '../../src/tasks/arithmetic.js';
import { taskByName } from '../../src/tasks/index.js';
import { runPonder } from '../helpers/cli.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * `ponder eval`: the problems are the task's own (same seed, digits and ops), every answer is scored
 * by the task's extractor and verifier, the summary counts them; --samples k gives the figures of
 * test-time scaling (their shape here; their values are recomputed from --dump in eval-dump.test.ts);
 * --curve is a table when stdout is not a terminal; bad flags are one line and exit 2.
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
  samples: { text: string; predicted?: string; correct: boolean; finish: string }[];
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
      assert.equal(it.samples.length, 1);
      const s = it.samples[0]!;
      assert.equal(s.predicted, arithmeticTask.extractAnswer(s.text));
      assert.equal(s.correct, arithmeticTask.verify(problems[k]!, s.predicted));
    }
    const correct = items.filter((i) => i.samples[0]!.correct).length;
    assert.equal(summary.n, 3);
    assert.equal(summary.samples, 1);
    assert.equal(summary.temperature, 0);
    assert.equal(summary.accuracy, correct / 3);
    assert.deepEqual(summary.task_options, taskByName('arithmetic').parseOptions({ digits: 2, ops: ['+', '-'] }));
  });

  it('--samples 4 --json: one object with every figure, each a proportion', () => {
    const r = runPonder(['eval', '--model', model, '--task', 'arithmetic', '--n', '4', '--samples', '4', '--max-tokens', '4', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const s = JSON.parse(lines[0]!);
    assert.equal(s.task, 'arithmetic');
    assert.equal(s.n, 4);
    assert.equal(s.samples, 4);
    assert.equal(s.temperature, 1);
    for (const key of ['accuracy', 'pass_at_k', 'maj_at_k', 'best_of_n', 'score']) assert.ok(s[key] >= 0 && s[key] <= 1, `${key} ${s[key]}`);
    assert.equal(s.best_of_n, s.pass_at_k, 'with n = k samples the unbiased pass@k is any-correct');
    assert.ok(s.pass_at_k >= s.accuracy);
    assert.equal(s.vote, 'majority');
    assert.equal(s.score, s.maj_at_k);
    for (const ci of [s.ci95, s.score_ci95]) {
      assert.equal(ci.length, 2);
      assert.ok(0 <= ci[0] && ci[0] <= ci[1] && ci[1] <= 1);
    }
    assert.ok(s.ci95[0] <= s.accuracy && s.accuracy <= s.ci95[1]);
    assert.equal(s.curve, undefined);
  });

  it('--think / --no-think as in chat and generate (and the older --think on|off)', async () => {
    for (const [flags, want] of [[[], null], [['--think'], true], [['--no-think'], false], [['--think', 'off'], false], [['--think', 'on'], true]] as [string[], boolean | null][]) {
      const out: string[] = [];
      const code = await main(['eval', '--model', model, '--n', '1', '--max-tokens', '2', '--json', ...flags], 'ponder', { out: (l) => out.push(l), err: () => {}, isTTY: false });
      assert.equal(code, 0, flags.join(' '));
      assert.equal(JSON.parse(out.at(-1)!).think, want, flags.join(' '));
    }
  });

  it('--vote best: best-of-N is the headline', () => {
    const r = runPonder(['eval', '--model', model, '--n', '2', '--samples', '2', '--max-tokens', '4', '--vote', 'best', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.vote, 'best');
    assert.equal(s.score, s.best_of_n);
  });

  it('plain output: a header, then one line per figure; --curve adds a table when not a terminal', () => {
    const r = runPonder(['eval', '--model', model, '--n', '2', '--samples', '4', '--max-tokens', '4', '--curve']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^arithmetic \(seed 0\): 2 problems, 4 samples at temperature 1; maj@4 \d+\.\d% \(--vote majority\)$/);
    assert.match(lines[1]!, /^accuracy +avg@4 \d+\.\d% +95% CI \[\d+\.\d%, \d+\.\d%\]$/);
    assert.match(lines[2]!, /^pass@4 +\d+\.\d%$/);
    assert.match(lines[3]!, /^maj@4 +\d+\.\d% +95% CI/);
    assert.match(lines[4]!, /^best-of-4 +\d+\.\d% +95% CI/);
    assert.match(lines[5]!, /^samples +pass@j +maj@j$/);
    assert.deepEqual(lines.slice(6).map((l) => l.trim().split(/\s+/)[0]), ['1', '2', '4']);
    for (const l of lines.slice(6)) assert.match(l, /^ +\d +\d+\.\d% +\d+\.\d%$/);
    assert.doesNotMatch(r.stdout, /[\u2800-\u28ff]/, 'no braille when piped');
  });

  it('--curve on a terminal: braille charts of pass@j and maj@j instead of the table', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['eval', '--model', model, '--n', '2', '--samples', '2', '--max-tokens', '4', '--curve'], 'ponder', { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: true });
    assert.equal(code, 0, err.join('\n'));
    const text = out.join('\n');
    assert.match(text, /\npass@j\n[\s\S]*\nmaj@j\n/);
    assert.match(text, /[\u2800-\u28ff]{20}/);
    assert.doesNotMatch(text, /samples +pass@j +maj@j/);
  });

  it('greedy plain output says so and gives the accuracy with its interval', () => {
    const r = runPonder(['eval', '--model', model, '--n', '2', '--digits', '1', '--max-tokens', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^arithmetic \([^)]*digits 1[^)]*seed 0\): 2 problems, greedy; maj@1 \d+\.\d%/);
    assert.match(r.stdout, /\naccuracy +\d+\.\d% +95% CI/);
  });

  for (const [args, pattern] of [
    [['--ops', '+,/'], /ops must be a non-empty list of \+ - \*/],
    [['--samples', '0'], /--samples must be an integer >= 1/],
    [['--vote', 'nope'], /--vote takes majority or best/],
    [['--temperature', '-1'], /--temperature must be a number in \[0, 100\]/],
    [['--top-p', '0'], /--top-p must be above 0/],
    [['--option', 'digits'], /--option takes key=value/],
    [['--digits', '2', '--option', 'digits=3'], /"digits" is given twice/],
    [['--option', 'colour=red'], /unknown option "colour"/],
    [['--data', 'problems.jsonl'], /unknown option "data"/],
    [['--mtp', '--samples', '2'], /--mtp drafts greedy answers/],
    [['--dump', '/tmp'], /--dump \/tmp is a directory/],
    [['--dump', '/no/such/dir/x.jsonl'], /the directory \/no\/such\/dir does not exist/],
    [['--task', 'poetry'], /unknown task "poetry"/],
    [['--think', 'maybe'], /--think takes on or off/],
    [['--n', '0'], /--n must be an integer >= 1/],
    [['--raw', '--think', 'on'], /--think applies to the chat format/],
  ] as [string[], RegExp][]) {
    // in-process (main() with captured output): flags are checked before a device or model is opened
    it(`${args.join(' ')}: one line, exit 2`, async () => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['eval', '--model', model, ...args], 'ponder', { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false });
      assert.equal(code, 2);
      assert.equal(err.length, 1, err.join('\n'));
      assert.match(err[0]!, /^ponder: error: /);
      assert.match(err[0]!, pattern);
      assert.deepEqual(out, []);
    });
  }

  it('a bad flag from the real executable: one line, exit 2', () => {
    const r = runPonder(['eval', '--model', model, '--samples', '0']);
    assert.equal(r.code, 2);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderr, /--samples must be an integer >= 1/);
  });

  it('a missing model: one line, exit 1', () => {
    const r = runPonder(['eval', '--model', join(root, 'nope')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderrLines.length, 1, r.stderr);
  });
});
