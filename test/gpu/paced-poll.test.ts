import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pacedWait, pollSleepMicros } from '../../src/gpu/paced-poll.js';
import { matmul } from '../../src/ops/matmul.js';
import { testGpu } from '../helpers/gpu.js';

/**
 * Paced polling (src/gpu/paced-poll.ts): while ponder waits for the GPU, Dawn's poll turns sleep
 * first instead of spinning; outside a wait, and with a sleep of 0, nothing changes.
 */

describe('pollSleepMicros', () => {
  it('paces only a software adapter, 100 µs unless PONDER_POLL_SLEEP_US says otherwise', () => {
    assert.equal(pollSleepMicros(false, {}), 0);
    assert.equal(pollSleepMicros(false, { PONDER_POLL_SLEEP_US: '50' }), 0);
    assert.equal(pollSleepMicros(true, {}), 100);
    assert.equal(pollSleepMicros(true, { PONDER_POLL_SLEEP_US: '' }), 100);
    assert.equal(pollSleepMicros(true, { PONDER_POLL_SLEEP_US: '0' }), 0);
    assert.equal(pollSleepMicros(true, { PONDER_POLL_SLEEP_US: '40' }), 40);
    assert.equal(pollSleepMicros(true, { PONDER_POLL_SLEEP_US: 'fast' }), 100);
    assert.equal(pollSleepMicros(true, { PONDER_POLL_SLEEP_US: '-5' }), 100);
    assert.equal(pollSleepMicros(true, { PONDER_POLL_SLEEP_US: '1e9' }), 10_000);
  });
});

describe('pacedWait', () => {
  it('settles as the promise does, and setImmediate callbacks still run with their arguments meanwhile', async () => {
    const seen: unknown[][] = [];
    const value = await pacedWait(
      new Promise<string>((resolve) => setImmediate((a: number, b: string) => {
        seen.push([a, b]);
        setImmediate(() => resolve('done'));
      }, 1, 'x')),
      50,
    );
    assert.equal(value, 'done');
    assert.deepEqual(seen, [[1, 'x']]);
    await assert.rejects(pacedWait(Promise.reject(new Error('lost device')), 50), /lost device/);
    assert.equal(await pacedWait(Promise.resolve(3), 0), 3);
  });

  it("takes far fewer event-loop turns than Dawn's unpaced poll for the same GPU work", async () => {
    const gpu = await testGpu();
    const a = gpu.upload(new Float32Array(256 * 256).fill(0.5), [256, 256]);
    const out = matmul(gpu, a, a);
    await gpu.sync();
    // the turns Dawn's poll takes while one submit of 24 matmuls runs
    const turnsFor = async (sleepMicros: number) => {
      for (let i = 0; i < 24; i++) matmul(gpu, a, a, {}, out);
      gpu.flush();
      let turns = 0;
      let counting = true;
      const tick = () => {
        if (!counting) return;
        turns++;
        setImmediate(tick);
      };
      setImmediate(tick);
      await pacedWait(gpu.device.queue.onSubmittedWorkDone(), sleepMicros);
      counting = false;
      return turns;
    };
    const unpaced = await turnsFor(0);
    const paced = await turnsFor(200);
    assert.ok(paced * 2 < unpaced, `paced ${paced} turns, unpaced ${unpaced}`);
    a.release();
    out.release();
  });
});
