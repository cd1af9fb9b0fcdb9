import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initScratchWeights, runTuner, type TunerOptions } from '../../src/engine/tuner.js';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { isPonderError } from '../../src/errors.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import type { Weights } from '../../src/model/config.js';
import { loadRecipe, parseRecipe } from '../../src/recipe/load.js';
import { runPonder } from '../helpers/cli.js';
import { testGpu } from '../helpers/gpu.js';
import { assertSameBits } from '../helpers/tune-run.js';

/**
 * The Tuner on a tiny recipe (hidden 32, 2 layers, byte vocabulary, seq_len 24, batch 4, 12 steps,
 * checkpoints every 4): it trains (loss falls), logs metrics, writes final/, and — the key property —
 * a run stopped part-way and resumed ends with weights bit-identical to an uninterrupted run's, both
 * in-process (stopAfterStep) and through the real executable killed with SIGKILL.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECIPE = join(ROOT, 'test/fixtures/recipes/tiny-train.yaml');
const BIN = join(ROOT, 'bin/ponder.js');

const tmp = mkdtempSync(join(tmpdir(), 'ponder-tuner-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The fixture with its output in a fresh directory under tmp (same recipe otherwise). */
function recipeIn(name: string): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(path, readFileSync(RECIPE, 'utf8').replace(/^output: .*$/m, `output: ${join(tmp, name)}`));
  return path;
}

async function collect(path: string, opts: TunerOptions = {}): Promise<TuneEvent[]> {
  const gpu = await testGpu();
  const events: TuneEvent[] = [];
  for await (const e of runTuner(gpu, loadRecipe(path), opts)) events.push(e);
  return events;
}

function stepLines(metricsPath: string): { stage: number; step: number }[] {
  return readFileSync(metricsPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => 'loss' in r);
}

let full: Weights | undefined;
const STEPS0 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const ALL_STEPS = [...STEPS0.map((k) => `0:${k}`), '1:1', '1:2', '1:3', '1:4'];

