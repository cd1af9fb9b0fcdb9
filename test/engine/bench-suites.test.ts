import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { greedyTokens, modelSuite, PEER_CHECK_TOKENS, type ModelBenchCase } from '../../src/engine/bench/model.js';
import type { SuiteEvent } from '../../src/engine/bench/runner.js';
import { listCases, runBench } from '../../src/engine/bench/suites.js';
import { benchTrainCase, trainSuite, type TrainBenchCase } from '../../src/engine/bench/train.js';
import type { BenchResult, ModelBenchResult, ModelPeer, ModelPeerRun, TrainBenchResult } from '../../src/engine/bench/types.js';
import { trainingMemoryFloor } from '../../src/train/memory-floor.js';
import { testGpu } from '../helpers/gpu.js';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { saveModelDir } from '../../src/io/model-dir.js';
import { randomWeights, tinyConfig } from '../helpers/tiny-models.js';
import { readHfModel } from '../../src/io/hf-import.js';
import { Transformer } from '../../src/model/transformer.js';
import type { Gpu } from '../../src/gpu/gpu.js';

/** The model and train suites on tiny configs (figures are checked for sense, never for speed). */
const config = tinyConfig('qwen2', { vocab_size: 263, num_hidden_layers: 1 });

function trainCase(overrides: Partial<TrainBenchCase> = {}): TrainBenchCase {
  return { name: 'tiny', stage: 'bench', config, batch: 2, seqLen: 16, steps: 2, warmup: 1, optimizer: { lr: 1e-3, gradClip: 1 }, ...overrides };
}

async function collect(events: AsyncIterable<SuiteEvent>): Promise<SuiteEvent[]> {
  const out: SuiteEvent[] = [];
  for await (const ev of events) out.push(ev);
  return out;
}

describe('bench train', () => {
  it('a 2-step case reports tokens/s, step ms and a peak at or above the memory floor', async () => {
    const gpu = await testGpu();
    const r = await benchTrainCase(gpu, trainCase());
    assert.equal(r.suite, 'train');
    assert.equal(r.shape, 'bench B2 T16');
    assert.equal(r.steps, 2);
    assert.ok(r.ms_median > 0 && r.ms_p10 <= r.ms_median && r.ms_median <= r.ms_p90, JSON.stringify(r));
    // 2 steps of 32 tokens: tokens/s and the step times describe the same steps
    const tps = (2 * 16) / (r.ms_median / 1000);
    assert.ok(r.tokens_per_s > tps / 3 && r.tokens_per_s < tps * 3, `${r.tokens_per_s} vs ${tps}`);
    assert.equal(r.floor_bytes, trainingMemoryFloor(config, 2, 16).total);
    assert.ok(r.peak_over_floor >= 1 && r.peak_over_floor < 1.5, `peak/floor ${r.peak_over_floor}`);
    assert.equal(r.peak_over_floor, r.peak_bytes / r.floor_bytes);
    assert.ok(Number.isFinite(r.loss) && r.loss > 0);
    // every step records the same work: a whole number of dispatches, and at least the readback's submit
    assert.ok(Number.isInteger(r.dispatches_per_step) && r.dispatches_per_step! > 0, JSON.stringify(r));
    assert.ok(r.submits_per_step! >= 1 && r.submits_per_step! <= r.dispatches_per_step!);
  });

  it('the suite filters by "name shape" and reports a failing case as an error row', async () => {
    const gpu = await testGpu();
    const bad = trainCase({ name: 'broken', optimizer: { lr: -1 } });
    const evs = await collect(trainSuite(gpu, [trainCase({ name: 'other' }), bad], { filter: 'broken' }));
    assert.deepEqual(evs.map((e) => e.type), ['case', 'error']);
    const err = evs[1] as Extract<SuiteEvent, { type: 'error' }>;
    assert.equal(err.suite, 'train');
    assert.match(err.message, /lr must be a finite number >= 0/);
    assert.ok(!err.message.includes('\n'));
  });
});

