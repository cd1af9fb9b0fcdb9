import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { countdownTask as task, formatCountdownPrompt, parseCountdownPrompt, solveCountdown } from '../../src/tasks/countdown.js';
import { evaluateExpression } from '../../src/tasks/expression.js';
import type { Problem } from '../../src/tasks/types.js';
import { testSeed } from '../helpers/random.js';

const seed = testSeed % 1000000;

function throwsBadInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message));
}

function puzzle(numbers: number[], target: number): Problem {
  return { id: 'c', prompt: formatCountdownPrompt(numbers.map(BigInt), BigInt(target)), answer: String(target) };
}

describe('countdown: generator', () => {
  it(`is deterministic in the seed, problem i independent of n (seed ${seed})`, () => {
    const a = task.generate(100, seed);
    assert.deepEqual(task.generate(100, seed), a);
    assert.deepEqual(task.generate(10, seed), a.slice(0, 10));
    assert.notDeepEqual(task.generate(100, seed + 1).map((p) => p.prompt), a.map((p) => p.prompt));
    assert.equal(new Set(a.map((p) => p.id)).size, 100);
  });

  it('draws 3 or 4 numbers in range and a reachable, in-range target that is not a given number', () => {
    const counts = new Set<number>();
    for (const opts of [{}, { numbers: 3 }, { numbers: 4, max_number: 20, max_target: 100 }]) {
      for (const p of task.generate(150, seed, opts)) {
        const { numbers, target } = parseCountdownPrompt(p.prompt);
        counts.add(numbers.length);
        if ('numbers' in opts) assert.equal(numbers.length, opts.numbers);
        const maxN = BigInt((opts as { max_number?: number }).max_number ?? 99);
        const maxT = BigInt((opts as { max_target?: number }).max_target ?? 999);
        for (const x of numbers) assert.ok(x >= 1n && x <= maxN, p.prompt);
        assert.ok(target >= 1n && target <= maxT, p.prompt);
        assert.equal(p.answer, target.toString());
        assert.ok(solveCountdown({ numbers, target }), `unreachable: ${p.prompt}`);
      }
    }
    assert.deepEqual([...counts].sort(), [3, 4]);
  });

  it('parses its options and rejects bad ones', () => {
    assert.deepEqual(task.parseOptions({ numbers: '4' }), { cot: false, numbers: 4, max_number: 99, max_target: 999 });
    throwsBadInput(() => task.parseOptions({ numbers: 6 }), /^countdown: numbers must be an integer from 3 to 4 \(got 6\)$/);
    throwsBadInput(() => task.parseOptions({ digits: 2 }), /^countdown: unknown option "digits" \(known: cot, max_number, max_target, numbers\)$/);
  });
});

