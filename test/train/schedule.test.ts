import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { learningRate, type ScheduleKind } from '../../src/train/schedule.js';
import { PonderError } from '../../src/errors.js';

const close = (a: number, b: number, msg: string) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${msg}: ${a} != ${b}`);

describe('learningRate', () => {
  const base = { lr: 1e-3, warmup: 10, total: 110 };
  for (const schedule of ['constant', 'linear', 'cosine'] as ScheduleKind[]) {
    for (const minLrRatio of [0, 0.1]) {
      it(`${schedule} (minLrRatio ${minLrRatio}): warmup from 0, full lr at warmup end, floor at the last step`, () => {
        const o = { ...base, schedule, minLrRatio };
        close(learningRate(0, o), 0, 'step 0');
        close(learningRate(1, o), 1e-4, 'step 1');
        close(learningRate(5, o), 5e-4, 'mid-warmup');
        close(learningRate(10, o), 1e-3, 'warmup end');
        const last = schedule === 'constant' ? 1e-3 : minLrRatio * 1e-3;
        close(learningRate(110, o), last, 'last step');
        close(learningRate(500, o), last, 'past the end');
        const mid = schedule === 'constant' ? 1e-3 : (minLrRatio + (1 - minLrRatio) * 0.5) * 1e-3;
        close(learningRate(60, o), mid, 'halfway through the decay');
        // monotone non-increasing after warmup
        let prev = Infinity;
        for (let s = 10; s <= 110; s++) {
          const v = learningRate(s, o);
          assert.ok(v <= prev + 1e-18, `step ${s} increased`);
          prev = v;
        }
      });
    }
  }

  it('linear decays on a straight line and cosine follows the cosine', () => {
    close(learningRate(35, { ...base, schedule: 'linear' }), 1e-3 * 0.75, 'linear quarter');
    close(learningRate(35, { ...base, schedule: 'cosine' }), 1e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)), 'cosine quarter');
  });

  it('warmup 0 starts at the full lr; warmup == total goes straight to the floor', () => {
    close(learningRate(0, { lr: 2, warmup: 0, total: 10, schedule: 'cosine' }), 2, 'warmup 0');
    close(learningRate(10, { lr: 2, warmup: 10, total: 10, schedule: 'linear', minLrRatio: 0.5 }), 1, 'warmup == total');
  });

  it('rejects invalid options with BAD_INPUT', () => {
    const isBad = (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT';
    assert.throws(() => learningRate(-1, { ...base, schedule: 'linear' }), isBad);
    assert.throws(() => learningRate(0, { lr: 1, warmup: 20, total: 10, schedule: 'linear' }), isBad);
    assert.throws(() => learningRate(0, { ...base, schedule: 'linear', minLrRatio: 2 }), isBad);
    assert.throws(() => learningRate(0, { ...base, schedule: 'step' as ScheduleKind }), isBad);
  });
});
