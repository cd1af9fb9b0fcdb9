import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { torchTrainPeer } from '../../bench/peers/torch-train.js';
import type { SuiteEvent } from '../../src/engine/bench/runner.js';
import { benchTrainCase, trainRows, trainSuite, writePeerCase, type TrainBenchCase } from '../../src/engine/bench/train.js';
import type { TrainBenchResult } from '../../src/engine/bench/types.js';
import type { ModelConfig, Weights } from '../../src/model/config.js';
import { printBenchPlain } from '../../src/tui/bench-print.js';
import { testGpu } from '../helpers/gpu.js';
import { randomWeights, tinyConfig, type TinyFamily } from '../helpers/tiny-models.js';
import { torchMissing, withPython } from '../helpers/torch.js';
import { lossRef, toRefWeights } from '../reference/transformer-backward.js';

/**
 * The PyTorch training peer (bench/peers/torch-train.ts) against the float64 reference and ponder, on
 * tiny random models of each family: its first loss is the reference's mean cross-entropy of the
 * first batch, and after its warm-up and timed steps its loss is still ponder's, so it trains the same
 * model with the same AdamW, decay groups and clipping. Then the train suite's row with the peer
 * carries its tokens/s and ponder ÷ peer. It runs python3, or the interpreter PONDER_PYTHON names; the
 * tests that need torch skip, saying why, when that interpreter cannot import it.
 */
const missing = torchMissing();

// Llama untied without biases; Qwen2 with q/k/v biases and tied embeddings; Qwen3 with per-head q/k
// norms and a head_dim that is not hidden ÷ heads, so every branch of the peer's forward runs
const FAMILIES: { family: TinyFamily; overrides?: Parameters<typeof tinyConfig>[1] }[] = [
  { family: 'llama' },
  { family: 'qwen2' },
  { family: 'qwen3', overrides: { head_dim: 16 } },
];

function tinyCase(config: ModelConfig): TrainBenchCase {
  // lr, decay and betas far enough from the defaults that a peer getting any of them wrong (or the decay
  // groups, or the clip, which bites at this init) ends 1e-4 or more from ponder after the four steps,
  // while float32 drift between the two stays under 1e-6
  return { name: 'tiny', stage: 'bench', config, batch: 2, seqLen: 8, steps: 3, warmup: 1, optimizer: { lr: 2e-2, beta1: 0.8, beta2: 0.6, weightDecay: 0.5, gradClip: 0.5 } };
}

/** Mean cross-entropy of rows of T + 1 ids (inputs the first T, targets the last T), in float64. */
function meanLossRef(c: ModelConfig, w: Weights, rows: number[][]): number {
  const T = rows[0]!.length - 1;
  return lossRef(c, toRefWeights(w), rows.map((r) => r.slice(0, T)), rows.map((r) => r.slice(1))) / (rows.length * T);
}

describe('pytorch training peer', () => {
  for (const { family, overrides } of FAMILIES) {
    it(`${family}: its first loss is the float64 reference's, and its last is ponder's after the same steps`, async (t) => {
      if (missing) return t.skip(missing);
      const config = tinyConfig(family, overrides);
      const c = tinyCase(config);
      const weights = randomWeights(config, 11);
      const rows = trainRows(c);
      const dir = writePeerCase(c, weights, rows);
      try {
        const run = await torchTrainPeer().timeTrain(dir, 120_000);
        assert.equal(run.losses.length, c.warmup + c.steps);
        assert.equal(run.stepMs.length, c.steps);
        assert.ok(run.totalMs > 0 && run.msMedian > 0, JSON.stringify(run));
        assert.match(run.backend, /^torch \S+, (cpu|cuda): /);

        const ref = meanLossRef(config, weights, rows.slice(0, c.batch));
        // these weights put the loss far from ln(vocab), where any model's small-weight loss sits
        assert.ok(Math.abs(ref - Math.log(config.vocab_size)) > 0.05, `reference loss ${ref}`);
        assert.ok(Math.abs(run.losses[0]! - ref) <= 1e-5 * ref, `torch ${run.losses[0]} vs reference ${ref}`);

        const gpu = await testGpu();
        const ours = await benchTrainCase(gpu, c, undefined, { weights: new Map(weights), rows });
        assert.ok(Math.abs(ours.first_loss! - ref) <= 1e-5 * ref, `ponder ${ours.first_loss} vs reference ${ref}`);
        const last = run.losses[run.losses.length - 1]!;
        assert.ok(Math.abs(last - run.losses[0]!) > 0.05, `the steps moved the loss: ${run.losses.join(' ')}`);
        assert.ok(Math.abs(last - ours.loss) <= 2e-5 * ours.loss, `torch ${last} vs ponder ${ours.loss} after ${c.warmup + c.steps} steps`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("the suite's row carries the peer's tokens/s, ponder ÷ peer, and where torch ran", async (t) => {
    if (missing) return t.skip(missing);
    const gpu = await testGpu();
    const c = tinyCase(tinyConfig('llama', { vocab_size: 263 }));
    const events: SuiteEvent[] = [];
    for await (const ev of trainSuite(gpu, [c], { peers: [torchTrainPeer()] })) events.push(ev);
    assert.equal(events[0]!.type, 'note');
    const probe = (events[0] as { message: string }).message;
    assert.match(probe, /^peer pytorch: torch \S+, (cpu: \S.* \d+ threads?, torch \d+ threads? \(OMP_WAIT_POLICY=\w+\), \d+ cores?|cuda: .*cuBLAS, TF32 off)/);
    const row = (events.find((e) => e.type === 'result') as { result: TrainBenchResult } | undefined)?.result;
    assert.ok(row, JSON.stringify(events));
    const fig = row.peers![0]!;
    assert.equal(fig.peer, 'pytorch');
    assert.ok(fig.tokens_per_s! > 0, JSON.stringify(fig));
    assert.ok(Math.abs(fig.first_loss! - row.first_loss!) <= 2e-5 * row.first_loss!);
    const lines: string[] = [];
    for (const ev of events) printBenchPlain(ev, (l) => lines.push(l), { trainPeers: ['pytorch'] });
    const printed = lines.find((l) => l.startsWith('tiny'))!;
    if (/its figures do not count/.test(probe)) {
      // a CPU torch on a reference BLAS or on fewer than every core: the figure, no ratio, and why
      assert.equal(fig.ratio, null);
      assert.match(fig.note!, /^does not count: /);
      assert.match(printed, /\s-\s+pytorch: does not count: /);
    } else {
      assert.equal(fig.ratio, row.tokens_per_s / fig.tokens_per_s!);
      assert.equal(fig.note, undefined);
      assert.match(printed, /\s\d+\.\d\dx$/);
    }
  });

  it('a missing interpreter is a one-line error, from open and from a run', async () => {
    await withPython('/nonexistent/python', async () => {
      const peer = torchTrainPeer();
      assert.equal(peer.name, 'pytorch');
      await assert.rejects(peer.open(), { message: '/nonexistent/python is not installed' });
      await assert.rejects(peer.timeTrain(tmpdir(), 10_000), { message: '/nonexistent/python is not installed' });
    });
  });
});