describe('bench model', () => {
  const cases: ModelBenchCase[] = [1, 4].flatMap((batch) =>
    (['pp', 'tg'] as const).map((test) => ({ name: 'tiny', config, test, batch, promptTokens: 6, decodeTokens: 3 })),
  );

  it('batch 1 and batch 4: pp and tg rows, tokens counted over every sequence, roofline scales with the batch', async () => {
    const gpu = await testGpu();
    const evs = await collect(modelSuite(gpu, cases));
    const rows = evs.filter((e) => e.type === 'result').map((e) => (e as { result: BenchResult }).result as ModelBenchResult);
    assert.deepEqual(evs.filter((e) => e.type === 'error'), []);
    assert.deepEqual(rows.map((r) => r.shape), ['pp6 B1', 'tg3 B1', 'pp6 B4', 'tg3 B4']);
    for (const r of rows) {
      assert.equal(r.suite, 'model');
      assert.ok(r.ms_median > 0 && r.tokens_per_s > 0);
    }
    const [pp1, tg1, pp4, tg4] = rows;
    // pp: batch × prompt tokens in one prefill
    assert.ok(Math.abs(pp4!.tokens_per_s - (4 * 6) / (pp4!.ms_median / 1000)) < 1e-6 * pp4!.tokens_per_s);
    assert.equal(pp1!.roofline_tokens_per_s, null);
    // one decode step reads the weights once for every sequence of the batch
    assert.ok(Math.abs(tg4!.roofline_tokens_per_s! / tg1!.roofline_tokens_per_s! - 4) < 1e-9);
    assert.ok(tg4!.pct_of_roofline! > 0);
    // a decode step is one forward whatever the batch: the same kernels, counted the same, less the
    // projections fused at 4 rows (gate+up, and k+v without biases; see test/model/fused-projections)
    assert.ok(Number.isInteger(tg1!.dispatches_per_step) && tg1!.dispatches_per_step! > 0, JSON.stringify(tg1));
    assert.equal(tg1!.dispatches_per_step! - tg4!.dispatches_per_step!, (config.attention_bias ? 1 : 2) * config.num_hidden_layers);
    assert.ok(tg1!.submits_per_step! >= 1 && tg1!.submits_per_step! <= tg1!.dispatches_per_step!);
    assert.equal(pp1!.dispatches_per_step, undefined);
  });

  it('MTP drafting rows: tokens/s, rounds as ms, acceptance, and the trunk-only roofline; batch > 1 is an error row', async () => {
    const gpu = await testGpu();
    const withMtp = tinyConfig('qwen2', { vocab_size: 263, num_hidden_layers: 1, num_nextn_predict_layers: 1 });
    const mtpCases: ModelBenchCase[] = [
      { name: 'tiny-mtp', config: withMtp, test: 'tg', batch: 1, promptTokens: 6, decodeTokens: 8 },
      { name: 'tiny-mtp', config: withMtp, test: 'tg', batch: 1, promptTokens: 6, decodeTokens: 8, mtp: 1 },
      { name: 'tiny-mtp', config: withMtp, test: 'tg', batch: 2, promptTokens: 6, decodeTokens: 8, mtp: 1 },
    ];
    const evs = await collect(modelSuite(gpu, mtpCases));
    const rows = evs.filter((e) => e.type === 'result').map((e) => (e as { result: BenchResult }).result as ModelBenchResult);
    assert.deepEqual(rows.map((r) => r.shape), ['tg8 B1', 'tg8 B1 mtp1']);
    const [plain, drafting] = rows;
    assert.equal(plain!.mtp, undefined);
    assert.equal(drafting!.mtp, 1);
    assert.ok(drafting!.acceptance! >= 0 && drafting!.acceptance! <= 1);
    assert.ok(drafting!.tokens_per_s > 0 && drafting!.ms_median > 0);
    // plain passes alternate with the drafting ones: the speedup is the median of their ratios
    assert.ok(drafting!.plain_tokens_per_s! > 0, JSON.stringify(drafting));
    assert.ok(drafting!.speedup! > 0 && Number.isFinite(drafting!.speedup), JSON.stringify(drafting));
    assert.equal(plain!.speedup, undefined);
    assert.equal(plain!.plain_tokens_per_s, undefined);
    assert.equal(drafting!.roofline_tokens_per_s, plain!.roofline_tokens_per_s, 'both read the trunk weights per token at best');
    const trunkParams = rows[0]!.params;
    const noMtp = tinyConfig('qwen2', { vocab_size: 263, num_hidden_layers: 1 });
    const trunkOnly = (await collect(modelSuite(gpu, [{ name: 't', config: noMtp, test: 'pp', batch: 1, promptTokens: 2, decodeTokens: 1 }])))
      .filter((e) => e.type === 'result')
      .map((e) => (e as { result: ModelBenchResult }).result.params)[0];
    assert.equal(trunkParams, trunkOnly, 'params and weight bytes count the trunk');
    const err = evs.find((e) => e.type === 'error') as { shape: string; message: string } | undefined;
    assert.equal(err?.shape, 'tg8 B2 mtp1');
    assert.match(err!.message, /one sequence/);
  });

  it('a real-weights case decodes after its encoded chat prompt, plain and with the model\'s MTP module drafting', async () => {
    const gpu = await testGpu();
    const real = tinyConfig('llama', { vocab_size: 263, num_nextn_predict_layers: 1 });
    const dir = join(mkdtempSync(join(tmpdir(), 'ponder-bench-real-')), 'm');
    saveModelDir(dir, { config: { ...real, ponder: { tokenizer: 'bytes' } }, weights: randomWeights(real, 9) });
    try {
      const base = { name: 'real', config: real, model: dir, prompt: 'What is 2+3?', test: 'tg' as const, batch: 1, promptTokens: 0, decodeTokens: 6 };
      const evs = await collect(modelSuite(gpu, [base, { ...base, mtp: 1 }]));
      assert.deepEqual(evs.filter((e) => e.type === 'error'), []);
      const rows = evs.filter((e) => e.type === 'result').map((e) => (e as { result: ModelBenchResult }).result);
      assert.deepEqual(rows.map((r) => r.shape), ['tg6 B1', 'tg6 B1 mtp1']);
      assert.ok(rows[1]!.acceptance! >= 0 && rows[1]!.acceptance! <= 1);
      const trunk = [...randomWeights(real, 9)].filter(([n]) => !n.startsWith('model.mtp_layers.')).reduce((a, [, t]) => a + t.data.length, 0);
      assert.equal(rows[0]!.params, trunk);
    } finally {
      rmSync(dirname(dir), { recursive: true, force: true });
    }
  });

  it('a decode case alone still prefills first (untimed), and the case indices count from 0', async () => {
    const gpu = await testGpu();
    const evs = await collect(modelSuite(gpu, cases, { filter: 'tg3 B4' }));
    assert.deepEqual(evs.map((e) => [e.type, (e as { index?: number }).index]), [['case', 0], ['result', 0]]);
  });
});

