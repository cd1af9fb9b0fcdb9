import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SuiteEvent } from '../../src/engine/bench/runner.js';
import { PEER_LOSS_RTOL, trainRows, trainSuite, type TrainBenchCase } from '../../src/engine/bench/train.js';
import type { TrainBenchResult, TrainPeer, TrainPeerRun } from '../../src/engine/bench/types.js';
import { formatRatio } from '../../src/engine/bench/compare.js';
import { readHfModel } from '../../src/io/hf-import.js';
import { csvColumns, printBenchCsv, printBenchPlain } from '../../src/tui/bench-print.js';
import { testGpu } from '../helpers/gpu.js';
import { tinyConfig } from '../helpers/tiny-models.js';
import { adamwStepRef } from '../reference/optimizer.js';
import { toRefWeights, transformerLossAndGrads } from '../reference/transformer-backward.js';
import { decaysByName } from '../../src/train/optimizer.js';

/**
 * The train suite with training peers (src/engine/bench/train.ts, --peers), against stand-in peers
 * that need no torch: what the suite hands a peer (the case directory), the first-loss check that
 * decides whether a figure is shown, ponder ÷ peer as the ratio, a run that does not count keeping its
 * figure but not its ratio, and how the plain table and CSV show them.
 *
 * The stand-in trains in float64 (test/reference: the loss and gradients of transformer-backward.ts,
 * the AdamW step of optimizer.ts) from the directory alone, so its losses are ponder's only when the
 * directory holds ponder's initial weights, every step's rows and AdamW's settings with its defaults.
 */
const config = tinyConfig('qwen2', { vocab_size: 263, num_hidden_layers: 1 });
const CASE: TrainBenchCase = { name: 'tiny', stage: 'bench', config, batch: 2, seqLen: 8, steps: 2, warmup: 1, optimizer: { lr: 1e-2, weightDecay: 0.1, gradClip: 1 }, maxTokenId: 256 };

interface Spec {
  batch: number;
  seq_len: number;
  warmup: number;
  steps: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weight_decay: number;
  grad_clip: number;
  rows: number[][];
}

/** Every step's mean loss of the case in `dir`, trained in float64 as the TrainPeer contract says. */
function trainRef(dir: string): { spec: Spec; losses: number[] } {
  const spec = JSON.parse(readFileSync(join(dir, 'train.json'), 'utf8')) as Spec;
  const { config: c, weights } = readHfModel(dir);
  const w = toRefWeights(weights);
  const names = [...w.keys()];
  const state = { params: names.map((n) => w.get(n)!), m: names.map((n) => new Float64Array(w.get(n)!.length)), v: names.map((n) => new Float64Array(w.get(n)!.length)), step: 0 };
  const cfg = { beta1: spec.beta1, beta2: spec.beta2, eps: spec.eps, weightDecay: spec.weight_decay, gradClip: spec.grad_clip };
  const B = spec.batch;
  const T = spec.seq_len;
  const losses: number[] = [];
  for (let s = 0; s < spec.warmup + spec.steps; s++) {
    const rows = spec.rows.slice(s * B, (s + 1) * B);
    const { loss, count, grads } = transformerLossAndGrads(c, w, rows.map((r) => r.slice(0, T)), rows.map((r) => r.slice(1)));
    losses.push(loss / count);
    // ponder's step scales the gradients by 1 / (B·T): the mean loss's
    adamwStepRef(state, names.map((n) => grads.get(n)!.map((g) => g / count)), names.map(decaysByName), cfg, spec.lr);
  }
  return { spec, losses };
}

interface StandIn extends TrainPeer {
  seen: { spec: Spec; losses: number[] }[];
}

/** A peer that trains the directory it is given in float64 (`offset` added to its first loss). */
function standIn(opts: { name?: string; offset?: number; lastOffset?: number; counts?: boolean; stepMs?: number } = {}): StandIn {
  const seen: StandIn['seen'] = [];
  return {
    name: opts.name ?? 'stand-in',
    seen,
    open: async () => 'stand-in 1.0 (float64 reference)',
    async timeTrain(dir: string): Promise<TrainPeerRun> {
      const { spec, losses } = trainRef(dir);
      seen.push({ spec, losses });
      losses[0]! += opts.offset ?? 0;
      losses[losses.length - 1]! += opts.lastOffset ?? 0;
      const stepMs = [opts.stepMs ?? 10, opts.stepMs ?? 10];
      return { losses, stepMs, msMedian: stepMs[0]!, totalMs: stepMs[0]! * 2, backend: 'float64 on the CPU', counts: opts.counts ?? true, ...(opts.counts === false ? { why: 'it is a stand-in' } : {}) };
    },
    close: async () => {},
  };
}

async function runCase(peers: TrainPeer[]): Promise<{ events: SuiteEvent[]; row: TrainBenchResult }> {
  const gpu = await testGpu();
  const events: SuiteEvent[] = [];
  for await (const ev of trainSuite(gpu, [CASE], { peers })) events.push(ev);
  const result = events.find((e) => e.type === 'result');
  assert.ok(result && result.type === 'result', JSON.stringify(events));
  return { events, row: result.result as TrainBenchResult };
}

