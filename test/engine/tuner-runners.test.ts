import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IGNORE_INDEX } from '../../src/data/batches.js';
import type { RunnerFactory, StageRunner } from '../../src/engine/stages/index.js';
import { STAGE_RUNNERS } from '../../src/engine/stages/index.js';
import { runTuner, type TunerOptions } from '../../src/engine/tuner.js';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { isPonderError } from '../../src/errors.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { isMtpWeight } from '../../src/model/config.js';
import { loadRecipe } from '../../src/recipe/load.js';
import type { StageKind } from '../../src/recipe/schema.js';
import { drawU32 } from '../../src/sample/rng.js';
import { STAGE_KINDS } from '../../src/recipe/schema.js';
import { readCheckpoint, type Json } from '../../src/train/checkpoint.js';
import { testGpu } from '../helpers/gpu.js';
import { assertSameBits } from '../helpers/tune-run.js';

/**
 * The Tuner is a shell: it runs a stage kind it has never heard of ("toy", a test-only runner passed
 * in through `runners`) exactly as it runs SFT — optimizer from the runner's params, the runner's
 * metrics in metrics.jsonl and the step events, its headline metric in the stage event, its state()
 * in each checkpoint — and a toy stage stopped part-way resumes bit-exactly from that state.
 *
 * The toy runner trains next-token prediction on random byte sequences drawn from a counter-based
 * stream (Philox(seed, draw)); its state is the draw counter, so a runner resumed without its state
 * would draw other sequences and end elsewhere.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');
const TOY_DOMAIN = 0x746f7921; // "toy!"

const tmp = mkdtempSync(join(tmpdir(), 'ponder-tuner-runners-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Every toy runner the factory built, with the state it was given. */
const built: { stage: number; resume: Json | undefined }[] = [];

const toyRunner: RunnerFactory = ({ gpu, model, recipe, stage, stageIndex, resume }): StageRunner => {
  built.push({ stage: stageIndex, resume });
  let draws = resume === undefined ? 0 : (resume as { draws: number }).draws;
  const B = stage.batch_size;
  const T = stage.seq_len;
  return {
    headline: 'reward',
    params: () => model.params().filter((p) => !isMtpWeight(p.name)),
    async step(_k, opt, lr) {
      const tokens: number[] = [];
      for (let i = 0; tokens.length < B * (T + 1); i++) for (const u of drawU32(recipe.seed, stageIndex, draws, i, TOY_DOMAIN)) tokens.push(u % 200);
      draws++;
      const inputs: number[] = [];
      const targets: number[] = [];
      for (let r = 0; r < B; r++) {
        for (let t = 0; t < T; t++) {
          inputs.push(tokens[r * (T + 1) + t]!);
          targets.push(t === T - 1 ? IGNORE_INDEX : tokens[r * (T + 1) + t + 1]!);
        }
      }
      const valid = B * (T - 1);
      model.zeroGrads();
      const lossT = model.step(inputs, targets, B, T, { gradScale: 1 / valid });
      const res = opt.step(lr);
      const loss = (await gpu.readF32(lossT))[0]! / valid;
      lossT.release();
      const [norm, skipped] = await gpu.readF32(res);
      res.release();
      return { metrics: { loss, reward: 1 / (1 + loss), draws }, grad_norm: norm!, skipped: skipped !== 0, tokens: B * T, detail: { draws } };
    },
    state: () => ({ draws }),
    dispose() {},
  };
};

