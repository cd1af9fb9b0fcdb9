#!/usr/bin/env node
/**
 * JavaScript heap allocated per decode step of the bundled model, plain and with MTP drafting (per
 * round), and the scavenges it causes: what a wait for the GPU costs the V8 heap. Run it with
 * PONDER_POLL_SLEEP_US=0 to see Dawn's unpaced poll (src/gpu/paced-poll.ts), without to see the
 * default. Heap bytes are summed over the spaces' growth across each step (collections in between
 * are not counted, so the figure is a lower bound).
 *
 *   npm run build && node --expose-gc scripts/decode-allocation.mjs [steps]
 */
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import { SpeculativeDecoder, openBundled, plainStep } from './bundled-decode.mjs';

const steps = Number(process.argv[2] ?? 200);
const { gpu, model, prompt, cache } = await openBundled();
const used = () => v8.getHeapSpaceStatistics().reduce((a, s) => a + s.space_used_size, 0);

let scavenges = 0;
let scavengeMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (e.detail?.kind === 1 /* minor */) {
      scavenges++;
      scavengeMs += e.duration;
    }
  }
}).observe({ entryTypes: ['gc'] });

/** Heap growth per call of `step` over `n` calls, and the scavenges meanwhile. */
async function measure(name, step, n, tokensOf = () => 1) {
  globalThis.gc?.();
  scavenges = 0;
  scavengeMs = 0;
  let bytes = 0;
  let tokens = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const before = used();
    tokens += tokensOf(await step());
    const after = used();
    if (after > before) bytes += after - before;
  }
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 50)); // gc entries arrive asynchronously
  console.log(`${name}: ${(bytes / n / 1024).toFixed(0)} KiB a step, ${(ms / tokens).toFixed(2)} ms a token, ${scavenges} scavenges (${scavengeMs.toFixed(0)} ms) in ${n} steps`);
}

let pos = prompt.length;
await measure('plain decode step (read back before the next)', () => plainStep(gpu, model, cache, pos++), steps);
cache.dispose();

const spec = new SpeculativeDecoder(gpu, model, prompt.length + 2 * steps + 8);
await spec.warmUp();
await spec.prefill(prompt);
await measure('MTP round', () => spec.step(), steps, (fresh) => fresh.length);
spec.dispose();
console.log(`(PONDER_POLL_SLEEP_US=${process.env.PONDER_POLL_SLEEP_US ?? 'unset'}, adapter ${gpu.info.description || gpu.info.device})`);
process.exit(0);
