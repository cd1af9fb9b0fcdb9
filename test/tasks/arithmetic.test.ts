import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ARITHMETIC_OPS, arithmeticTask as task, DEFAULT_DIGITS, operandRange, parsePrompt, type ArithmeticOp } from '../../src/tasks/arithmetic.js';
import type { Problem } from '../../src/tasks/types.js';
import { PonderError } from '../../src/errors.js';
import { testSeed } from '../helpers/random.js';

const seed = testSeed % 1000000;

function problem(a: number, op: ArithmeticOp, b: number): Problem {
  const v = op === '+' ? a + b : op === '-' ? a - b : a * b;
  return { id: 't', prompt: `What is ${a} ${op} ${b}?`, answer: String(v) };
}

function throwsBadInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message));
}

describe('arithmetic: generator', () => {
  it(`is deterministic in the seed, and problem i does not depend on n (seed ${seed})`, () => {
    const a = task.generate(200, seed, { digits: 3 });
    assert.deepEqual(task.generate(200, seed, { digits: 3 }), a);
    assert.deepEqual(task.generate(50, seed, { digits: 3 }), a.slice(0, 50));
    const b = task.generate(200, seed + 1, { digits: 3 });
    assert.notDeepEqual(b.map((p) => p.prompt), a.map((p) => p.prompt));
    assert.equal(new Set(a.map((p) => p.id)).size, 200);
    assert.deepEqual(task.generate(0, seed), []);
  });

  it('draws operands of 1..D digits with at least one of exactly D, all three ops, subtraction never negative', () => {
    const size = (x: bigint) => x.toString().length;
    for (let d = 1; d <= 9; d++) {
      const [lo, hi] = operandRange(d);
      const ops = new Set<string>();
      const otherSizes = new Set<number>();
      for (const p of task.generate(300, seed, { digits: d })) {
        const { a, op, b } = parsePrompt(p.prompt);
        ops.add(op);
        for (const x of [a, b]) assert.ok(x >= 0n && x <= BigInt(hi), `${p.prompt}: operand ${x} over ${d} digits`);
        assert.ok([a, b].some((x) => x >= BigInt(lo)), `${p.prompt}: no operand of exactly ${d} digits`);
        otherSizes.add(Math.min(size(a), size(b)));
        if (op === '-') assert.ok(a >= b, p.prompt);
        assert.ok(BigInt(p.answer) >= 0n, p.prompt);
      }
      assert.deepEqual([...ops].sort(), [...ARITHMETIC_OPS].sort(), `digits ${d}`);
      // the shorter operand takes every size 1..D (300 draws: each size has probability >= 1/18)
      if (d <= 6) assert.deepEqual([...otherSizes].sort(), Array.from({ length: d }, (_, k) => k + 1), `digits ${d}`);
    }
    assert.deepEqual(operandRange(1), [0, 9]);
    assert.deepEqual(operandRange(3), [100, 999]);
    // 9-digit products exceed 2^53: the answers are exact anyway
    const big = task.generate(1000, seed, { digits: 9, ops: ['*'] });
    for (const p of big.slice(0, 50)) {
      const { a, b } = parsePrompt(p.prompt);
      assert.equal(p.answer, (a * b).toString());
    }
  });

  it('default level: 3-digit + and -, 2-digit * (the largest operand has exactly that many digits)', () => {
    const seen = new Set<string>();
    for (const p of task.generate(400, seed)) {
      const { a, op, b } = parsePrompt(p.prompt);
      const D = DEFAULT_DIGITS[op];
      assert.equal(Math.max(a.toString().length, b.toString().length), D, p.prompt);
      seen.add(op);
    }
    assert.equal(seen.size, 3);
    assert.deepEqual(DEFAULT_DIGITS, { '+': 3, '-': 3, '*': 2 });
  });

  it('rejects digits outside 1..9, bad n and bad ops', () => {
    for (const d of [0, 10, 1.5, -1, NaN]) throwsBadInput(() => task.generate(3, seed, { digits: d }), /digits must be an integer from 1 to 9/);
    throwsBadInput(() => task.generate(-1, seed), /n must be/);
    throwsBadInput(() => task.generate(2, seed, { ops: [] }), /ops/);
    throwsBadInput(() => task.generate(2, seed, { ops: ['/' as ArithmeticOp] }), /ops/);
  });

  it('parses options from strings and lists, fills defaults, names bad and unknown options', () => {
    assert.deepEqual(task.parseOptions({}), { cot: false, ops: ['+', '-', '*'] });
    assert.deepEqual(task.parseOptions({ digits: '4', ops: '+,-', cot: 'true' }), { cot: true, digits: 4, ops: ['+', '-'] });
    assert.deepEqual(task.parseOptions({ ops: ['*', '*'] }).ops, ['*']);
    const parsed = task.parseOptions({ digits: 2, ops: '-' });
    assert.deepEqual(task.parseOptions(parsed), parsed, 'idempotent');
    assert.deepEqual(task.parseOptions({ digits: undefined }), task.parseOptions({}));
    throwsBadInput(() => task.parseOptions({ digits: 12 }), /^arithmetic: digits must be an integer from 1 to 9 \(got 12\)$/);
    throwsBadInput(() => task.parseOptions({ digits: '3x' }), /^arithmetic: digits must be an integer from 1 to 9 \(got "3x"\)$/);
    throwsBadInput(() => task.parseOptions({ digit: 3 }), /^arithmetic: unknown option "digit" \(known: cot, digits, ops, working\)$/);
    throwsBadInput(() => task.parseOptions({ ops: '+,/' }), /^arithmetic: ops must be a non-empty list of \+ - \* .*"\/" is not allowed/);
    throwsBadInput(() => task.parseOptions({ ops: '' }), /ops must be a non-empty list/);
    throwsBadInput(() => task.parseOptions({ cot: 'maybe' }), /^arithmetic: cot must be true or false \(got "maybe"\)$/);
    throwsBadInput(() => task.parseOptions({ digits: 12 }, 'stages[0].data'), /^stages\[0\]\.data: digits/);
  });

  it('exercises carries and borrows', () => {
    const ps = task.generate(600, seed, { digits: 3, cot: true });
    const cots = ps.map((p) => ({ op: parsePrompt(p.prompt).op, cot: task.goldCot(p) }));
    const adds = cots.filter((c) => c.op === '+');
    const subs = cots.filter((c) => c.op === '-');
    assert.ok(adds.some((c) => c.cot.includes('carry')) && adds.some((c) => !c.cot.includes('carry')));
    assert.ok(subs.some((c) => c.cot.includes('borrow')) && subs.some((c) => !c.cot.includes('borrow')));
  });
});

