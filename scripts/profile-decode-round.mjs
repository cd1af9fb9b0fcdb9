#!/usr/bin/env node
/**
 * Where the GPU time of a plain decode step and of a greedy MTP round of the bundled model goes, and
 * what that leaves drafting on this adapter. The work of a real step and of a real round (mid-answer)
 * is captured, dispatches and copies, then replayed:
 *
 *   - each dispatch alone, recorded 40 times into one submit and waited for, 15 times: its
 *     1/4-quantile time (a shared CPU's wall clock only adds noise), printed with the sums;
 *   - the whole step and the whole round in order, 30 of them a submit, 9 times: the median.
 *     This is the GPU time a token costs when nothing else runs; end to end (`ponder bench model`)
 *     recording the next step and waiting for the token come on top.
 *
 * Then the JavaScript time of recording a step and a round, from the call to its submit with the GPU
 * idle (150 of each, the median).
 *
 * The round splits into the MTP module's part (its input, layer and head: the dispatches before the
 * trunk's embedding) and the verify pass (the trunk over two rows). From those it prints three
 * ratios against plain decoding: what GPU time alone allows (tokens a round × step ÷ round), what
 * a free second verify row would allow (the module's part the only extra), and the verify pass's
 * cost against a plain step. They bound what drafting can gain end to end on this adapter.
 *
 *   npm run build && node scripts/profile-decode-round.mjs
 */
import { SpeculativeDecoder, openBundled, plainStep as decodeStep } from './bundled-decode.mjs';

const { gpu, model, prompt, cache } = await openBundled();
const dispatch = gpu.dispatch.bind(gpu);
const copy = gpu.copy.bind(gpu);

/** The work `run` records, in order: ['dispatch', d] and ['copy', args]. */
async function capture(run) {
  const seen = [];
  gpu.dispatch = (d) => {
    seen.push(['dispatch', d]);
    dispatch(d);
  };
  gpu.copy = (...args) => {
    seen.push(['copy', args]);
    copy(...args);
  };
  try {
    await run();
  } finally {
    gpu.dispatch = dispatch;
    gpu.copy = copy;
  }
  return seen;
}

const replay = (ops) => {
  for (const [kind, x] of ops) kind === 'dispatch' ? dispatch(x) : copy(...x);
};
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))];

/** ms of `ops` replayed `reps` times a submit, `trials` times: the q-quantile per replay. */
async function timeReplay(ops, reps, trials, q) {
  const times = [];
  for (let r = 0; r < trials; r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) replay(ops);
    await gpu.sync();
    times.push((performance.now() - t) / reps);
  }
  return quantile(times, q);
}

/** Each dispatch's time, printed; returns their sum in ms. */
async function perDispatch(name, ops) {
  const dispatches = ops.filter(([kind]) => kind === 'dispatch');
  let sum = 0;
  console.log(`${name}: ${dispatches.length} dispatches, ${ops.length - dispatches.length} copies`);
  for (const op of dispatches) {
    const ms = await timeReplay([op], 40, 15, 0.25);
    sum += ms;
    const d = op[1];
    console.log(`  ${ms.toFixed(3)} ms  ${d.file}${d.entry ? ` ${d.entry}` : ''} [${d.workgroups.join('x')}]`);
  }
  console.log(`  ${sum.toFixed(3)} ms the dispatches one by one`);
  return sum;
}

// a plain step at the position a round of the same answer reaches
const plainStep = () => decodeStep(gpu, model, cache, prompt.length + 12);
await plainStep(); // compiles
const stepOps = await capture(plainStep);
const plainSum = await perDispatch('plain decode step', stepOps);

const spec = new SpeculativeDecoder(gpu, model, model.config.max_position_embeddings - 4, 1, undefined, { ahead: false });
await spec.warmUp();
await spec.prefill(prompt);
for (let i = 0; i < 6; i++) await spec.step();
let tokens = 0;
const roundOps = await capture(async () => {
  tokens = (await spec.step()).length;
});
const roundSum = await perDispatch(`greedy MTP round (${tokens} tokens)`, roundOps);
const trunkAt = roundOps.findIndex(([kind, x]) => kind === 'dispatch' && x.file.startsWith('embedding'));
const moduleOps = roundOps.slice(0, trunkAt);
const verifyOps = roundOps.slice(trunkAt);

/**
 * JavaScript's share: the median ms from starting `run` (the GPU idle) to its submit, 150 times. A
 * round's recording cannot overlap the GPU work before it on a 2-core CPU when that work keeps both
 * cores busy (split verify rows; the JavaScript thread runs at nice 19), so it adds to a round.
 */
async function recordingMs(run) {
  const flush = gpu.flush.bind(gpu);
  const times = [];
  let t0 = 0;
  gpu.flush = () => {
    if (t0) times.push(performance.now() - t0);
    t0 = 0;
    flush();
  };
  try {
    for (let i = 0; i < 150; i++) {
      await gpu.sync();
      t0 = performance.now();
      await run();
    }
  } finally {
    gpu.flush = flush;
  }
  return quantile(times, 0.5);
}
const recordStep = await recordingMs(plainStep);
const recordRound = await recordingMs(() => spec.step());

// in order, the four alternating so that a slow moment of the VM touches them all alike
const inOrder = { step: [], round: [], module: [], verify: [] };
for (let i = 0; i < 5; i++) {
  inOrder.step.push(await timeReplay(stepOps, 30, 9, 0.5));
  inOrder.round.push(await timeReplay(roundOps, 30, 9, 0.5));
  inOrder.module.push(await timeReplay(moduleOps, 30, 9, 0.5));
  inOrder.verify.push(await timeReplay(verifyOps, 30, 9, 0.5));
}
const [step, round, module, verify] = ['step', 'round', 'module', 'verify'].map((k) => quantile(inOrder[k], 0.5));
const { drafted, accepted } = spec.stats;
const perRound = 1 + accepted / drafted;
console.log(`in order (30 a submit, median of 5 x 9): plain step ${step.toFixed(3)} ms; round ${round.toFixed(3)} ms = module ${module.toFixed(3)} + verify pass ${verify.toFixed(3)}`);
console.log(`drafts accepted ${accepted}/${drafted}: ${perRound.toFixed(2)} tokens a round`);
console.log(`GPU time alone allows ${((perRound * step) / round).toFixed(2)}x plain decoding (dispatches one by one: ${((perRound * plainSum) / roundSum).toFixed(2)}x)`);
console.log(`with a free second verify row: ${((perRound * step) / (step + module)).toFixed(2)}x; the verify pass costs ${(verify / step).toFixed(2)} plain steps, the module ${(module / step).toFixed(2)}`);
console.log(`JavaScript recording (the GPU idle, to the submit; median of 150): plain step ${recordStep.toFixed(3)} ms, round ${recordRound.toFixed(3)} ms`);
console.log(`(adapter ${gpu.info.description || gpu.info.device})`);
spec.dispose();
cache.dispose();
process.exit(0);