describe('bench train --peers', () => {
  it("hands the peer ponder's initial weights, rows and AdamW settings, and shows its figure with ponder ÷ peer", async () => {
    const peer = standIn({ stepMs: 10 });
    const { events, row } = await runCase([peer]);
    assert.equal(events[0]!.type, 'note');
    assert.equal((events[0] as { message: string }).message, 'peer stand-in: stand-in 1.0 (float64 reference)');
    const { spec, losses } = peer.seen[0]!;
    assert.deepEqual({ ...spec, rows: undefined }, { batch: 2, seq_len: 8, warmup: 1, steps: 2, lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1, grad_clip: 1, rows: undefined });
    assert.deepEqual(spec.rows, trainRows(CASE));
    assert.equal(spec.rows.length, 3 * 2);
    // ponder's float32 losses are the float64 ones of the directory's weights, rows and settings
    assert.ok(Math.abs(row.first_loss! - losses[0]!) <= PEER_LOSS_RTOL * losses[0]!, `${row.first_loss} vs ${losses[0]}`);
    assert.ok(Math.abs(row.loss - losses[2]!) <= 1e-5 * losses[2]!, `${row.loss} vs ${losses[2]}`);
    const fig = row.peers![0]!;
    // 2 timed steps of 2 x 8 tokens in 20 ms
    assert.equal(fig.tokens_per_s, (2 * 8 * 2) / 0.02);
    assert.equal(fig.ratio, row.tokens_per_s / fig.tokens_per_s!);
    assert.equal(fig.first_loss, losses[0]);
    assert.equal(fig.loss, losses[2]);
    assert.equal(fig.backend, 'float64 on the CPU');
    assert.equal(fig.note, undefined);

    const lines: string[] = [];
    for (const ev of events) printBenchPlain(ev, (l) => lines.push(l), { trainPeers: ['stand-in'] });
    const header = lines.find((l) => l.startsWith('recipe'))!;
    assert.match(header, /stand-in tok\/s\s+vs stand-in$/);
    const printed = lines.find((l) => l.startsWith('tiny'))!;
    assert.ok(printed.endsWith(` 1600  ${formatRatio(fig.ratio!).padStart('vs stand-in'.length)}`), printed);
  });

  it('a peer whose first or last loss differs from ponder\'s has no figure, and the row says why', async () => {
    const { events, row } = await runCase([standIn({ offset: 1e-3 })]);
    const fig = row.peers![0]!;
    assert.equal(fig.tokens_per_s, null);
    assert.equal(fig.ratio, null);
    assert.match(fig.note!, /^its first loss \S+ differs from ponder's \S+$/);
    const lines: string[] = [];
    for (const ev of events) printBenchPlain(ev, (l) => lines.push(l), { trainPeers: ['stand-in'] });
    assert.match(lines.find((l) => l.startsWith('tiny'))!, /-\s+-\s+stand-in: its first loss \S+ differs from ponder's \S+$/);
    // the same start, then another trajectory (another learning rate would end there)
    const later = (await runCase([standIn({ lastOffset: 0.01 })])).row.peers![0]!;
    assert.equal(later.tokens_per_s, null);
    assert.match(later.note!, /^its loss after 3 steps \S+ differs from ponder's \S+$/);
  });

  it('a run that does not count keeps its tokens/s but has no ratio, and the row says why', async () => {
    const { events, row } = await runCase([standIn({ counts: false })]);
    const fig = row.peers![0]!;
    assert.ok(fig.tokens_per_s! > 0);
    assert.equal(fig.ratio, null);
    assert.equal(fig.note, 'does not count: it is a stand-in');
    const lines: string[] = [];
    for (const ev of events) printBenchPlain(ev, (l) => lines.push(l), { trainPeers: ['stand-in'] });
    assert.match(lines.find((l) => l.startsWith('tiny'))!, /\s1600\s+-\s+stand-in: does not count: it is a stand-in$/);
    const csv: string[] = [];
    for (const ev of events) printBenchCsv(ev, (l) => csv.push(l), { trainPeers: ['stand-in'] });
    // the suite alone sends no start event: the one line is the row (the header is csvColumns)
    const cols = csvColumns(['train'], [], [], ['stand-in']);
    assert.equal(csv.length, 1);
    const values = csv[0]!.split(',');
    assert.equal(values[cols.indexOf('stand_in_tokens_per_s')], '1600');
    assert.equal(values[cols.indexOf('ratio_vs_stand_in')], '');
  });

  it('a peer that cannot open is skipped with a note, and its figure says it is not available', async () => {
    const broken: TrainPeer = { ...standIn({ name: 'broken' }), open: async () => Promise.reject(new Error('broken is not installed\nsecond line')) };
    const { events, row } = await runCase([broken]);
    assert.deepEqual(events[0], { type: 'note', message: 'peer broken: skipped (broken is not installed)' });
    assert.deepEqual(row.peers, [{ peer: 'broken', tokens_per_s: null, ratio: null, note: 'not available' }]);
  });
});