describe('arithmetic: gold chain of thought', () => {
  it('writes column addition with carries', () => {
    assert.equal(task.goldCot(problem(47, '+', 85)), ['7 + 5 = 12, write 2, carry 1', '4 + 8 + 1 = 13, write 3, carry 1', 'write 1', 'Answer: 132'].join('\n'));
    assert.equal(task.goldCot(problem(12, '+', 34)), ['2 + 4 = 6, write 6', '1 + 3 = 4, write 4', 'Answer: 46'].join('\n'));
  });

  it('writes column subtraction with borrows', () => {
    assert.equal(task.goldCot(problem(85, '-', 47)), ['5 - 7 < 0, borrow: 15 - 7 = 8', '8 - 1 - 4 = 3', 'Answer: 38'].join('\n'));
    assert.equal(task.goldCot(problem(100, '-', 1)), ['0 - 1 < 0, borrow: 10 - 1 = 9', '0 - 1 - 0 < 0, borrow: 10 - 1 - 0 = 9', '1 - 1 - 0 = 0', 'Answer: 99'].join('\n'));
    assert.equal(task.extractAnswer(task.goldCot(problem(47, '-', 85))), '-38');
  });

  it('writes partial products for multiplication', () => {
    // each partial product digit by digit, stated with its place, then the partials summed in columns
    assert.equal(
      task.goldCot(problem(47, '*', 86)),
      [
        '7 * 6 = 42, write 2, carry 4',
        '4 * 6 + 4 = 28, write 28',
        '47 * 6 = 282',
        '7 * 8 = 56, write 6, carry 5',
        '4 * 8 + 5 = 37, write 37',
        '47 * 80 = 3760',
        '2 + 0 = 2, write 2',
        '8 + 6 = 14, write 4, carry 1',
        '2 + 7 + 1 = 10, write 0, carry 1',
        '0 + 3 + 1 = 4, write 4',
        'Answer: 4042',
      ].join('\n'),
    );
    // no carry out of a digit, a zero digit of b, a one-digit a (single facts need no digit lines)
    assert.equal(task.goldCot(problem(21, '*', 4)), ['1 * 4 = 4, write 4', '2 * 4 = 8, write 8', '21 * 4 = 84', 'Answer: 84'].join('\n'));
    assert.equal(task.goldCot(problem(7, '*', 3)), ['7 * 3 = 21', 'Answer: 21'].join('\n'));
    assert.equal(
      task.goldCot(problem(7, '*', 30)),
      ['7 * 0 = 0', '7 * 30 = 210', '0 + 0 = 0, write 0', '0 + 1 = 1, write 1', '0 + 2 = 2, write 2', 'Answer: 210'].join('\n'),
    );
    // three partials: the running total is the first addend of each column sum
    const three = task.goldCot(problem(12, '*', 111)).split('\n');
    assert.deepEqual(three.filter((l) => /^12 \*/.test(l)), ['12 * 1 = 12', '12 * 10 = 120', '12 * 100 = 1200']);
    assert.equal(three.at(-1), 'Answer: 1332');
  });

  it(`round trip: verify(extractAnswer(goldCot(p))) for every generated problem (seed ${seed})`, () => {
    for (let d = 0; d <= 9; d++) {
      for (const p of task.generate(200, seed + d, d === 0 ? {} : { digits: d })) {
        const cot = task.goldCot(p);
        assert.ok(cot.endsWith(`\nAnswer: ${p.answer}`), cot);
        assert.equal(task.extractAnswer(cot), p.answer);
        assert.ok(task.verify(p, task.extractAnswer(cot)), `${p.prompt}\n${cot}`);
        assert.equal(task.target(p, { cot: true }), cot);
        assert.equal(task.target(p, { cot: false }), p.answer);
        assert.ok(task.verify(p, task.extractAnswer(task.target(p))));
        const gold = BigInt(p.answer);
        for (const wrong of [gold + 1n, gold - 1n, -gold - 1n, gold * 10n + 1n]) assert.equal(task.verify(p, wrong.toString()), false);
      }
    }
  });

  it('refuses to explain a problem whose stated answer is wrong', () => {
    throwsBadInput(() => task.goldCot({ id: 'x', prompt: 'What is 2 + 2?', answer: '5' }), /is 4/);
  });
});

