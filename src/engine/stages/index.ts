/**
 * The stage runner registry: stage kind -> the factory that builds its runner (see types.ts for the
 * interface and how a new kind plugs in). Typed over every StageKind, so a kind added to the recipe
 * schema without a runner does not compile.
 */
import type { StageKind } from '../../recipe/schema.js';
import { createGrpoRunner } from './grpo.js';
import { createDpoRunner } from './dpo.js';
import { createRftRunner } from './rft.js';
import { createRolloutDpoRunner } from './rollout-dpo.js';
import { createSelfEvolveRunner } from './self-evolve.js';
import { createSftRunner } from './sft.js';
import type { RunnerFactory } from './types.js';

export type { RunnerFactory, StageContext, StageRunner, StepMetrics, StepReport } from './types.js';

export const STAGE_RUNNERS: Record<StageKind, RunnerFactory> = {
  pretrain: createSftRunner,
  sft: createSftRunner,
  grpo: createGrpoRunner,
  dpo: createDpoRunner,
  rft: createRftRunner,
  rollout_dpo: createRolloutDpoRunner,
  self_evolve: createSelfEvolveRunner,
};
