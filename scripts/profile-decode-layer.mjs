#!/usr/bin/env node
/**
 * What one fused decode layer (decode_layer.wgsl) costs for one new row (a plain decode step) and for
 * two (a draft-and-verify pass) of the bundled model, at a few cache positions: each layer dispatch
 * captured from a real forward, then recorded 16 times into one submit and waited for, 60 times,
 * alternating the shapes; prints the 1/8-quantile of the per-dispatch time (the wall clock on a shared
 * CPU only adds noise, so a low quantile is the steadier figure). Software adapter only: elsewhere the
 * fused layer does not run.
 *
 *   npm run build && node scripts/profile-decode-layer.mjs [positions, default 20,150,300]
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = `${here}/dist/src`;
const { Gpu } = await import(`${root}/gpu/gpu.js`);
const { openModel } = await import(`${root}/engine/open-model.js`);

const positions = (process.argv[2] ?? '20,150,300').split(',').map(Number);
const gpu = await Gpu.open({});
const { model } = await openModel(gpu, 'default');
const cache = model.createCache(1, model.config.max_position_embeddings);
const dispatch = gpu.dispatch.bind(gpu);
const low = (a) => [...a].sort((x, y) => x - y)[a.length >> 3];

/** The first decode_layer dispatch of a forward of T rows at position pos. */
async function layerDispatch(T, pos) {
  const seen = [];
  gpu.dispatch = (d) => {
    seen.push(d);
    dispatch(d);
  };
  const logits = model.forward([Array(T).fill(40)], cache, [0], [pos], { lastOnly: true });
  await gpu.readF32(logits);
  logits.release();
  gpu.dispatch = dispatch;
  const d = seen.find((x) => x.file === 'decode_layer.wgsl');
  if (!d) throw new Error(`no fused decode layer for T=${T} here (not a software adapter, or the shape does not fit)`);
  return d;
}

console.log(`adapter: ${gpu.info.description}`);
for (const pos of positions) {
  const prefill = model.forward([Array(pos).fill(40)], cache, [0], [0], { lastOnly: true });
  prefill.release();
  const one = await layerDispatch(1, pos);
  const two = await layerDispatch(2, pos);
  const times = [[], []];
  for (let i = 0; i < 60; i++) {
    for (const [k, d] of [one, two].entries()) {
      const t0 = performance.now();
      for (let j = 0; j < 16; j++) dispatch(d);
      await gpu.sync();
      times[k].push((performance.now() - t0) / 16);
    }
  }
  const [t1, t2] = times.map(low);
  console.log(`position ${pos}: one row ${t1.toFixed(3)} ms, two rows ${t2.toFixed(3)} ms (${two.workgroups.join('x')} workgroups), ratio ${(t2 / t1).toFixed(2)}`);
}
process.exit(0);
