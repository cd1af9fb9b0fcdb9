import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { knownRewardNames, rewardByName, rewardFor, taskByName, type Problem } from '../../src/tasks/index.js';

function throwsBadInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message));
}

const arithmetic = taskByName('arithmetic');
const jsonl = taskByName('jsonl');
const sum: Problem = { id: 's', prompt: 'What is 47 + 85?', answer: '132' };

describe('rewards', () => {
  it('knows accuracy, format and steps', () => {
    assert.deepEqual(knownRewardNames(), ['accuracy', 'format', 'steps']);
    throwsBadInput(() => rewardByName('length'), /unknown reward "length" \(known rewards: accuracy, format, steps\)/);
  });

  it('accuracy: 1 for a verified answer, 0 otherwise', () => {
    const acc = rewardByName('accuracy');
    assert.equal(acc(arithmetic, sum, 'Answer: 132'), 1);
    assert.equal(acc(arithmetic, sum, '<think>131?</think>\nAnswer: 132'), 1);
    assert.equal(acc(arithmetic, sum, 'Answer: 131'), 0);
    assert.equal(acc(arithmetic, sum, 'no idea'), 0);
  });

  it('format: 1 when the answer ends in the task format, independent of correctness', () => {
    const fmt = rewardFor(arithmetic, 'format');
    assert.equal(fmt(sum, 'Answer: 131'), 1);
    assert.equal(fmt(sum, 'it is 132, I think'), 0);
  });

  it('steps: the fraction of checked lines that are right; 0 when none is checked', () => {
    const steps = rewardFor(arithmetic, 'steps');
    const gold = arithmetic.goldCot(sum);
    assert.equal(steps(sum, gold), 1);
    assert.equal(steps(sum, gold.replace('4 + 8 + 1 = 13', '4 + 8 + 1 = 14')), 2 / 3);
    assert.equal(steps(sum, 'Answer: 132'), 0);
    assert.equal(rewardByName('steps')(arithmetic, sum, gold), 1);
  });

  it('steps for a task without a step checker fails at lookup, naming the task', () => {
    throwsBadInput(() => rewardFor(jsonl, 'steps'), /reward "steps": task jsonl has no step checker/);
    throwsBadInput(() => rewardByName('steps')(jsonl, { id: 'j', prompt: 'q', answer: '1' }, 'Answer: 1'), /task jsonl has no step checker/);
    assert.equal(rewardFor(jsonl, 'accuracy')({ id: 'j', prompt: 'q', answer: '1,000' }, 'The answer is 1000.'), 1);
  });
});
