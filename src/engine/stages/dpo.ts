/**
 * The runner for `dpo` stages: Direct Preference Optimization on a fixed pairs file (TRL's
 * prompt/chosen/rejected JSONL, data/pairs.ts; objective train/objectives/dpo.ts).
 *
 *   data       pairs -> tokenized (a prompt that fills the row is an error naming its line) -> rows of
 *              seq_len tokens, targets on the completions only. Pair order: seeded shuffled epochs
 *              (data/batches.ts batchIterator over the chosen sides, seed = recipe seed + stage
 *              index); batch_size pairs per step. state() is that cursor.
 *   reference  the sequence log-probs of every pair under the STAGE's starting model, computed once
 *              before the first update (batch_size pairs per forward) and kept in memory, so only one
 *              model is on the GPU. They are written to <run>/<stage>-ref-logps.json (tmp + rename)
 *              and a stage resumed mid-way reads them back instead of recomputing them from weights
 *              that have moved: the reference is always the stage's starting model.
 *   one step   preference-step.ts dpoStep: chosen rows then rejected rows in one forward, dpoLoss,
 *              backwardWeighted, AdamW.step.
 *   metrics    loss, rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies,
 *              logps/chosen, logps/rejected (TRL's names; + nll_loss with sft_weight).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { batchIterator, padId, toRow, type BatchCursor, type Row } from '../../data/batches.js';
import { readPairs, tokenizePair } from '../../data/pairs.js';
import { PonderError } from '../../errors.js';
import { isMtpWeight } from '../../model/config.js';
import type { Json } from '../../train/checkpoint.js';
import { dpoStep, sequenceLogps } from './preference-step.js';
import type { RunnerFactory, StageRunner, StepReport } from './types.js';

export interface RefLogps {
  pairs: number;
  chosen: number[];
  rejected: number[];
}

/** Writes the reference sums next to the checkpoints (tmp + rename: never a half-written file). */
export function writeRefLogps(path: string, ref: RefLogps): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(ref));
  renameSync(tmp, path);
}

/** Reads them back for a resumed stage, checking they are for this many pairs. */
export function readRefLogps(path: string, pairs: number): RefLogps {
  if (!existsSync(path)) throw new PonderError('BAD_INPUT', `${path}: missing; a dpo stage resumed mid-way needs the reference log-probs its start wrote`);
  let ref: RefLogps;
  try {
    ref = JSON.parse(readFileSync(path, 'utf8')) as RefLogps;
  } catch (e) {
    throw new PonderError('BAD_INPUT', `${path}: unreadable reference log-probs (${(e as Error).message})`);
  }
  const ok = (a: unknown) => Array.isArray(a) && a.length === pairs && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (ref.pairs !== pairs || !ok(ref.chosen) || !ok(ref.rejected)) throw new PonderError('BAD_INPUT', `${path}: reference log-probs are not for the stage's ${pairs} pairs`);
  return ref;
}

export const createDpoRunner: RunnerFactory = async ({ gpu, model, tok, recipe, stage, stageIndex, runDir, resume }): Promise<StageRunner> => {
  const settings = stage.dpo;
  if (!settings || stage.data.type !== 'file') throw new PonderError('BAD_INPUT', `stage "${stage.name}": a dpo stage needs a pairs file and its dpo settings`);
  const file = stage.data.written;
  const T = stage.seq_len;
  const B = stage.batch_size;
  const pad = padId(tok);
  const pairs = readPairs(stage.data.path).map((p) => tokenizePair(tok, p, T, file));
  const chosen: Row[] = pairs.map((p) => toRow(p.chosen, T, pad));
  const rejected: Row[] = pairs.map((p) => toRow(p.rejected, T, pad));
  const order = batchIterator(
    pairs.map((p) => p.chosen),
    { B, T, seed: recipe.seed + stageIndex, padId: pad },
    resume as unknown as BatchCursor | undefined,
  );

  const refPath = join(runDir, `${stage.name}-ref-logps.json`);
  let ref: RefLogps;
  if (resume !== undefined) {
    ref = readRefLogps(refPath, pairs.length);
  } else {
    // both sides in one pass of 2·B rows per forward, the step's own batch shape
    const sums = await sequenceLogps(gpu, model, [...chosen, ...rejected], T, 2 * B);
    ref = { pairs: pairs.length, chosen: sums.slice(0, pairs.length), rejected: sums.slice(pairs.length) };
    writeRefLogps(refPath, ref);
  }

  return {
    headline: 'rewards/accuracies',
    params: () => model.params().filter((p) => !isMtpWeight(p.name)),

    async step(_k, opt, lr): Promise<StepReport> {
      const idx = order.nextBatch().examples;
      return dpoStep(
        gpu,
        model,
        opt,
        lr,
        { chosen: idx.map((i) => chosen[i]!), rejected: idx.map((i) => rejected[i]!), refChosen: idx.map((i) => ref.chosen[i]!), refRejected: idx.map((i) => ref.rejected[i]!) },
        T,
        settings,
      );
    },

    state: () => ({ ...order.cursor }) as unknown as Json,

    dispose() {},
  };
};
