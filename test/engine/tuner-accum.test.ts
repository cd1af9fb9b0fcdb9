import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TuneEvent, TuneStepEvent } from '../../src/engine/tuner-events.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { IGNORE_INDEX } from '../../src/ops/cross-entropy.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { planRecipe } from '../../src/recipe/plan.js';
import { loadLatestCheckpoint } from '../../src/train/checkpoint.js';
import { TrainableModel } from '../../src/train/trainable.js';
import { assertClose } from '../helpers/compare.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng } from '../helpers/random.js';
import { randomWeights, tinyConfig } from '../helpers/tiny-models.js';
import { tuneEvents } from '../helpers/tune-run.js';

/**
 * Gradient accumulation (a stage's grad_accum): two micro-batches of B rows scaled by 1 / (valid
 * targets of both) accumulate the same gradient as one batch of 2B rows (within f32 summation-order
 * error); through the Tuner, grad_accum 2 x batch 2 gives the loss and gradient norm of batch 4 x 1
 * step by step (same rows: batches take consecutive examples of one shuffled order), counts every
 * micro-batch's tokens, leaves the data cursor where batch 4 leaves it, and resumes bit-exactly.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-accum.yaml');

const tmp = mkdtempSync(join(tmpdir(), 'ponder-tuner-accum-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The fixture with its output under tmp; `oneBatch` turns 2 micro-batches of 2 into one batch of 4. */
function recipeIn(name: string, oneBatch = false): string {
  const path = join(tmp, `${name}.yaml`);
  let text = readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${join(tmp, name)}`);
  if (oneBatch) text = text.replace('batch_size: 2\n    grad_accum: 2', 'batch_size: 4\n    grad_accum: 1');
  assert.ok(text.includes(oneBatch ? 'batch_size: 4' : 'grad_accum: 2'));
  writeFileSync(path, text);
  return path;
}

const steps = (evs: TuneEvent[]) => evs.filter((e): e is TuneStepEvent => e.type === 'step');

describe('gradient accumulation', () => {
  it('TrainableModel: two accumulated micro-batches give the gradient of the whole batch', async () => {
    const gpu = await testGpu();
    const config = tinyConfig('qwen2');
    const B = 2;
    const T = 8;
    const r = rng(11);
    const inputs = Array.from(randomInts(2 * B * T, r, config.vocab_size));
    const targets = Array.from(randomInts(2 * B * T, r, config.vocab_size));
    for (const i of [1, 5, 20, 21]) targets[i] = IGNORE_INDEX;
    const valid = targets.filter((t) => t !== IGNORE_INDEX).length;
    const model = TrainableModel.create(gpu, config, randomWeights(config, 4));
    try {
      const grads = async () => Promise.all(model.params().map(async (p) => new Float32Array(await gpu.readF32(p.grad))));
      const half = B * T;
      model.zeroGrads();
      const l1 = model.step(inputs.slice(0, half), targets.slice(0, half), B, T, { gradScale: 1 / valid });
      const l2 = model.step(inputs.slice(half), targets.slice(half), B, T, { gradScale: 1 / valid });
      const accumulated = await grads();
      const accLoss = (await gpu.readF32(l1))[0]! + (await gpu.readF32(l2))[0]!;
      model.zeroGrads();
      const l = model.step(inputs, targets, 2 * B, T, { gradScale: 1 / valid });
      const whole = await grads();
      const wholeLoss = (await gpu.readF32(l))[0]!;
      for (const t of [l1, l2, l]) t.release();
      assertClose('summed loss', [accLoss], [wholeLoss], { rtol: 1e-5 });
      model.params().forEach((p, i) => assertClose(`grad ${p.name}`, accumulated[i]!, whole[i]!, { rtol: 1e-4, atol: 1e-5 }));
      // a wrong scale would not pass: the single micro-batch's gradient is not the whole one
      model.zeroGrads();
      model.step(inputs.slice(0, half), targets.slice(0, half), B, T, { gradScale: 1 / valid }).release();
      const partial = await grads();
      assert.throws(() => model.params().forEach((p, i) => assertClose(p.name, partial[i]!, whole[i]!, { rtol: 1e-4, atol: 1e-5 })));
    } finally {
      model.dispose();
    }
  });

  it('the Tuner: grad_accum 2 x batch 2 trains like batch 4; tokens, plan and data cursor count every micro-batch', async () => {
    const accumPath = recipeIn('accum');
    const onePath = recipeIn('one', true);
    const plan = planRecipe(loadRecipe(accumPath).recipe).stages[0]!;
    assert.deepEqual([plan.batch_size, plan.grad_accum, plan.effective_batch, plan.tokens_per_step], [2, 2, 4, 4 * 24]);
    assert.notEqual(loadRecipe(accumPath).hash, loadRecipe(onePath).hash);

    const accum = await tuneEvents(accumPath);
    const one = await tuneEvents(onePath);
    const stage = accum.find((e) => e.type === 'stage');
    assert.ok(stage?.type === 'stage' && stage.grad_accum === 2 && stage.batch_size === 2);
    const a = steps(accum);
    const b = steps(one);
    assert.equal(a.length, 3);
    // step 1 starts from the same weights on the same rows: loss and pre-clip gradient norm agree to
    // f32 summation order; later steps also carry the (tiny) differences of the earlier updates
    for (let k = 0; k < 3; k++) {
      const tol = { rtol: k === 0 ? 1e-4 : 1e-3, atol: 0 };
      assertClose(`loss at step ${k + 1}`, [a[k]!.loss], [b[k]!.loss], tol);
      assertClose(`grad norm at step ${k + 1}`, [a[k]!.grad_norm], [b[k]!.grad_norm], tol);
    }
    // tokens/s counts both micro-batches: (2 x 2 x 24 tokens) / step time
    for (const s of a) assertClose('tokens/s', [s.tokens_per_s], [(4 * 24) / (s.step_ms / 1000)], { rtol: 1e-3 });
    const cursorA = loadLatestCheckpoint(join(tmp, 'accum')).ckpt.data_cursor;
    const cursorB = loadLatestCheckpoint(join(tmp, 'one')).ckpt.data_cursor;
    assert.deepEqual(cursorA, cursorB);
    assert.deepEqual(cursorA, { epoch: 0, index: 12 }, '3 steps x 4 rows of 40 examples');
  });

  it('stopped after step 1 and resumed: bit-identical to the uninterrupted accumulating run', async () => {
    const path = recipeIn('accum-resumed');
    const part = await tuneEvents(path, { stopAfterStep: 1 });
    assert.equal(part.at(-1)!.type, 'interrupted');
    const rest = await tuneEvents(path, { resume: true });
    assert.deepEqual(steps(rest).map((s) => s.step), [2, 3]);
    const full = loadModelDir(join(tmp, 'accum/final')).weights;
    const resumed = loadModelDir(join(tmp, 'accum-resumed/final')).weights;
    for (const [name, t] of full) {
      const x = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
      const u = resumed.get(name)!.data;
      const y = new Uint32Array(u.buffer, u.byteOffset, u.length);
      assert.equal(x.findIndex((v, j) => v !== y[j]), -1, `${name} differs`);
    }
  });
});