describe('arithmetic: extract and verify', () => {
  it('takes the last "Answer: <int>", else the last integer', () => {
    assert.equal(task.extractAnswer('Answer: 12\nno wait\nAnswer: 13'), '13');
    assert.equal(task.extractAnswer('the sum is 40 then 42 answer: -007 and 99'), '-7');
    assert.equal(task.extractAnswer('8 - 1 - 4 = 3'), '3');
    assert.equal(task.extractAnswer('I get 5-3'), '3');
    assert.equal(task.extractAnswer('it is -15.'), '-15');
    assert.equal(task.extractAnswer('Answer: -0'), '0');
    assert.equal(task.extractAnswer('no digits here'), undefined);
    assert.equal(task.extractAnswer(''), undefined);
  });

  it('reads real-looking model outputs', () => {
    const table: [string, string | undefined][] = [
      ['<think>\n7 + 5 = 12, write 2, carry 1\nAnswer: 12?\n</think>\nAnswer: 132', '132'],
      ['<think>\nthe sum is 130\n</think>\n\nThe sum is 132.', '132'],
      ['7 * 8 = 56\n56 + 1178 = 1234\nAnswer: 1,234\nLet me know if you need more help!', '1234'],
      ['Answer: 42 (I double-checked it 3 times)', '42'],
      ['So the result is \\boxed{42}, checked 2 ways.', '42'],
      ['#### 7\nthat took 2 minutes', '7'],
      ['<think>\nI need 47 + 85\n</think>\nI am not sure.', '85'],
      ['<think>\nunclosed reasoning 12', '12'],
      ['I do not know.', undefined],
    ];
    for (const [text, want] of table) assert.equal(task.extractAnswer(text), want, text);
  });

  it('compares integers exactly', () => {
    const p = problem(47, '+', 85);
    assert.ok(task.verify(p, '132'));
    assert.ok(task.verify(p, ' 0132 '));
    assert.ok(task.verify(p, '+132'));
    for (const bad of [undefined, '', '131', '133', '132.0', '1e2', 'abc', '13 2', '-132']) assert.equal(task.verify(p, bad), false, String(bad));
    const big = { id: 'b', prompt: 'What is 999999999 * 999999999?', answer: '999999998000000001' };
    assert.ok(task.verify(big, '999999998000000001'));
    assert.equal(task.verify(big, '999999998000000000'), false); // equal as doubles, not as integers
  });
});