/** The tiny recipe with its first stage of kind "toy" (a kind the recipe schema does not know). */
function toyRecipe(name: string) {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(path, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${join(tmp, name)}`));
  const loaded = loadRecipe(path);
  loaded.recipe.stages[0] = { ...loaded.recipe.stages[0]!, kind: 'toy' as StageKind };
  return loaded;
}

async function collect(name: string, opts: TunerOptions = {}): Promise<TuneEvent[]> {
  const gpu = await testGpu();
  const events: TuneEvent[] = [];
  for await (const e of runTuner(gpu, toyRecipe(name), { maxEvalProblems: 1, runners: { toy: toyRunner }, ...opts })) events.push(e);
  return events;
}

const finalWeights = (name: string) => loadModelDir(join(tmp, name, 'final')).weights;
const metricLines = (name: string) => readFileSync(join(tmp, name, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the Tuner as a shell over stage runners', () => {
  it('the registry has a runner for every built-in kind', () => {
    assert.deepEqual(Object.keys(STAGE_RUNNERS).sort(), [...STAGE_KINDS].sort());
  });

  it('runs a test-only kind: its metrics, headline and state reach the events, metrics.jsonl and checkpoints', async () => {
    built.length = 0;
    const evs = await collect('plain');
    assert.equal(evs.at(-1)!.type, 'done');
    const stage = evs.find((e) => e.type === 'stage');
    assert.ok(stage?.type === 'stage' && stage.kind === ('toy' as StageKind) && stage.headline === 'reward', JSON.stringify(stage));
    const toySteps = evs.filter((e) => e.type === 'step' && e.stage === 0);
    assert.equal(toySteps.length, 12);
    toySteps.forEach((e, i) => {
      assert.ok(e.type === 'step');
      assert.equal(e.metrics.draws, i + 1);
      assert.equal(e.metrics.reward, 1 / (1 + e.loss));
      assert.equal(e.metrics.loss, e.loss);
      assert.deepEqual(e.detail, { draws: i + 1 });
    });
    // the SFT stage after it still runs through its own runner: loss only
    const sftStep = evs.find((e) => e.type === 'step' && e.stage === 1);
    assert.ok(sftStep?.type === 'step' && Object.keys(sftStep.metrics).join() === 'loss');
    assert.deepEqual(built, [{ stage: 0, resume: undefined }]);
    const lines = metricLines('plain').filter((l) => l.stage === 0 && 'loss' in l);
    assert.deepEqual(lines.map((l) => l.draws), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for (const l of lines) assert.equal(l.reward, 1 / (1 + (l.loss as number)));
    // evals of a kind the shell does not know still run (every 8 steps and at the stage end)
    assert.deepEqual(evs.filter((e) => e.type === 'eval').map((e) => e.step), [8, 12]);
  });

  it('stopped mid-stage, the checkpoint holds the runner state; the resumed runner gets it and ends bit-identical', async () => {
    built.length = 0;
    const part = await collect('resumed', { stopAfterStep: 6 });
    const stop = part.at(-1)!;
    assert.ok(stop.type === 'interrupted' && stop.step === 6);
    assert.deepEqual(readCheckpoint(stop.checkpoint).data_cursor, { draws: 6 });
    const rest = await collect('resumed', { resume: true });
    assert.equal(rest.at(-1)!.type, 'done');
    assert.deepEqual(built, [{ stage: 0, resume: undefined }, { stage: 0, resume: { draws: 6 } }]);
    assert.deepEqual(rest.filter((e) => e.type === 'step' && e.stage === 0).map((e) => e.type === 'step' && e.metrics.draws), [7, 8, 9, 10, 11, 12]);
    assertSameBits(finalWeights('plain'), finalWeights('resumed'), 'toy stage stopped and resumed vs uninterrupted');
    // the run's clock goes on across the resume: time_s never falls, and the run line ends it
    const lines = metricLines('resumed');
    const times = lines.filter((l) => 'loss' in l).map((l) => l.time_s as number);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    const run = lines.at(-1)!;
    assert.equal(run.run, 'done');
    assert.ok((run.elapsed_s as number) >= times.at(-1)!);
  });

  it('a runner metric named like a field the shell writes is refused', async () => {
    const clash: RunnerFactory = async (ctx) => {
      const inner = await toyRunner(ctx);
      return { ...inner, step: async (k, opt, lr) => ({ ...(await inner.step(k, opt, lr)), metrics: { loss: 1, lr: 2 } }) };
    };
    const gpu = await testGpu();
    await assert.rejects(
      async () => {
        for await (const _ of runTuner(gpu, toyRecipe('clash'), { runners: { toy: clash } })) void _;
      },
      /runner reports a metric named "lr"/,
    );
  });

  it('a kind without a runner is one clear error', async () => {
    const gpu = await testGpu();
    await assert.rejects(
      async () => {
        for await (const _ of runTuner(gpu, toyRecipe('unknown'))) void _;
      },
      (e: unknown) => isPonderError(e) && /stage "pre": no runner for stage kind "toy"/.test(e.message),
    );
  });
});
