import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { arithmeticTask as task, parsePrompt } from '../../src/tasks/arithmetic.js';
import { addScratchpad, mulScratchpad, subScratchpad } from '../../src/tasks/arithmetic-scratchpad.js';
import type { Problem } from '../../src/tasks/types.js';
import { testSeed } from '../helpers/random.js';

const seed = testSeed % 1000000;
const scratch = { working: 'scratchpad' as const };

/**
 * An independent reading of a scratchpad: every "x op y [op c] = v" claim is true arithmetic, every
 * "digits D" is the previous line's digits with one or more new digits in front, and every "left"
 * part is the previous operands with their last digit dropped. Returns the last digits written.
 */
function replay(lines: string[]): void {
  let prevDigits = '';
  let prevLeft: [string, string] | undefined;
  for (const line of lines) {
    for (const m of line.matchAll(/(\d+) ([+\-*]) (\d+)(?: ([+\-]) (\d+))? = (\d+)/g)) {
      const [x, op, y, op2, z, v] = [BigInt(m[1]!), m[2]!, BigInt(m[3]!), m[4], m[5] ? BigInt(m[5]) : 0n, BigInt(m[6]!)];
      let r = op === '+' ? x + y : op === '-' ? x - y : x * y;
      if (op2) r = op2 === '+' ? r + z : r - z;
      assert.equal(r, v, `"${line}": ${m[0]} is false`);
    }
    const d = /digits (\d+)/.exec(line)?.[1];
    if (d !== undefined) {
      if (prevDigits !== '' && !/^\d+ \* \d+: /.test(line)) assert.ok(d.endsWith(prevDigits) && d.length > prevDigits.length, `"${line}": digits ${d} does not extend ${prevDigits}`);
      prevDigits = /; left /.test(line) ? d : '';
    }
    const left = /left (\d+)(?: [+\-] (\d+))?$/.exec(line);
    const head = /^(\d+) [+\-] (\d+)$/.exec(line);
    if (head) prevLeft = [head[1]!, head[2]!];
    else if (left && prevLeft && left[2] !== undefined) {
      assert.equal(left[1], prevLeft[0].slice(0, -1), `"${line}": left drops the wrong digit`);
      assert.equal(left[2], prevLeft[1].slice(0, -1), `"${line}": left drops the wrong digit`);
      prevLeft = [left[1]!, left[2]!];
    }
  }
}

describe('arithmetic: the scratchpad working', () => {
  it(`is true line by line, ends in the right answer and passes its own step check (seed ${seed})`, () => {
    for (const digits of [1, 2, 3, 4]) {
      for (const p of task.generate(150, seed + digits, { digits })) {
        const cot = task.goldCot(p, scratch);
        const lines = cot.split('\n');
        assert.equal(lines.at(-1), `Answer: ${p.answer}`, p.prompt);
        assert.ok(task.verify(p, task.extractAnswer(cot)), `${p.prompt}: ${cot}`);
        replay(lines.slice(0, -1));
        const check = task.checkSteps(p, cot);
        assert.equal(check.correct, check.steps, `${p.prompt}: ${JSON.stringify(check)}`);
        assert.equal(check.firstWrong, undefined);
        assert.equal(task.target(p, { cot: true, ...scratch }), cot);
      }
    }
  });

  it('keeps the default level\'s longest working (2-digit x 2-digit) under 360 bytes', () => {
    let longest = 0;
    for (const p of task.generate(400, seed, {})) longest = Math.max(longest, task.goldCot(p, scratch).length);
    // 2-digit x 2-digit is the longest: two rows and one 4-digit sum
    assert.ok(longest <= 360, `longest scratchpad ${longest} bytes`);
  });

  it('writes the examples of its header', () => {
    assert.deepEqual(addScratchpad(347n, 589n), ['347 + 589', '7 + 9 = 16; digits 6; carry 1; left 34 + 58', '4 + 8 + 1 = 13; digits 36; carry 1; left 3 + 5', '3 + 5 + 1 = 9; digits 936']);
    assert.deepEqual(addScratchpad(98n, 981n).at(-1), '0 + 9 + 1 = 10; digits 1079');
    assert.deepEqual(subScratchpad(832n, 75n), ['832 - 075', '2 - 5 < 0; 12 - 5 = 7; digits 7; borrow 1; left 83 - 07', '3 - 1 - 7 < 0; 13 - 1 - 7 = 5; digits 57; borrow 1; left 8 - 0', '8 - 1 - 0 = 7; digits 757']);
    assert.deepEqual(mulScratchpad(47n, 6n), ['47 * 6', '47 * 6: 7 * 6 = 42; digits 2; carry 4; left 4', '4 * 6 + 4 = 28; digits 282', 'row 282']);
  });

  it('the step checker finds the first wrong line of a scratchpad, and still reads the column working', () => {
    const p: Problem = { id: 't', prompt: 'What is 347 + 589?', answer: '936' };
    const lines = task.goldCot(p, scratch).split('\n');
    const wrong = [...lines];
    wrong[2] = '4 + 8 + 1 = 14; digits 46; carry 1; left 3 + 5';
    assert.deepEqual(task.checkSteps(p, wrong.join('\n')), { steps: 4, correct: 3, firstWrong: 2 });
    const misread = [...lines];
    misread[0] = '347 + 598';
    assert.equal(task.checkSteps(p, misread.join('\n')).firstWrong, 0);
    const columns = task.goldCot(p);
    assert.deepEqual(task.checkSteps(p, columns), { steps: 3, correct: 3 });
    assert.equal(parsePrompt(p.prompt).op, '+');
  });

  it('is an option like the others: validated, default columns', () => {
    assert.equal(task.parseOptions({}).working, undefined, 'absent means columns');
    assert.throws(() => task.parseOptions({ working: 'tableau' }), /working must be one of columns, scratchpad/);
  });
});
