import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stageReferenceWeights } from '../../src/engine/stages/reference.js';
import type { StageContext } from '../../src/engine/stages/types.js';
import { PonderError } from '../../src/errors.js';
import { TrainableModel } from '../../src/train/trainable.js';
import { testGpu } from '../helpers/gpu.js';
import { testSeed } from '../helpers/random.js';
import { randomWeights, tinyConfig } from '../helpers/tiny-models.js';

/**
 * The frozen reference of GRPO's KL term and rollout DPO's π_ref (engine/stages/reference.ts): a
 * fresh stage saves its starting weights under <run>/reference/<stage>/, a resumed one reads the same
 * weights back, and a resumed one whose copy is gone stops with one line naming it.
 */
describe('a stage\'s frozen reference', () => {
  it('is saved at a fresh start, read back on resume, and a missing copy is one clear error', async () => {
    const gpu = await testGpu();
    const config = tinyConfig('llama', { vocab_size: 263 });
    const model = TrainableModel.create(gpu, config, randomWeights(config, testSeed));
    const runDir = mkdtempSync(join(tmpdir(), 'ponder-ref-'));
    try {
      const ctx = (resume?: object) => ({ model, runDir, stage: { name: 'grpo' }, resume }) as unknown as StageContext;
      const fresh = await stageReferenceWeights(ctx(), 'the KL reference');
      assert.ok(existsSync(join(runDir, 'reference', 'grpo', 'config.json')));
      const start = await model.toWeights();
      for (const [name, t] of start) assert.deepEqual(fresh.weights.get(name)!.data, t.data, name);

      const resumed = await stageReferenceWeights(ctx({ step: 3 }), 'the KL reference');
      for (const [name, t] of start) assert.deepEqual(Float32Array.from(resumed.weights.get(name)!.data), t.data, `${name} after resume`);

      rmSync(join(runDir, 'reference'), { recursive: true });
      await assert.rejects(
        stageReferenceWeights(ctx({ step: 3 }), 'the KL reference'),
        (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && e.message.includes(join(runDir, 'reference', 'grpo')) && /the KL reference of stage "grpo" is missing; resume cannot continue/.test(e.message) && !e.message.includes('\n'),
      );
    } finally {
      model.dispose();
      rmSync(runDir, { recursive: true, force: true });
    }
  });
});