describe('runTuner', () => {
  it('scratch init is deterministic: normal(0, 0.02), ones for norms', () => {
    const { recipe } = loadRecipe(RECIPE, { cwd: tmp });
    const a = initScratchWeights(recipe.model.config, 3);
    const b = initScratchWeights(recipe.model.config, 3);
    assertSameBits(a, b, 'same seed');
    const c = initScratchWeights(recipe.model.config, 4);
    assert.notDeepEqual(c.get('model.embed_tokens.weight')!.data, a.get('model.embed_tokens.weight')!.data);
    assert.ok(a.get('model.norm.weight')!.data.every((x) => x === 1));
    const e = a.get('model.embed_tokens.weight')!.data;
    const mean = e.reduce((s, x) => s + x, 0) / e.length;
    const std = Math.sqrt(e.reduce((s, x) => s + (x - mean) ** 2, 0) / e.length);
    assert.ok(Math.abs(mean) < 0.002 && Math.abs(std - 0.02) < 0.002, `mean ${mean} std ${std}`);
  });

  it('trains the tiny recipe: events, falling loss, metrics.jsonl, checkpoints, a loadable final/', async () => {
    const path = recipeIn('full');
    const events = await collect(path);
    const types = new Set(events.map((e) => e.type));
    for (const t of ['start', 'stage', 'step', 'eval', 'sample', 'checkpoint', 'done']) assert.ok(types.has(t as TuneEvent['type']), `no ${t} event`);
    const all = events.filter((e) => e.type === 'step');
    assert.deepEqual(all.map((s) => `${s.stage}:${s.step}`), [...STEPS0.map((k) => `0:${k}`), '1:1', '1:2', '1:3', '1:4']);
    assert.deepEqual(events.filter((e) => e.type === 'stage').map((e) => e.name), ['pre', 'chat']);
    const steps = all.filter((s) => s.stage === 0);
    for (const s of steps) {
      assert.ok(Number.isFinite(s.loss) && Number.isFinite(s.grad_norm) && s.tokens_per_s > 0 && s.gpu_mem_bytes > 0);
      assert.equal(s.skipped, false);
    }
    const first = steps[0]!.loss;
    const last = steps.at(-1)!.loss;
    assert.ok(first > 4.5 && last < first - 1, `loss ${first} -> ${last}`);
    assert.equal(steps[0]!.lr, 0); // warmup starts at 0
    assert.deepEqual(events.filter((e) => e.type === 'checkpoint').map((e) => e.step), [4, 8, 12, 16]);
    const evals = events.filter((e) => e.type === 'eval');
    assert.deepEqual(evals.map((e) => e.step), [8, 12]);
    for (const e of evals) assert.ok(e.n === 3 && e.accuracy >= 0 && e.accuracy <= 1);

    const out = join(tmp, 'full');
    const lines = stepLines(join(out, 'metrics.jsonl'));
    assert.deepEqual(lines.map((l) => `${l.stage}:${l.step}`), ALL_STEPS);
    for (const l of lines) for (const k of ['stage', 'step', 'loss', 'lr', 'grad_norm', 'tokens_per_s']) assert.ok(k in l, `metrics line without ${k}`);
    const done = events.at(-1)!;
    assert.equal(done.type, 'done');
    assert.equal(done.type === 'done' && done.final_dir, join(out, 'final'));
    const m = loadModelDir(join(out, 'final'));
    assert.equal(m.tokenizerKind, 'bytes');
    assert.equal(m.config.hidden_size, 32);
    full = m.weights;
  });

  it('stopped after step 6, resumed, stopped at the stage boundary, resumed: final weights bit-identical to the uninterrupted run', async () => {
    assert.ok(full, 'needs the previous test');
    const path = recipeIn('resumed');
    const part = await collect(path, { stopAfterStep: 6 });
    const stop = part.at(-1)!;
    assert.equal(stop.type, 'interrupted');
    assert.equal(stop.type === 'interrupted' && stop.step, 6);
    assert.ok(existsSync(join(tmp, 'resumed/checkpoints/step-000006.ckpt')));
    assert.ok(!existsSync(join(tmp, 'resumed/final')));

    const mid = await collect(path, { resume: true, stopAfterStep: 12 });
    assert.deepEqual(mid.filter((e) => e.type === 'step').map((s) => s.step), [7, 8, 9, 10, 11, 12]);
    assert.equal(mid.at(-1)!.type, 'interrupted');
    const rest = await collect(path, { resume: true });
    const stage = rest.find((e) => e.type === 'stage');
    assert.ok(stage?.type === 'stage' && stage.index === 1 && stage.from_step === 0);
    assert.deepEqual(rest.filter((e) => e.type === 'step').map((s) => `${s.stage}:${s.step}`), ['1:1', '1:2', '1:3', '1:4']);
    assert.equal(rest.at(-1)!.type, 'done');
    assertSameBits(full!, loadModelDir(join(tmp, 'resumed/final')).weights, 'resumed vs uninterrupted');
    assert.deepEqual(stepLines(join(tmp, 'resumed/metrics.jsonl')).map((l) => `${l.stage}:${l.step}`), ALL_STEPS);
  });

  it('a changed recipe is refused on resume', async () => {
    const path = recipeIn('resumed');
    const changed = readFileSync(path, 'utf8').replace('lr: 1.0e-2', 'lr: 2.0e-2');
    const gpu = await testGpu();
    await assert.rejects(
      async () => {
        for await (const _ of runTuner(gpu, parseRecipe(changed, path), { resume: true })) void _;
      },
      (e: unknown) => isPonderError(e) && /recipe changed/.test(e.message),
    );
  });

  it('kill -9 of `ponder tune` after the first checkpoint, then --resume: bit-identical final weights', async () => {
    assert.ok(full, 'needs the uninterrupted run');
    const path = recipeIn('killed');
    const out = join(tmp, 'killed');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'tune', path, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      let killed = false;
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (!killed && buf.split('\n').some((l) => l.startsWith('{') && JSON.parse(l).type === 'checkpoint')) {
          killed = true;
          child.kill('SIGKILL');
        }
      });
      child.on('exit', (code, signal) => (killed && signal === 'SIGKILL' ? resolve() : reject(new Error(`tune exited ${code} ${signal} before a checkpoint: ${buf}`))));
    });
    assert.ok(!existsSync(join(out, 'final')));
    const r = runPonder(['tune', path, '--resume', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const evs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TuneEvent);
    assert.equal(evs.at(-1)!.type, 'done');
    assertSameBits(full!, loadModelDir(join(out, 'final')).weights, 'killed+resumed vs uninterrupted');
    assert.deepEqual(stepLines(join(out, 'metrics.jsonl')).map((l) => `${l.stage}:${l.step}`), ALL_STEPS);
  });
});
