/**
 * What the tuner tests share: running a recipe to the end (or to a stop) and collecting its events,
 * and holding two runs' weights to the same bits (the resume-exactness check every stage kind makes).
 */
import assert from 'node:assert/strict';
import { runTuner, type TunerOptions } from '../../src/engine/tuner.js';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import type { Weights } from '../../src/model/config.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { testGpu } from './gpu.js';

/** Runs the recipe at `path` on the test device and returns every event. */
export async function tuneEvents(path: string, opts: TunerOptions = {}): Promise<TuneEvent[]> {
  const gpu = await testGpu();
  const events: TuneEvent[] = [];
  for await (const e of runTuner(gpu, loadRecipe(path), opts)) events.push(e);
  return events;
}

/** The same tensor names and shapes, and bit-identical values (NaNs and signed zeros included). */
export function assertSameBits(a: Weights, b: Weights, what: string): void {
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), `${what}: tensor names`);
  for (const [name, t] of a) {
    const u = b.get(name)!;
    assert.deepEqual(u.shape, t.shape, `${what}: ${name} shape`);
    const x = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    const y = new Uint32Array(u.data.buffer, u.data.byteOffset, u.data.length);
    const i = x.findIndex((v, j) => v !== y[j]);
    assert.equal(i, -1, `${what}: ${name}[${i}] differs: ${t.data[i]} vs ${u.data[i]}`);
  }
}
