import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProblemPool } from '../../src/engine/stages/problem-pool.js';

test('without an easy pool every problem comes once per epoch, in a seeded order', () => {
  const a = new ProblemPool(10, 3, 0);
  const first = Array.from({ length: 10 }, () => a.next().problem);
  assert.deepEqual([...first].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const second = Array.from({ length: 10 }, () => a.next().problem);
  assert.deepEqual([...second].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual(first, second, 'each epoch has its own order');
  const b = new ProblemPool(10, 4, 0);
  assert.notDeepEqual(Array.from({ length: 10 }, () => b.next().problem), first, 'another seed, another order');
  a.report(first[0]!, true); // no easy pool: nothing moves
  assert.equal(a.easyCount, 0);
});

test('solved problems leave the main draw and come back at the easy rate', () => {
  const pool = new ProblemPool(20, 1, 0.25);
  for (let p = 0; p < 10; p++) pool.report(p, true); // half the problems are always solved
  let easy = 0;
  const N = 4000;
  for (let i = 0; i < N; i++) {
    const d = pool.next();
    if (d.easy) {
      easy++;
      assert.ok(d.problem < 10, 'easy draws come from the easy pool');
    } else assert.ok(d.problem >= 10, 'the main draw skips easy problems');
  }
  // binomial(4000, 0.25): mean 1000, sd ~27
  assert.ok(Math.abs(easy - 1000) < 150, `easy draws ${easy} of ${N}`);
});

test('an easy problem that is no longer solved goes back to the main draw', () => {
  const pool = new ProblemPool(3, 0, 0.1);
  pool.report(1, true);
  assert.equal(pool.easyCount, 1);
  pool.report(1, false);
  assert.equal(pool.easyCount, 0);
  const seen = new Set(Array.from({ length: 3 }, () => pool.next().problem));
  assert.deepEqual([...seen].sort(), [0, 1, 2]);
});

test('with every problem easy, draws come from the easy pool', () => {
  const pool = new ProblemPool(2, 0, 0.1);
  pool.report(0, true);
  pool.report(1, true);
  for (let i = 0; i < 10; i++) assert.equal(pool.next().easy, true);
});

test('state() resumes the exact sequence of draws', () => {
  const outcomes = (i: number) => i % 3 === 0;
  const run = (stopAt?: number) => {
    let pool = new ProblemPool(7, 9, 0.3);
    const seq: number[] = [];
    for (let i = 0; i < 60; i++) {
      if (i === stopAt) pool = new ProblemPool(7, 9, 0.3, JSON.parse(JSON.stringify(pool.state())));
      const d = pool.next();
      seq.push(d.problem);
      pool.report(d.problem, outcomes(i));
    }
    return seq;
  };
  const whole = run();
  assert.deepEqual(run(17), whole);
  assert.deepEqual(run(41), whole);
});

test('a bad saved state or rate is refused with one line', () => {
  assert.throws(() => new ProblemPool(3, 0, 0.1, { epoch: 0, index: 9, draws: 0, easy: [] }), /invalid saved state/);
  assert.throws(() => new ProblemPool(3, 0, 0.1, { epoch: 0, index: 0, draws: 0, easy: [5] }), /invalid saved state/);
  assert.throws(() => new ProblemPool(3, 0, 1.5), /easy rate/);
  assert.throws(() => new ProblemPool(0, 0, 0), /at least one problem/);
});
