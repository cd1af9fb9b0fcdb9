import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PonderError } from '../../errors.js';
import { loadModelDir, saveModelDir } from '../../io/model-dir.js';
import type { ModelConfig, Weights } from '../../model/config.js';
import type { StageContext } from './types.js';

/**
 * A stage's frozen reference (GRPO's KL term, rollout DPO's π_ref): the weights the stage starts
 * from. A fresh stage saves them to <run>/reference/<stage>/ (atomically, replacing what an earlier
 * start left there), so that a resumed stage compares with the very same model; a resumed stage
 * loads them from there, and a missing copy is one clear error (the stage cannot continue; its run
 * must start afresh). `role` names the reference in that error ("the KL reference").
 */
export async function stageReferenceWeights(ctx: Pick<StageContext, 'model' | 'runDir' | 'stage' | 'resume'>, role: string): Promise<{ config: ModelConfig; weights: Weights }> {
  const { model, runDir, stage, resume } = ctx;
  const dir = join(runDir, 'reference', stage.name);
  if (resume === undefined) {
    const weights = await model.toWeights();
    mkdirSync(join(runDir, 'reference'), { recursive: true });
    saveModelDir(dir, { config: model.config, weights }, { overwrite: true });
    return { config: model.config, weights };
  }
  if (!existsSync(join(dir, 'config.json'))) {
    throw new PonderError('BAD_INPUT', `${dir}: ${role} of stage "${stage.name}" is missing; resume cannot continue this stage (start the run afresh)`);
  }
  const { config, weights } = loadModelDir(dir);
  return { config, weights };
}