describe('runBench', () => {
  it('frames the suites in one stream: start with the total, each suite from index 0, done with every row', async () => {
    const gpu = await testGpu();
    const model: ModelBenchCase[] = [{ name: 'tiny', config, test: 'pp', batch: 1, promptTokens: 4, decodeTokens: 1 }];
    const train = [trainCase({ steps: 1 })];
    assert.deepEqual(listCases({ model, train }, ['model', 'train']).map((c) => `${c.suite}/${c.name} ${c.shape}`), ['model/tiny pp4 B1', 'train/tiny bench B2 T16']);
    const evs = [];
    for await (const ev of runBench(gpu, { model, train }, ['kernels', 'model', 'train'])) evs.push(ev);
    assert.deepEqual(evs[0], { type: 'start', total: 2, adapter: (evs[0] as { adapter: string }).adapter, suites: ['model', 'train'] });
    const starts = evs.filter((e) => e.type === 'case').map((e) => [(e as { suite: string }).suite, (e as { index: number }).index]);
    assert.deepEqual(starts, [['model', 0], ['train', 0]]);
    const done = evs.at(-1) as { type: string; results: BenchResult[] };
    assert.equal(done.type, 'done');
    assert.deepEqual(done.results.map((r) => r.suite), ['model', 'train']);
    assert.ok((done.results[1] as TrainBenchResult).peak_over_floor >= 1);
  });
});

