import assert from 'node:assert/strict';
import { testSeed } from './random.js';

export interface Tolerance {
  /** relative tolerance against the float64 reference */
  rtol?: number;
  /** absolute floor, relative to the reference's largest magnitude */
  atol?: number;
  /**
   * the magnitude atol is relative to when the reference's own largest one is not the right scale
   * (default: that largest magnitude); e.g. a sum whose terms cancel to a tiny value is only as
   * accurate as its terms are large
   */
  scale?: number;
}

/**
 * Compares a GPU result with a float64 reference. An element passes when
 *   |actual - expected| <= atol * max|expected| + rtol * |expected|
 * NaN or Inf in `actual` never passes (outputs are poisoned with NaN before the run, so elements a
 * kernel forgot to write show up here). The failure message names the worst element and the seed.
 */
export function assertClose(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance = {}): void {
  const rtol = tol.rtol ?? 1e-4;
  const atol = tol.atol ?? 1e-5;
  assert.equal(actual.length, expected.length, `${name}: length ${actual.length} != ${expected.length}`);
  let scale = tol.scale ?? 0;
  if (tol.scale === undefined) for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(a)) {
      if (Number.isFinite(e) || !Object.is(a, e)) assert.fail(`${name}: element ${i} is ${a}, expected ${e} (seed ${testSeed})`);
      continue;
    }
    const bound = atol * scale + rtol * Math.abs(e) + Number.MIN_VALUE;
    const ratio = Math.abs(a - e) / bound;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    assert.fail(
      `${name}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(error ${Math.abs(actual[worst] - expected[worst]).toExponential(2)}, ${worstRatio.toFixed(1)}x the tolerance rtol=${rtol} atol=${atol}; seed ${testSeed})`,
    );
  }
}

/** Exact equality for integer outputs (token ids, indices). */
export function assertEqualInts(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  assert.equal(actual.length, expected.length, `${name}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${name}: element ${i} is ${actual[i]}, expected ${expected[i]} (seed ${testSeed})`);
  }
}
