#!/usr/bin/env node
/**
 * The ops that batched sampling, prefills and training run outside the fused decode layer, each way
 * it can run, on the default adapter: decode attention a lane a query head (attention_decode.wgsl)
 * against a lane a (sequence, KV head) pair (attention_decode_lanes.wgsl), over caches of a few
 * lengths, power-of-two ones among them; and RoPE of q and k with the cache write as one dispatch
 * (rope_kv_write.wgsl) against rope, rope and kvWrite; RMSNorm with 4 threads a row against this
 * adapter's default layout (rmsnormLayout); matmuls of a few rows, y = x·Wᵀ, through the small-M
 * kernel (gemv) against the main one; and a decode step of a few sequences of the bundled model's
 * shape (random weights) through the fused decode layer against the separate ops. Each case is
 * recorded 20 times a submit (a decode step 10), 9 submits (7); prints the 1/4-quantile ms per call
 * (a shared CPU's wall clock only adds noise).
 *
 *   npm run build && node scripts/profile-batched-ops.mjs
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = `${resolve(dirname(fileURLToPath(import.meta.url)), '..')}/dist/src`;
const { Gpu } = await import(`${root}/gpu/gpu.js`);
const { attention, kvWrite } = await import(`${root}/ops/attention.js`);
const { rope, ropeTables } = await import(`${root}/ops/rope.js`);
const { ropeKvWrite } = await import(`${root}/ops/rope-kv-write.js`);
const { rmsnorm, rmsnormLayout } = await import(`${root}/ops/rmsnorm.js`);
const { matmul, setMatmulConfig } = await import(`${root}/ops/matmul.js`);
const { pickMatmulConfig } = await import(`${root}/ops/matmul-configs.js`);
const { Transformer } = await import(`${root}/model/transformer.js`);
const { randomWeightsFor } = await import(`${root}/engine/bench/model.js`);
const { readFileSync } = await import('node:fs');

const gpu = await Gpu.open({});
const random = (n) => Float32Array.from({ length: n }, () => Math.random() - 0.5);

/** ms per call of `run`: `submits` submits of `calls` calls, the 1/4-quantile. */
async function time(run, calls = 20, submits = 9) {
  run();
  await gpu.sync();
  const ms = [];
  for (let r = 0; r < submits; r++) {
    const t = performance.now();
    for (let i = 0; i < calls; i++) run();
    await gpu.sync();
    ms.push((performance.now() - t) / calls);
  }
  return ms.sort((a, b) => a - b)[Math.floor(submits / 4)].toFixed(3);
}

console.log(`adapter ${gpu.info.device}: ${gpu.info.description}`);
console.log('decode attention, ms a call: a lane a head | a lane a pair');
// [sequences, q heads, kv heads, head dim, cache positions, keys]
for (const [B, Hq, Hkv, D, L, n] of [
  [64, 4, 2, 32, 49, 40], [64, 4, 2, 32, 64, 40], [64, 4, 2, 32, 201, 200], [64, 4, 2, 32, 512, 200], [64, 4, 2, 32, 513, 200],
  [16, 4, 2, 32, 257, 250], [8, 4, 2, 32, 257, 250], [4, 4, 2, 32, 257, 250], [2, 4, 2, 32, 301, 280], [1, 4, 2, 32, 301, 280],
  [32, 14, 2, 64, 81, 64], [4, 14, 2, 64, 601, 500], [2, 14, 2, 64, 601, 500], [1, 14, 2, 64, 601, 500],
]) {
  const q = gpu.upload(random(B * Hq * D), [B, 1, Hq, D]);
  const kc = gpu.upload(random(B * Hkv * L * D), [B, Hkv, L, D]);
  const vc = gpu.upload(random(B * Hkv * L * D), [B, Hkv, L, D]);
  const slots = gpu.upload(Uint32Array.from({ length: B }, (_, i) => i), [B], 'u32');
  const starts = gpu.upload(Uint32Array.from({ length: B }, (_, i) => n - 1 - (i % 5)), [B], 'u32');
  const out = gpu.empty([B, 1, Hq, D]);
  const heads = await time(() => attention(gpu, q, kc, vc, slots, starts, { decodeLanes: false }, out));
  const lanes = await time(() => attention(gpu, q, kc, vc, slots, starts, { decodeLanes: true }, out));
  console.log(`  ${B} sequences x ${Hq}/${Hkv} heads of ${D}, ${L} positions, ~${n} keys: ${heads} | ${lanes}`);
  for (const t of [q, kc, vc, slots, starts, out]) t.release();
}

