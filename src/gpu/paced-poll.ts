/**
 * Paced waiting for the GPU on a software adapter.
 *
 * Dawn's Node bindings settle a GPU promise (mapAsync, onSubmittedWorkDone) by polling: while one is
 * pending they call the global setImmediate with a function that processes Dawn's events and, if
 * the promise is still pending, schedules itself again. So every wait spins the JavaScript thread,
 * hundreds of turns a millisecond, on the very cores lavapipe's threads compute on (its nice value
 * of 19, gpu/device.ts, softens that but does not end it), and every turn allocates: on the 2-core
 * VM a decode step of the bundled model left ~430 KiB of garbage, ~110 KiB paced, and its
 * scavenges took 55 ms over 300 steps, 7 ms paced (scripts/decode-allocation.mjs).
 *
 * While a wait wrapped in `pacedWait` is pending, each setImmediate callback first sleeps
 * `sleepMicros` (Atomics.wait: the thread blocks in the kernel, no allocation): a wait ends at most
 * one sleep after the GPU's work does, and the cores are lavapipe's meanwhile. Outside such waits
 * setImmediate behaves as before; the wrapper is installed on first use. Measured on the 2-core VM
 * (bench/RESULTS.md "Paced polling"): training 4-13% faster, MTP drafting ~12% and plain decoding
 * within the noise.
 */

/** Waits in progress; setImmediate callbacks sleep first while it is above 0. */
let waiting = 0;
let sleepMs = 0;
let installed = false;
let sleeps = 0;
const cell = new Int32Array(new SharedArrayBuffer(4));

/** How many event-loop turns have slept so far (tests check the mechanism with it). */
export function pacedSleeps(): number {
  return sleeps;
}

function install(): void {
  if (installed) return;
  installed = true;
  const immediate = globalThis.setImmediate;
  const paced = (callback: (...args: unknown[]) => void, ...args: unknown[]) =>
    immediate(() => {
      if (waiting > 0) {
        sleeps++;
        Atomics.wait(cell, 0, 0, sleepMs);
      }
      callback(...args);
    });
  globalThis.setImmediate = Object.assign(paced, { __promisify__: immediate.__promisify__ }) as typeof setImmediate;
}

/**
 * Awaits `work` (a promise Dawn settles by polling) with every event-loop turn until then starting
 * with a sleep of `sleepMicros` µs; 0 awaits it as it is.
 */
export async function pacedWait<T>(work: Promise<T>, sleepMicros: number): Promise<T> {
  if (!(sleepMicros > 0)) return work;
  install();
  waiting++;
  sleepMs = sleepMicros / 1000;
  try {
    return await work;
  } finally {
    waiting--;
  }
}

/**
 * The sleep a software adapter's waits use: PONDER_POLL_SLEEP_US when set (0 turns pacing off),
 * else 100 µs: on the 2-core VM MTP drafting was slower with 0, 50 or 200 (plain decoding level) and
 * training no faster with 300 or 1,000.
 */
export function pollSleepMicros(software: boolean, env: NodeJS.ProcessEnv = process.env): number {
  if (!software) return 0;
  const set = env.PONDER_POLL_SLEEP_US;
  if (set === undefined || set.trim() === '') return 100;
  const us = Number(set);
  return Number.isFinite(us) && us >= 0 ? Math.min(us, 10_000) : 100;
}