describe('arithmetic: format and step checker', () => {
  it('formatOk: the answer part ends in "Answer: N" (or is the bare integer of the short target)', () => {
    const p = problem(47, '+', 85);
    assert.ok(task.formatOk(task.goldCot(p)));
    assert.ok(task.formatOk(task.target(p)));
    assert.ok(task.formatOk('<think>\n7 + 5 = 12\n</think>\nAnswer: 132\n'));
    assert.ok(task.formatOk('working\nAnswer: -5.'));
    for (const bad of ['', 'Answer: 132 because', 'The answer is 132', '<think>Answer: 132', '<think>x</think>\nI think 132?', 'Answer: 132\nthanks']) assert.equal(task.formatOk(bad), false, bad);
  });

  it('the untouched gold working has no wrong line; every line counts (not the Answer line)', () => {
    for (const p of task.generate(300, seed, { digits: 4 })) {
      const cot = task.goldCot(p);
      const lines = cot.split('\n');
      const r = task.checkSteps(p, cot);
      assert.deepEqual(r, { steps: lines.length - 1, correct: lines.length - 1 }, cot);
      assert.deepEqual(task.checkSteps(p, `<think>\n${cot.replace(/\n/g, '\n  ')}\n</think>`), r, 'think tags and indentation');
    }
  });

  it('finds a planted error: firstWrong is the corrupted line (digits, carries, partial products, the sum line)', () => {
    for (const p of task.generate(200, seed + 7, { digits: 3 })) {
      const lines = task.goldCot(p).split('\n');
      const steps = lines.length - 1;
      for (let k = 0; k < steps; k++) {
        // change the last digit of the line (a column's result, a partial product or the sum)
        const bad = lines.slice();
        bad[k] = bad[k]!.replace(/(\d)(?!.*\d)/, (dg) => String((Number(dg) + 1) % 10));
        const r = task.checkSteps(p, bad.join('\n'));
        assert.equal(r.firstWrong, k, `${p.prompt} line ${k}: ${bad[k]}`);
        assert.equal(r.correct, steps - 1);
        assert.equal(r.steps, steps);
      }
    }
    // a wrong carry with a right digit, and a line too many
    const p = problem(47, '+', 85);
    assert.deepEqual(task.checkSteps(p, '7 + 5 = 12, write 2\n4 + 8 = 12, write 2, carry 1\nwrite 1\nAnswer: 122'), { steps: 3, correct: 1, firstWrong: 0 }, 'the carry was dropped; the write 1 line is right');
    assert.deepEqual(task.checkSteps(p, `${task.goldCot(p)}\n1 + 1 = 2`), { steps: 4, correct: 3, firstWrong: 3 });
    assert.deepEqual(task.checkSteps(p, 'Answer: 132'), { steps: 0, correct: 0 });
    assert.deepEqual(task.checkSteps(p, 'Let me add these numbers.\nAnswer: 132'), { steps: 0, correct: 0 }, 'chatter is not a claim');
  });
});
