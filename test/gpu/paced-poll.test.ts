import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pacedSleeps, pacedWait, pollSleepMicros } from '../../src/gpu/paced-poll.js';
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

  it('sleeps before each event-loop turn while a wait is pending, and only then', async () => {
    // a promise that settles after 6 turns of the event loop
    const turns = (n: number) => new Promise<void>((resolve) => {
      const tick = (left: number) => (left === 0 ? resolve() : setImmediate(tick, left - 1));
      tick(n);
    });
    const s0 = pacedSleeps();
    await pacedWait(turns(6), 20);
    assert.ok(pacedSleeps() - s0 >= 6, `${pacedSleeps() - s0} sleeps for 6 turns`);
    const s1 = pacedSleeps();
    await turns(4); // no wait pending
    await pacedWait(turns(4), 0); // pacing off
    assert.equal(pacedSleeps(), s1);
  });

  it("paces Dawn's poll while ponder waits for the GPU (a software adapter's sync)", async () => {
    const gpu = await testGpu();
    const a = gpu.upload(new Float32Array(128 * 128).fill(0.5), [128, 128]);
    const out = matmul(gpu, a, a);
    await gpu.sync();
    matmul(gpu, a, a, {}, out);
    const s0 = pacedSleeps();
    await gpu.sync();
    // Dawn settles the wait from a setImmediate turn; on a real GPU nothing is paced
    if (gpu.info.software) assert.ok(pacedSleeps() > s0, "no turn slept: Dawn's poll did not go through setImmediate");
    else assert.equal(pacedSleeps(), s0);
    a.release();
    out.release();
  });
});
