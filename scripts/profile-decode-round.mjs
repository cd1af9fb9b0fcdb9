#!/usr/bin/env node
/**
 * Where the GPU time of a plain decode step and of a greedy MTP round of the bundled model goes:
 * each dispatch captured from a real step (and a real round, mid-answer), then recorded 40 times into
 * one submit and waited for, 15 times; prints each dispatch's 1/4-quantile time (a shared CPU's wall
 * clock only adds noise) and the sums. The sums bound what drafting can gain on this adapter: a round
 * yields (1 + accepted drafts) tokens for the round's sum, plain decoding one token for the step's.
 *
 *   npm run build && node scripts/profile-decode-round.mjs
 */
import { SpeculativeDecoder, openBundled, plainStep as decodeStep } from './bundled-decode.mjs';

const { gpu, model, prompt, cache } = await openBundled();
const dispatch = gpu.dispatch.bind(gpu);

/** The dispatches `run` records. */
async function capture(run) {
  const seen = [];
  gpu.dispatch = (d) => {
    seen.push(d);
    dispatch(d);
  };
  try {
    await run();
  } finally {
    gpu.dispatch = dispatch;
  }
  return seen;
}

/** Each dispatch's time (1/4-quantile of 15 submits of 40 copies), printed; returns their sum in ms. */
async function report(name, dispatches) {
  let sum = 0;
  console.log(`${name}: ${dispatches.length} dispatches`);
  for (const d of dispatches) {
    const times = [];
    for (let r = 0; r < 15; r++) {
      const t = performance.now();
      for (let i = 0; i < 40; i++) dispatch(d);
      await gpu.sync();
      times.push((performance.now() - t) / 40);
    }
    const ms = [...times].sort((a, b) => a - b)[3];
    sum += ms;
    console.log(`  ${ms.toFixed(3)} ms  ${d.file}${d.entry ? ` ${d.entry}` : ''} [${d.workgroups.join('x')}]`);
  }
  console.log(`  ${sum.toFixed(3)} ms in all`);
  return sum;
}

// a plain step at the position a round of the same answer reaches
const plainStep = () => decodeStep(gpu, model, cache, prompt.length + 12);
await plainStep(); // compiles
const plain = await report('plain decode step', await capture(plainStep));

const spec = new SpeculativeDecoder(gpu, model, model.config.max_position_embeddings - 4, 1, undefined, { ahead: false });
await spec.warmUp();
await spec.prefill(prompt);
for (let i = 0; i < 6; i++) await spec.step();
let tokens = 0;
const roundDispatches = await capture(async () => {
  tokens = (await spec.step()).length;
});
const round = await report(`greedy MTP round (${tokens} tokens)`, roundDispatches);
const { drafted, accepted } = spec.stats;
const perRound = 1 + accepted / drafted;
console.log(`drafts accepted ${accepted}/${drafted}: ${perRound.toFixed(2)} tokens a round; GPU time alone allows ${((perRound * plain) / round).toFixed(2)}x plain decoding`);
console.log(`(adapter ${gpu.info.description || gpu.info.device})`);
spec.dispose();
cache.dispose();
process.exit(0);