describe('countdown: gold chain, extraction and verification', () => {
  it('writes the construction steps then the answer tag', () => {
    assert.equal(task.goldCot(puzzle([25, 5, 4], 80)), '25 - 5 = 20\n20 * 4 = 80\n<answer>(25 - 5) * 4</answer>');
    assert.equal(task.goldCot(puzzle([3, 7, 9], 21)), '7 * 3 = 21\n<answer>7 * 3</answer>');
    assert.equal(task.target(puzzle([3, 7, 9], 21)), '<answer>7 * 3</answer>');
    throwsBadInput(() => task.goldCot(puzzle([2, 2, 2], 97)), /has no solution/);
  });

  it(`round trip: verify(extractAnswer(goldCot(p))) for every generated problem; the steps all check (seed ${seed})`, () => {
    for (const opts of [{}, { numbers: 3 }, { numbers: 4 }]) {
      for (const p of task.generate(150, seed + 3, opts)) {
        const cot = task.goldCot(p);
        const ans = task.extractAnswer(cot);
        assert.ok(task.verify(p, ans), `${p.prompt}\n${cot}`);
        assert.ok(task.verify(p, task.extractAnswer(task.target(p))));
        assert.ok(task.formatOk(cot));
        const steps = cot.split('\n').length - 1;
        assert.deepEqual(task.checkSteps(p, cot), { steps, correct: steps }, cot);
      }
    }
  });

  it('accepts any valid expression, exact rational division included', () => {
    const p = puzzle([25, 5, 4], 80);
    for (const ok of ['(25 - 5) * 4', '4 * (25 - 5)', '(25-5)*4', '4×(25−5)'.replace('−', '-'), '((25 - 5)) * 4', '(25 - 5) * 4 = 80']) assert.ok(task.verify(p, task.extractAnswer(`<answer>${ok}</answer>`)), ok);
    // 7 / 2 * 4 = 14: a non-integer intermediate is fine when the whole value is exact
    assert.ok(task.verify(puzzle([7, 2, 4], 14), '7 / 2 * 4'));
    assert.ok(task.verify(puzzle([6, 4, 3], 8), '6 / 3 * 4'));
  });

  it('rejects near misses: off by one, a reused number, a number not given, inexact division, junk', () => {
    const p = puzzle([25, 5, 4], 80);
    for (const bad of ['(25 - 5) * 4 + 1', '25 * 4 - 5 * 4', '(25 - 5) * 4 * 1', '(25 - 5) * (4)', '80', '25 - 5 * 4', '(25 - 5) * 4)', '', '2**3', 'process.exit()', '25 - -5', '1e2']) {
      if (bad === '(25 - 5) * (4)') continue; // valid: parentheses around a literal
      assert.equal(task.verify(p, bad), false, bad);
    }
    assert.equal(task.verify(p, undefined), false);
    assert.equal(task.verify(puzzle([7, 2, 4], 3), '7 / 2'), false, '3.5 is not 3');
    assert.equal(task.verify(puzzle([7, 2, 4], 3), '(7 - 2 - 4) / 0'), false, 'division by zero');
    assert.equal(task.verify(puzzle([10, 10, 3], 100), '10 * 10'), true, 'a repeated given number may be used twice');
    assert.equal(task.verify(puzzle([10, 5, 3], 100), '10 * 10'), false, 'reuses 10');
  });

  it('the expression parser is exact and refuses what is not in its grammar', () => {
    assert.deepEqual(evaluateExpression('1 / 3 + 1 / 6')?.value, { n: 1n, d: 2n });
    assert.deepEqual(evaluateExpression('100000000000000001 - 100000000000000000')?.value, { n: 1n, d: 1n });
    for (const bad of ['-1', '1 +', '(1', '1)', '1 / 0', 'a', '1.5', '1 2', '()']) assert.equal(evaluateExpression(bad), undefined, bad);
    assert.deepEqual(evaluateExpression('-(2 - 5)', { allowUnaryMinus: true })?.value, { n: 3n, d: 1n });
    assert.equal(evaluateExpression('('.repeat(100) + '1' + ')'.repeat(100)), undefined, 'nesting is bounded');
  });

  it('extracts the last answer tag from real-looking outputs', () => {
    const table: [string, string | undefined][] = [
      ['<think>\nTry 25 + 5 = 30, no.\n25 - 5 = 20, 20 * 4 = 80.\n</think>\n<answer>(25 - 5) * 4</answer>', '(25 - 5) * 4'],
      ['<answer>25 + 5</answer> wait, <answer> (25 - 5) * 4 </answer>', '(25 - 5) * 4'],
      ['<think><answer>1 + 1</answer></think>\nSo the final answer is <answer>4 * 20</answer>. Done!', '4 * 20'],
      ['<answer>(25 - 5) * 4 = 80</answer>', '(25 - 5) * 4'],
      ['The answer is (25 - 5) * 4', undefined],
      ['<answer></answer>', undefined],
      ['', undefined],
    ];
    for (const [text, want] of table) assert.equal(task.extractAnswer(text), want, text);
  });

  it('formatOk: the answer part ends in a non-empty answer tag', () => {
    assert.ok(task.formatOk('<think>\n..\n</think>\n<answer>(25 - 5) * 4</answer>\n'));
    for (const bad of ['(25 - 5) * 4', '<answer>(25 - 5) * 4</answer> hope that helps', '<answer> </answer>', '<think><answer>1</answer>']) assert.equal(task.formatOk(bad), false, bad);
  });
});

describe('countdown: step checker', () => {
  it('finds a planted error; numbers must be available (given or earlier results, each once)', () => {
    const p = puzzle([25, 5, 4, 3], 60);
    const gold = task.goldCot(p);
    const lines = gold.split('\n');
    const steps = lines.length - 1;
    assert.ok(steps >= 1);
    for (let k = 0; k < steps; k++) {
      const bad = lines.slice();
      bad[k] = bad[k]!.replace(/= (\d+)$/, (_, v: string) => `= ${Number(v) + 1}`);
      assert.equal(task.checkSteps(p, bad.join('\n')).firstWrong, k, bad[k]);
    }
    const q = puzzle([25, 5, 4], 80);
    assert.deepEqual(task.checkSteps(q, '25 - 5 = 20\n20 * 4 = 80\n<answer>(25 - 5) * 4</answer>'), { steps: 2, correct: 2 });
    assert.deepEqual(task.checkSteps(q, '25 - 5 = 20\n20 * 5 = 100'), { steps: 2, correct: 1, firstWrong: 1 }, '5 was used already');
    assert.deepEqual(task.checkSteps(q, '25 * 7 = 175'), { steps: 1, correct: 0, firstWrong: 0 }, '7 is not given');
    assert.deepEqual(task.checkSteps(q, '25 / 4 = 6'), { steps: 1, correct: 0, firstWrong: 0 }, 'inexact');
    assert.deepEqual(task.checkSteps(q, 'Try 25 + 5 = 30\nno\n25 + 4 = 29'), { steps: 2, correct: 1, firstWrong: 1 }, 'the 25 went into 30');
    assert.deepEqual(task.checkSteps(q, '<answer>(25 - 5) * 4</answer>'), { steps: 0, correct: 0 });
  });
});
