import assert from 'node:assert/strict';
import type { Weights } from '../../src/model/config.js';
import type { TrainableModel } from '../../src/train/trainable.js';
import { testGpu } from './gpu.js';
import { rng, testSeed } from './random.js';

/** Float64 copies of the weights in the Weights shape (finite differences perturb them in place). */
export function float64Weights(w: Weights): Map<string, { shape: number[]; data: Float64Array }> {
  return new Map([...w].map(([n, t]) => [n, { shape: [...t.shape], data: Float64Array.from(t.data) }]));
}

export async function readGrads(model: TrainableModel): Promise<Map<string, Float32Array>> {
  const gpu = await testGpu();
  const out = new Map<string, Float32Array>();
  for (const p of model.params()) out.set(p.name, new Float32Array(await gpu.readF32(p.grad)));
  return out;
}

/**
 * Checks the GPU gradient of a whole objective chain against central finite differences of
 * `loss(w64)`, a float64 function of the float64 weights (reference forward + float64 objective):
 * `perTensor` random coordinates of every tensor, then one random direction over all of them
 * (Σ g·v against (L(w + hv) − L(w − hv)) / 2h). An element passes when
 *   |fd − g| <= 1e-4 · max|g of its tensor| + 1e-3 · |fd|
 * (the GPU is f32, FD with h = 1e-5 in float64 is good to ~1e-9; a wrong term is O(max|g|)).
 */
export function checkAgainstFiniteDifferences(
  name: string,
  grads: Map<string, Float32Array>,
  w64: Map<string, { shape: number[]; data: Float64Array }>,
  loss: (w: Map<string, { shape: number[]; data: Float64Array }>) => number,
  perTensor = 2,
): void {
  const r = rng(testSeed + 101);
  const h = 1e-5;
  let anyNonzero = false;
  for (const [tname, t] of w64) {
    const g = grads.get(tname);
    assert.ok(g, `${name}: no gradient for ${tname}`);
    let scale = 0;
    for (const x of g) scale = Math.max(scale, Math.abs(x));
    anyNonzero ||= scale > 0;
    for (let s = 0; s < perTensor; s++) {
      const i = Math.floor(r() * t.data.length);
      const orig = t.data[i];
      t.data[i] = orig + h;
      const lp = loss(w64);
      t.data[i] = orig - h;
      const lm = loss(w64);
      t.data[i] = orig;
      const fd = (lp - lm) / (2 * h);
      assert.ok(Math.abs(fd - g[i]) <= 1e-4 * scale + 1e-3 * Math.abs(fd), `${name} ${tname}[${i}]: GPU ${g[i]}, finite difference ${fd} (largest |g| ${scale}; seed ${testSeed})`);
    }
  }
  assert.ok(anyNonzero, `${name}: every gradient is zero`);
  // one random direction v over every weight: the directional derivative
  const dirs = new Map([...w64].map(([n, t]) => [n, Float64Array.from(t.data, () => r() - 0.5)]));
  const shift = (sign: number) => {
    for (const [n, t] of w64) {
      const v = dirs.get(n)!;
      for (let i = 0; i < v.length; i++) t.data[i] += sign * h * v[i];
    }
  };
  const base = new Map([...w64].map(([n, t]) => [n, Float64Array.from(t.data)]));
  shift(1);
  const lp = loss(w64);
  for (const [n, t] of w64) t.data.set(base.get(n)!);
  shift(-1);
  const lm = loss(w64);
  for (const [n, t] of w64) t.data.set(base.get(n)!);
  const fd = (lp - lm) / (2 * h);
  let dot = 0;
  let mag = 0;
  for (const [n, v] of dirs) {
    const g = grads.get(n)!;
    for (let i = 0; i < v.length; i++) {
      dot += g[i] * v[i];
      mag += Math.abs(g[i] * v[i]);
    }
  }
  assert.ok(Math.abs(fd - dot) <= 1e-4 * mag + 1e-3 * Math.abs(fd), `${name}: directional derivative GPU ${dot}, finite difference ${fd} (Σ|g·v| ${mag}; seed ${testSeed})`);
}