/**
 * Model peers without Python: `fake` reads the directory the suite wrote (as an HF model) and
 * greedy-decodes it with ponder itself, so its tokens equal ponder's only if the directory holds the
 * very weights ponder benchmarked; `liar` reports other tokens; `broken` cannot open.
 */
interface FakeCall {
  dir: string;
  files: string[];
  prompt: number[];
  decodeTokens: number;
}

function fakePeer(gpu: Gpu, name: string, opts: { lie?: boolean; openError?: string; runError?: string } = {}): ModelPeer & { calls: FakeCall[]; closed: number; opened: number } {
  const peer = {
    name,
    calls: [] as FakeCall[],
    closed: 0,
    opened: 0,
    async open() {
      peer.opened++;
      if (opts.openError) throw new Error(`${opts.openError}\nsecond line`);
      return `${name} 1.0`;
    },
    async timeDecode(dir: string, prompt: number[], decodeTokens: number): Promise<ModelPeerRun> {
      peer.calls.push({ dir, files: readdirSync(dir).sort(), prompt, decodeTokens });
      if (opts.runError) throw new Error(`${opts.runError}\nTraceback`);
      const { config, weights } = readHfModel(dir);
      const m = Transformer.load(gpu, config, weights);
      let tokens: number[];
      try {
        tokens = await greedyTokens(gpu, m, prompt, decodeTokens + 1);
      } finally {
        m.dispose();
      }
      if (opts.lie) tokens[1] = (tokens[1]! + 1) % config.vocab_size;
      return { prefillMs: 2, decodeMsMedian: 1, decodeMsTotal: 4 * decodeTokens, steps: decodeTokens, tokens };
    },
    async close() {
      peer.closed++;
    },
  };
  return peer;
}

