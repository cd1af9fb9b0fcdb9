import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { formatLinearPrompt, linearTask as task, parseLinearPrompt } from '../../src/tasks/linear.js';
import type { Problem } from '../../src/tasks/types.js';
import { testSeed } from '../helpers/random.js';

const seed = testSeed % 1000000;

function throwsBadInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message));
}

function eqn(a: number, b: number, x: number): Problem {
  return { id: 'l', prompt: formatLinearPrompt({ a: BigInt(a), b: BigInt(b), c: BigInt(a * x + b) }), answer: String(x) };
}

describe('linear: generator', () => {
  it(`is deterministic in the seed, problem i independent of n (seed ${seed})`, () => {
    const a = task.generate(100, seed);
    assert.deepEqual(task.generate(100, seed), a);
    assert.deepEqual(task.generate(10, seed), a.slice(0, 10));
    assert.notDeepEqual(task.generate(100, seed + 1).map((p) => p.prompt), a.map((p) => p.prompt));
  });

  it('respects coef, range and negative; a is never 0 and x is the integer solution', () => {
    for (const opts of [{}, { coef: 3, range: 5 }, { negative: false, coef: 12, range: 100 }]) {
      const coef = BigInt((opts as { coef?: number }).coef ?? 9);
      const range = BigInt((opts as { range?: number }).range ?? 20);
      const neg = (opts as { negative?: boolean }).negative ?? true;
      let sawNegative = false;
      for (const p of task.generate(300, seed, opts)) {
        const { a, b, c } = parseLinearPrompt(p.prompt);
        const x = BigInt(p.answer);
        assert.ok(a !== 0n && (a < 0n ? -a : a) <= coef, p.prompt);
        assert.ok((x < 0n ? -x : x) <= range && (b < 0n ? -b : b) <= range, p.prompt);
        assert.equal(a * x + b, c, p.prompt);
        if (a < 0n || b < 0n || x < 0n) sawNegative = true;
      }
      assert.equal(sawNegative, neg, JSON.stringify(opts));
    }
  });

  it('parses its options and rejects bad ones', () => {
    assert.deepEqual(task.parseOptions({}), { cot: false, coef: 9, range: 20, negative: true });
    assert.deepEqual(task.parseOptions({ negative: 'false', range: '7' }), { cot: false, coef: 9, range: 7, negative: false });
    throwsBadInput(() => task.parseOptions({ coef: 0 }), /^linear: coef must be an integer from 1 to 100 \(got 0\)$/);
    throwsBadInput(() => task.parseOptions({ range: 'big' }), /^linear: range must be an integer from 1 to 1000 \(got "big"\)$/);
  });
});

describe('linear: gold chain, extraction and verification', () => {
  it('writes the two moves', () => {
    assert.equal(task.goldCot(eqn(3, 5, 5)), '3x + 5 = 20\n3x = 20 - 5 = 15\nx = 15 / 3 = 5\nAnswer: 5');
    assert.equal(task.goldCot(eqn(-3, -5, 5)), '-3x - 5 = -20\n-3x = -20 + 5 = -15\nx = -15 / (-3) = 5\nAnswer: 5');
    assert.equal(task.goldCot(eqn(1, 4, -2)), 'x + 4 = 2\nx = 2 - 4 = -2\nAnswer: -2');
    assert.equal(task.goldCot(eqn(2, 0, 7)), '2x = 14\nx = 14 / 2 = 7\nAnswer: 7');
    assert.equal(task.goldCot(eqn(-1, 0, 7)), '-x = -7\nx = -7 / (-1) = 7\nAnswer: 7');
    throwsBadInput(() => task.goldCot({ id: 'w', prompt: 'Solve for x: 2x + 1 = 7', answer: '4' }), /is 3/);
    throwsBadInput(() => task.goldCot({ id: 'w', prompt: 'Solve for x: 2x + 1 = 8', answer: '4' }), /no integer solution/);
  });

  it(`round trip over generated problems, and near misses are rejected (seed ${seed})`, () => {
    for (const opts of [{}, { coef: 1 }, { negative: false }, { coef: 50, range: 500 }]) {
      for (const p of task.generate(150, seed + 5, opts)) {
        const cot = task.goldCot(p);
        assert.ok(task.verify(p, task.extractAnswer(cot)), cot);
        assert.ok(task.verify(p, task.extractAnswer(task.target(p))));
        assert.ok(task.formatOk(cot) && task.formatOk(task.target(p)));
        const steps = cot.split('\n').length - 1;
        assert.deepEqual(task.checkSteps(p, cot), { steps, correct: steps }, cot);
        const x = BigInt(p.answer);
        for (const wrong of [x + 1n, x - 1n, x === 0n ? 1n : -x]) assert.equal(task.verify(p, wrong.toString()), false);
      }
    }
  });

  it('extracts from real-looking outputs', () => {
    const table: [string, string | undefined][] = [
      ['<think>\n3x = 15\nso x = 5\n</think>\nAnswer: 5', '5'],
      ['x = 15 / 3 = 5\nAnswer: -05\nHope this helps!', '-5'],
      ['<think>Answer: 4</think>\nThe solution is x = 7.', '7'],
      ['I cannot solve this.', undefined],
    ];
    for (const [text, want] of table) assert.equal(task.extractAnswer(text), want, text);
  });
});

describe('linear: step checker', () => {
  it('finds a planted error in any line and checks every side of a chain', () => {
    for (const p of task.generate(100, seed + 9)) {
      const lines = task.goldCot(p).split('\n');
      const steps = lines.length - 1;
      for (let k = 0; k < steps; k++) {
        const bad = lines.slice();
        bad[k] = bad[k]!.replace(/(-?\d+)$/, (v) => String(Number(v) + 1));
        const r = task.checkSteps(p, bad.join('\n'));
        assert.equal(r.firstWrong, k, `${p.prompt}: ${bad[k]}`);
        assert.equal(r.correct, steps - 1);
      }
    }
    const p = eqn(3, 5, 5);
    assert.deepEqual(task.checkSteps(p, '3x = 20 - 5 = 16\nx = 15 / 3 = 5'), { steps: 2, correct: 1, firstWrong: 0 });
    assert.deepEqual(task.checkSteps(p, '3x = 20 + 5 = 25'), { steps: 1, correct: 0, firstWrong: 0 }, 'true arithmetic, wrong move');
    assert.deepEqual(task.checkSteps(p, 'Step 1: 3x = 15\nso x = 5\nAnswer: 5'), { steps: 2, correct: 2 });
    assert.deepEqual(task.checkSteps(p, 'x equals whatever = 5'), { steps: 1, correct: 0, firstWrong: 0 });
  });
});
