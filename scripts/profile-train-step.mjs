#!/usr/bin/env node
/**
 * Where a training step's time goes, kernel by kernel: one optimizer step of TrainableModel + AdamW
 * (what `ponder bench train` times) on random weights, its dispatches captured, then each replayed
 * alone with a submit-and-wait and timed on the wall clock (an empty submit's cost subtracted). The
 * sum is close to the step time on a software adapter; on a real GPU the waits dominate small
 * kernels, so read it there with care. Prints the step time, its three phases (clearing the grads,
 * forward + backward, the optimizer) each waited for, then per WGSL file its total ms and dispatch
 * count, with its most expensive (grid, constants, first params) cases.
 *
 *   npm run build && node scripts/profile-train-step.mjs [config.json | bench-50m] [B] [T]
 *   (default: models/default/config.json, B=16, T=128: the bundled model's training shape;
 *   bench-50m: `ponder bench train`'s 47.3M config at its B=1, T=256)
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = `${here}/dist/src`;
const { Gpu } = await import(`${root}/gpu/gpu.js`);
const { TrainableModel } = await import(`${root}/train/trainable.js`);
const { AdamW } = await import(`${root}/train/optimizer.js`);
const { randomWeightsFor } = await import(`${root}/engine/bench/model.js`);
const { readFileSync } = await import('node:fs');
const cfgArg = process.argv[2] ?? `${here}/models/default/config.json`;
const big = cfgArg === 'bench-50m' ? (await import(`${here}/dist/bench/train.js`)).bench50mCase() : undefined;
const B = Number(process.argv[3] ?? big?.batch ?? 16), T = Number(process.argv[4] ?? big?.seqLen ?? 128);
const config = big ? { ...big.config } : JSON.parse(readFileSync(cfgArg, 'utf8'));
config.num_nextn_predict_layers = 0; // the trunk alone, as bench train's default-model case
const gpu = await Gpu.open({});
const weights = randomWeightsFor(config);
const model = TrainableModel.create(gpu, config, weights);
const opt = new AdamW(gpu, model.params(), { lr: 1e-3, weightDecay: 0.1, gradClip: 1 });
const rnd = (n) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % 256);
const inputs = rnd(B * T), targets = rnd(B * T).map((x) => (x + 1) % 256);
async function step() {
  model.zeroGrads();
  const l = model.step(inputs, targets, B, T, { gradScale: 1 / (B * T) });
  const r = opt.step(1e-3);
  await gpu.readF32(l); await gpu.readF32(r); l.release(); r.release();
}
for (let i = 0; i < 2; i++) await step();
let t0 = performance.now();
for (let i = 0; i < 3; i++) await step();
const stepMs = (performance.now() - t0) / 3;
// the step's three phases, each waited for: clearing the grads is not a dispatch, so the replay
// below does not see it
const phases = { zero: [], 'forward+backward': [], optimizer: [] };
for (let i = 0; i < 3; i++) {
  let a = performance.now();
  model.zeroGrads(); await gpu.sync(); phases.zero.push(performance.now() - a); a = performance.now();
  const l = model.step(inputs, targets, B, T, { gradScale: 1 / (B * T) }); await gpu.readF32(l); phases['forward+backward'].push(performance.now() - a); a = performance.now();
  const r = opt.step(1e-3); await gpu.readF32(r); phases.optimizer.push(performance.now() - a);
  l.release(); r.release();
}
const phaseLine = Object.entries(phases).map(([k, v]) => `${k} ${Math.min(...v).toFixed(1)} ms`).join(', ');
// capture
const captured = [];
const orig = gpu.dispatch.bind(gpu);
gpu.dispatch = (d) => { captured.push({ ...d, params: d.params }); orig(d); };
await step();
gpu.dispatch = orig;
// empty submit cost
await gpu.sync();
// the cheapest of 20: a mean would carry a stray slow wait into every kernel's figure
let emptyMs = Infinity;
for (let i = 0; i < 20; i++) {
  t0 = performance.now();
  await gpu.sync();
  emptyMs = Math.min(emptyMs, performance.now() - t0);
}
const byFile = new Map();
let total = 0;
for (const d of captured) {
  // replay twice, keep min
  let best = Infinity;
  for (let r = 0; r < 2; r++) {
    const a = performance.now();
    orig(d); await gpu.sync();
    best = Math.min(best, performance.now() - a);
  }
  const ms = Math.max(0, best - emptyMs);
  total += ms;
  const dv = new DataView(new ArrayBuffer(256)); d.params.writeTo(dv, 0);
  const words = [0,1,2,3,4,5].map((k) => dv.getUint32(4 * k, true));
  const key = `${d.file} [${d.workgroups.join('x')}] ${JSON.stringify(d.constants ?? {})} p=${words.join(',')}`;
  const e = byFile.get(d.file) ?? { n: 0, ms: 0, shapes: new Map() };
  e.n++; e.ms += ms; e.shapes.set(key, (e.shapes.get(key) ?? 0) + ms);
  byFile.set(d.file, e);
}
console.log(`B${B} T${T}: step ${stepMs.toFixed(1)} ms, ${captured.length} dispatches, replay sum ${total.toFixed(1)} ms (empty submit ${emptyMs.toFixed(3)} ms)`);
console.log(`phases, each waited for (fastest of 3): ${phaseLine}`);
for (const [f, e] of [...byFile].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`${e.ms.toFixed(1).padStart(8)} ms ${String(e.n).padStart(4)}x  ${f}`);
  for (const [k, ms] of [...e.shapes].sort((a, b) => b[1] - a[1]).slice(0, 14)) console.log(`            ${ms.toFixed(1).padStart(8)}  ${k}`);
}
process.exit(0);
