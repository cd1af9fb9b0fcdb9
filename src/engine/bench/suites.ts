import { adapterName } from '../../gpu/device.js';
import type { Gpu } from '../../gpu/gpu.js';
import { modelCaseShape, modelSuite, type ModelBenchCase } from './model.js';
import { kernelSuite, matchesFilter, type BenchEvent, type BenchRunOptions } from './runner.js';
import { trainCaseShape, trainSuite, type TrainBenchCase } from './train.js';
import type { BenchResult, BenchSuite, KernelBenchCase, ModelPeer, TrainPeer } from './types.js';

/**
 * One `ponder bench` run over one or more suites (`all` = kernels, then model, then train): a single
 * event stream framed by `start` (the total over every suite) and `done` (every row), so the views and
 * --save/--compare treat a run of several suites like a run of one. The ceilings are measured only
 * when the kernel suite runs (they give kernel rows their % of peak). With --peers, `peers` (matmul
 * peers) go to the kernel suite, `modelPeers` to the model suite and `trainPeers` to the train suite.
 */
export interface BenchCases {
  kernels: KernelBenchCase[];
  model: ModelBenchCase[];
  train: TrainBenchCase[];
}

/** One listed case: what `--list` prints and what the filter is matched against ("name shape"). */
export interface ListedCase {
  suite: BenchSuite;
  name: string;
  shape: string;
}

export function listCases(cases: Partial<BenchCases>, suites: readonly BenchSuite[], filter?: string): ListedCase[] {
  const out: ListedCase[] = [];
  for (const suite of suites) {
    if (suite === 'kernels') out.push(...(cases.kernels ?? []).map((c) => ({ suite, name: c.name, shape: c.shape })));
    if (suite === 'model') out.push(...(cases.model ?? []).map((c) => ({ suite, name: c.name, shape: modelCaseShape(c) })));
    if (suite === 'train') out.push(...(cases.train ?? []).map((c) => ({ suite, name: c.name, shape: trainCaseShape(c) })));
  }
  return out.filter((c) => matchesFilter(c, filter));
}

export interface RunBenchOptions extends BenchRunOptions {
  /** --peers: implementations that run the model suite's batch-1 prefill and decode too */
  modelPeers?: ModelPeer[];
  /** --peers: implementations that train the train suite's cases too */
  trainPeers?: TrainPeer[];
}

export async function* runBench(gpu: Gpu, cases: Partial<BenchCases>, suites: readonly BenchSuite[], opts: RunBenchOptions = {}): AsyncGenerator<BenchEvent> {
  const results: BenchResult[] = [];
  const total = listCases(cases, suites, opts.filter).length;
  const active = suites.filter((s) => listCases(cases, [s], opts.filter).length > 0);
  yield { type: 'start', total, adapter: adapterName(gpu.info), suites: active };
  for (const suite of active) {
    if (opts.signal?.aborted) break;
    const events =
      suite === 'kernels'
        ? kernelSuite(gpu, cases.kernels ?? [], opts)
        : suite === 'model'
          ? modelSuite(gpu, cases.model ?? [], { filter: opts.filter, signal: opts.signal, peers: opts.modelPeers })
          : trainSuite(gpu, cases.train ?? [], { filter: opts.filter, signal: opts.signal, peers: opts.trainPeers });
    for await (const ev of events) {
      if (ev.type === 'result') results.push(ev.result);
      yield ev;
    }
    gpu.pool.trim();
  }
  yield { type: 'done', results };
}