console.log('RoPE of q and k and the cache write, ms: rope + rope + kvWrite | ropeKvWrite');
for (const [B, T, Hq, Hkv, D] of [[64, 1, 4, 2, 32], [8, 32, 4, 2, 32], [8, 512, 4, 2, 32], [1, 256, 14, 2, 64]]) {
  const tables = ropeTables(gpu, { maxPositions: 1024, rotaryDim: D, theta: 10000 });
  const q = gpu.upload(random(B * T * Hq * D), [B, T, Hq, D]);
  const { parts } = gpu.emptyStacked(2, [B * T, Hkv * D], 'kv');
  const k = parts[0].reshape([B, T, Hkv, D]);
  const v = parts[1].reshape([B, T, Hkv, D]);
  const kc = gpu.empty([B, Hkv, T + 8, D]);
  const vc = gpu.empty([B, Hkv, T + 8, D]);
  const positions = gpu.upload(Uint32Array.from({ length: B * T }, (_, i) => i % T), [B * T], 'u32');
  const slots = gpu.upload(Uint32Array.from({ length: B }, (_, i) => i), [B], 'u32');
  const starts = gpu.upload(new Uint32Array(B), [B], 'u32');
  const apart = await time(() => {
    rope(gpu, q, positions, tables);
    rope(gpu, k, positions, tables);
    kvWrite(gpu, k, v, kc, vc, slots, starts);
  });
  const fused = await time(() => ropeKvWrite(gpu, q, k, v, { positions, tables, kCache: kc, vCache: vc, slots, starts }));
  console.log(`  B${B} T${T}, ${Hq}/${Hkv} heads of ${D}: ${apart} | ${fused}`);
}

console.log(`RMSNorm, ms: 4 threads a row | the default (${JSON.stringify(rmsnormLayout(128, gpu.info.software))} at 128)`);
for (const [rows, dim] of [[64, 128], [256, 128], [4096, 128], [512, 896]]) {
  const x = gpu.upload(random(rows * dim), [rows, dim]);
  const w = gpu.upload(random(dim), [dim]);
  const out = gpu.empty([rows, dim]);
  const four = await time(() => rmsnorm(gpu, x, w, { eps: 1e-6, layout: { vec4: dim % 4 === 0, tpr: 4, rpw: 16 } }, out));
  const byDefault = await time(() => rmsnorm(gpu, x, w, { eps: 1e-6 }, out));
  console.log(`  [${rows} x ${dim}]: ${four} | ${byDefault}`);
}

const { smallM, smallMKernel } = pickMatmulConfig(gpu);
console.log(`matmul y = x·Wᵀ of M rows, ms: the small-M kernel | the main kernel (this adapter takes the small-M one up to ${smallM} rows)`);
for (const M of [1, 2, 4, 5, 8]) {
  const cells = [];
  for (const [N, K] of [[128, 128], [768, 128], [1152, 896], [896, 4864]]) {
    const x = gpu.upload(random(M * K), [M, K]);
    const w = gpu.upload(random(N * K), [N, K]);
    const y = gpu.empty([M, N]);
    const way = async (patch) => {
      setMatmulConfig(gpu, patch);
      return time(() => matmul(gpu, x, w, { transB: true }, y));
    };
    cells.push(`${N}x${K} ${await way({ smallM: 8, smallMKernel })} | ${await way({ smallM: 8, smallMKernel: 'same' })}`);
    for (const t of [x, w, y]) t.release();
  }
  console.log(`  M=${M}: ${cells.join(', ')}`);
}
setMatmulConfig(gpu, { smallM, smallMKernel });

const config = JSON.parse(readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../models/default/config.json'), 'utf8'));
const model = Transformer.load(gpu, config, randomWeightsFor(config));
console.log('a decode step of the bundled model\'s shape (random weights), ms: the fused decode layer | the separate ops');
for (const n of [100, 250]) {
  for (const B of [4, 6, 8]) {
    const cache = model.createCache(B, 513);
    const step = () => model.forward(Array.from({ length: B }, () => [40]), cache, [...Array(B).keys()], new Array(B).fill(n)).release();
    model.fusedDecode = true;
    const fused = await time(step, 10, 7);
    model.fusedDecode = false;
    const apart = await time(step, 10, 7);
    console.log(`  ${B} sequences at ~${n} keys: ${fused} | ${apart}`);
    cache.dispose();
  }
}
process.exit(0);
