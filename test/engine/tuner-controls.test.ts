import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTuner, TunerControl, type TunerOptions } from '../../src/engine/tuner.js';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { testGpu } from '../helpers/gpu.js';
import { assertSameBits } from '../helpers/tune-run.js';

/**
 * Live controls on the tiny recipe (12 pretrain steps with eval, 4 SFT steps without): pause blocks
 * the run until resumed (no step runs meanwhile), checkpoint-now and evaluate-now act at the step
 * boundary (or answer with a notice / warning), quit and an abort during a pause stop with a
 * checkpoint — and none of it changes the trajectory: the final weights are bit-identical to a run
 * without controls.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');

const tmp = mkdtempSync(join(tmpdir(), 'ponder-tuner-controls-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function recipeIn(name: string): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(path, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${join(tmp, name)}`));
  return path;
}

/** Runs the recipe; `onEvent` sees each event before the Tuner continues (the generator is lazy). */
async function collect(path: string, opts: TunerOptions = {}, onEvent: (e: TuneEvent) => void = () => {}): Promise<TuneEvent[]> {
  const gpu = await testGpu();
  const events: TuneEvent[] = [];
  // one eval problem: evaluations only read the weights, and fewer keep the test fast
  for await (const e of runTuner(gpu, loadRecipe(path), { maxEvalProblems: 1, ...opts })) {
    events.push(e);
    onEvent(e);
  }
  return events;
}

const finalWeights = (name: string) => loadModelDir(join(tmp, name, 'final')).weights;
const stepsOf = (evs: TuneEvent[]) => evs.filter((e) => e.type === 'step').map((e) => `${e.stage}:${e.step}`);

describe('TunerControl', () => {
  it('changed() waits for the next control call or the abort signal, without polling', async () => {
    const c = new TunerControl();
    let woke = false;
    const p = c.changed().then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(woke, false);
    c.checkpointNow();
    await p;
    assert.deepEqual(c.take(), { checkpoint: true, evaluate: false, quit: false });
    assert.deepEqual(c.take(), { checkpoint: false, evaluate: false, quit: false }, 'one-shot requests clear');
    const abort = new AbortController();
    const q = c.changed(abort.signal);
    abort.abort();
    await q;
    await c.changed(abort.signal); // already aborted: at once
    c.quit();
    assert.equal(c.take().quit, true);
    assert.equal(c.take().quit, true, 'quit stays requested');
  });

  it('pause / checkpoint now / evaluate now during a run leave the final weights bit-identical', async () => {
    const plain = await collect(recipeIn('plain'));
    const control = new TunerControl();
    let resumeAt = 0;
    const evs = await collect(recipeIn('controlled'), { control }, (e) => {
      if (e.type === 'step' && e.stage === 0 && e.step === 2) control.pause();
      if (e.type === 'paused') {
        control.checkpointNow();
        control.evaluateNow();
        resumeAt = performance.now() + 60;
        setTimeout(() => control.resume(), 60);
      }
      if (e.type === 'step' && e.stage === 0 && e.step === 5) control.evaluateNow();
      if (e.type === 'step' && e.stage === 1 && e.step === 2) control.evaluateNow(); // the SFT stage has no eval:
      if (e.type === 'step' && e.stage === 1 && e.step === 4) control.checkpointNow(); // the stage end writes one anyway
    });
    assert.equal(evs.at(-1)!.type, 'done');
    assert.deepEqual(stepsOf(evs), stepsOf(plain));

    // the pause: after step 2, acted on the requests, no step until resumed (>= 60 ms later)
    const i = evs.findIndex((e) => e.type === 'paused');
    assert.deepEqual(evs[i], { type: 'paused', step: 2, stage: 0 });
    assert.deepEqual(evs.slice(i + 1, i + 5).map((e) => e.type), ['eval', 'sample', 'checkpoint', 'resumed']);
    const resumed = evs[i + 4]!;
    assert.ok(resumed.type === 'resumed' && resumed.paused_s >= 0.05, JSON.stringify(resumed));
    assert.ok(performance.now() >= resumeAt);
    const ckpt = evs[i + 3]!;
    assert.ok(ckpt.type === 'checkpoint' && ckpt.step === 2 && ckpt.path.endsWith('step-000002.ckpt'));
    assert.deepEqual(evs.filter((e) => e.type === 'eval').map((e) => e.step), [2, 5, 8, 12]);
    const warning = evs.find((e) => e.type === 'warning');
    assert.ok(warning?.type === 'warning' && warning.request === 'evaluate' && /stage "chat" has no eval/.test(warning.message));
    const notice = evs.find((e) => e.type === 'notice');
    assert.ok(notice?.type === 'notice' && notice.request === 'checkpoint' && /already written/.test(notice.message));

    assertSameBits(finalWeights('plain'), finalWeights('controlled'), 'with controls vs without');
  });

  it('an abort while paused and quit stop with a checkpoint; resuming ends bit-identical', async () => {
    const path = recipeIn('stopped');
    const abort = new AbortController();
    const control = new TunerControl();
    const a = await collect(path, { control, signal: abort.signal }, (e) => {
      if (e.type === 'step' && e.step === 3) control.pause();
      if (e.type === 'paused') setTimeout(() => abort.abort(), 20);
    });
    assert.deepEqual(a.slice(-3).map((e) => e.type), ['resumed', 'checkpoint', 'interrupted']);
    assert.deepEqual(a.at(-1), { type: 'interrupted', step: 3, checkpoint: join(tmp, 'stopped/checkpoints/step-000003.ckpt'), reason: 'signal' });

    const quitter = new TunerControl();
    const b = await collect(path, { resume: true, control: quitter }, (e) => {
      if (e.type === 'step' && e.step === 5) quitter.quit();
    });
    assert.deepEqual(stepsOf(b), ['0:4', '0:5']);
    const stop = b.at(-1)!;
    assert.ok(stop.type === 'interrupted' && stop.reason === 'quit' && stop.step === 5, JSON.stringify(stop));
    assert.ok(existsSync(stop.checkpoint));

    const c = await collect(path, { resume: true });
    assert.equal(c.at(-1)!.type, 'done');
    assertSameBits(finalWeights('plain'), finalWeights('stopped'), 'stopped twice and resumed vs uninterrupted');
  });
});
