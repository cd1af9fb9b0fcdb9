import assert from 'node:assert/strict';
import { test } from 'node:test';
import { overlongPenalty, temperatureAt } from '../../src/engine/stages/shaping.js';

test('a temperature anneals linearly and then holds', () => {
  assert.equal(temperatureAt(0.7, 99), 0.7);
  const s = { from: 1.0, to: 0.6, steps: 4 };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((k) => Number(temperatureAt(s, k).toFixed(6))), [1, 0.9, 0.8, 0.7, 0.6, 0.6]);
});

test('the overlong penalty is 0, then a ramp to -1, then -1 (DAPO eq. 13)', () => {
  const o = { max: 20, buffer: 4 };
  assert.equal(overlongPenalty(10, o), 0);
  assert.equal(overlongPenalty(16, o), 0);
  assert.equal(overlongPenalty(17, o), -0.25);
  assert.equal(overlongPenalty(18, o), -0.5);
  assert.equal(overlongPenalty(20, o), -1);
  assert.equal(overlongPenalty(21, o), -1);
  assert.throws(() => overlongPenalty(1, { max: 4, buffer: 4 }), /buffer/);
});