describe('bench model --peers', () => {
  const withMtp = tinyConfig('qwen2', { vocab_size: 263, num_hidden_layers: 1, num_nextn_predict_layers: 1 });
  const base = { name: 'tiny', config: withMtp, promptTokens: 6, decodeTokens: 5 };
  const cases: ModelBenchCase[] = [
    { ...base, test: 'pp', batch: 1 },
    { ...base, test: 'tg', batch: 1 },
    { ...base, test: 'tg', batch: 1, mtp: 1 },
    { ...base, test: 'pp', batch: 2 },
    { ...base, test: 'tg', batch: 2 },
  ];

  it('batch-1 pp and plain tg rows get each peer\'s tokens/s and ratio; differing tokens and a failed open are notes, never figures', async () => {
    const gpu = await testGpu();
    const fake = fakePeer(gpu, 'fake');
    const liar = fakePeer(gpu, 'liar', { lie: true });
    const broken = fakePeer(gpu, 'broken', { openError: 'no such thing' });
    const evs = await collect(modelSuite(gpu, cases, { peers: [fake, liar, broken] }));
    assert.deepEqual(evs.filter((e) => e.type === 'error'), []);
    assert.deepEqual(evs.filter((e) => e.type === 'note').map((e) => (e as { message: string }).message), ['peer fake: fake 1.0', 'peer liar: liar 1.0', 'peer broken: skipped (no such thing)']);
    const rows = evs.filter((e) => e.type === 'result').map((e) => (e as { result: ModelBenchResult }).result);
    assert.deepEqual(rows.map((r) => [r.shape, Boolean(r.peers)]), [['pp6 B1', true], ['tg5 B1', true], ['tg5 B1 mtp1', false], ['pp6 B2', false], ['tg5 B2', false]]);
    const [pp, tg] = rows;
    // the fake's prefill took 2 ms for 6 tokens, its 5 decode steps 20 ms
    assert.equal(pp!.peers![0]!.peer, 'fake');
    assert.equal(pp!.peers![0]!.tokens_per_s, 6 / 0.002);
    assert.ok(Math.abs(pp!.peers![0]!.ratio! - pp!.tokens_per_s / 3000) < 1e-9 * pp!.peers![0]!.ratio!);
    assert.equal(tg!.peers![0]!.tokens_per_s, 5 / 0.02);
    assert.ok(Math.abs(tg!.peers![0]!.ratio! - tg!.tokens_per_s / 250) < 1e-9 * tg!.peers![0]!.ratio!);
    for (const r of [pp!, tg!]) {
      const [, l, b] = r.peers!;
      assert.deepEqual({ ...l, note: undefined }, { peer: 'liar', tokens_per_s: null, ratio: null, note: undefined });
      assert.match(l!.note!, /^its greedy tokens differ from ponder's: \d+ \d+ \d+ \d+ vs \d+ \d+ \d+ \d+$/);
      assert.deepEqual(b, { peer: 'broken', tokens_per_s: null, ratio: null, note: 'not available' });
    }
    // one run per model shape, on the case's synthetic prompt, of an HF-style directory removed afterwards
    assert.equal(fake.calls.length, 1);
    const call = fake.calls[0]!;
    assert.deepEqual(call.prompt, [0, 7919 % 263, (2 * 7919) % 263, (3 * 7919) % 263, (4 * 7919) % 263, (5 * 7919) % 263]);
    assert.equal(call.decodeTokens, 5);
    assert.deepEqual(call.files, ['config.json', 'model.safetensors']);
    assert.equal(existsSync(call.dir), false);
    assert.equal(broken.calls.length, 0);
    assert.deepEqual([fake.closed, liar.closed, broken.closed], [1, 1, 0]);
  });

  it('a peer whose run fails gets its one-line error as the note; a prefill alone still checks the first greedy tokens', async () => {
    const gpu = await testGpu();
    const failing = fakePeer(gpu, 'failing', { runError: 'CUDA out of memory' });
    const fake = fakePeer(gpu, 'fake');
    const evs = await collect(modelSuite(gpu, cases, { peers: [failing, fake], filter: 'pp6 B1' }));
    const rows = evs.filter((e) => e.type === 'result').map((e) => (e as { result: ModelBenchResult }).result);
    assert.deepEqual(rows.map((r) => r.shape), ['pp6 B1']);
    assert.deepEqual(rows[0]!.peers![0], { peer: 'failing', tokens_per_s: null, ratio: null, note: 'CUDA out of memory' });
    assert.ok(rows[0]!.peers![1]!.tokens_per_s! > 0);
    // with no decode case the peer still decodes enough steps for the token check
    assert.equal(fake.calls[0]!.decodeTokens, PEER_CHECK_TOKENS - 1);
  });

  it('peers are not opened when no batch-1 prefill or plain decode case runs', async () => {
    const gpu = await testGpu();
    const fake = fakePeer(gpu, 'fake');
    const evs = await collect(modelSuite(gpu, cases, { peers: [fake], filter: '/B2|mtp1/' }));
    assert.equal(fake.opened, 0);
    assert.deepEqual(evs.filter((e) => e.type === 'note'), []);
    assert.ok(evs.filter((e) => e.type === 'result').every((e) => !(e as { result: ModelBenchResult }).result.peers));
  });

  it('runBench hands modelPeers to the model suite', async () => {
    const gpu = await testGpu();
    const fake = fakePeer(gpu, 'fake');
    const evs = [];
    for await (const ev of runBench(gpu, { model: cases }, ['model'], { filter: 'pp6 B1', modelPeers: [fake] })) evs.push(ev);
    const done = evs.at(-1) as { results: ModelBenchResult[] };
    assert.equal(done.results[0]!.peers![0]!.peer, 'fake');
    assert.ok(done.results[0]!.peers![0]!.ratio! > 0);
  });
});
