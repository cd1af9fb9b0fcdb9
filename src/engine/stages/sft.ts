/**
 * The runner for `pretrain` and `sft` stages: next-token cross-entropy on the stage's examples
 * (pretraining: raw text, every token a target; SFT: chat-formatted, only the answer tokens are).
 *
 *   data       examples (loadStageExamples) -> tokenized -> seeded shuffled batches (batchIterator,
 *              seed = recipe seed + stage index), packed with `packing: true` (data/packing.ts: each
 *              row several whole examples, with segment ids and positions for the model); state()
 *              is the batch cursor, so a resumed stage draws the batches the uninterrupted one would.
 *   one step   zeroGrads, `grad_accum` micro-batches of batch_size rows through TrainableModel.step
 *              (which adds into the grads; gradScale = 1 / the valid targets of all the step's
 *              micro-batches, so the summed gradient is the mean over the effective batch), then
 *              AdamW.step(lr). The losses and the (norm, skipped) pair are read back for the report.
 *   params     the trunk (MTP modules are left alone unless the stage has mtp:), trunk and modules, or
 *              the modules alone (mtp.freeze_trunk).
 *   metrics    loss: mean cross-entropy per valid target; mtp_loss (stages with mtp:): the modules'
 *              mean loss per target token. Both are per target token, so a packed and a padded stage
 *              over the same examples report the same loss.
 */
import { batchIterator, coverageIssue, IGNORE_INDEX, targetCoverage, loadStageExamples, padId, tokenizeExamples, type Batch, type BatchCursor } from '../../data/batches.js';
import { PonderError } from '../../errors.js';
import { isMtpWeight } from '../../model/config.js';
import type { Json } from '../../train/checkpoint.js';
import type { RunnerFactory, StageRunner, StepReport } from './types.js';

/**
 * The MTP modules' mean loss per target token: module k's summed loss over its own target count
 * (targets[t+k+1] of each row that are not ignored), averaged over the modules.
 */
function mtpMeanLoss(sums: number[], micro: Batch[], B: number, T: number): number {
  const means = sums.map((sum, k) => {
    let n = 0;
    for (const b of micro) {
      for (let r = 0; r < B; r++) {
        for (let t = k + 1; t < T; t++) {
          // packed rows: module k's row t - k - 1 reads target t only within its own example
          const sameExample = !b.segments || b.segments[r * T + t] === b.segments[r * T + t - k - 1];
          if (b.targets[r * T + t] !== IGNORE_INDEX && sameExample) n++;
        }
      }
    }
    return n > 0 ? sum / n : 0;
  });
  return means.length > 0 ? means.reduce((a, x) => a + x, 0) / means.length : 0;
}

export const createSftRunner: RunnerFactory = ({ gpu, model, tok, recipe, stage, stageIndex, resume }): StageRunner => {
  if (stage.kind !== 'pretrain' && stage.kind !== 'sft') throw new Error(`createSftRunner: stage kind ${stage.kind}`);
  const examples = tokenizeExamples(tok, loadStageExamples(stage.data, stage.kind, recipe.seed));
  const B = stage.batch_size;
  const A = stage.grad_accum;
  const T = stage.seq_len;
  // a stage whose rows all lose their answers to the cut would train nothing and say loss 0
  const coverage = coverageIssue(stage.name, targetCoverage(examples, T), T);
  if (coverage.error) throw new PonderError('BAD_INPUT', coverage.error);
  const batches = batchIterator(examples, { B, T, seed: recipe.seed + stageIndex, padId: padId(tok), packing: stage.packing }, resume as unknown as BatchCursor | undefined);
  const mtp = stage.mtp;
  const mtpOpts = mtp ? { mtpWeight: mtp.weight, freezeTrunk: mtp.freeze_trunk } : {};

  return {
    // a pretraining stage's model has not learnt the chat format yet
    promptFormat: stage.kind === 'pretrain' ? 'raw' : 'chat',
    warnings: coverage.warning ? [coverage.warning] : [],
    params: () => model.params().filter((p) => (mtp ? !mtp.freeze_trunk || isMtpWeight(p.name) : !isMtpWeight(p.name))),

    async step(_k, opt, lr): Promise<StepReport> {
      // gradient accumulation: all micro-batches are drawn first, because the scale that makes the
      // summed gradient the mean over the whole step (1 / valid targets of every micro-batch) must be
      // known before the first backward. The cursor then sits after the last one, as a checkpoint needs.
      const micro: Batch[] = [];
      for (let a = 0; a < A; a++) micro.push(batches.nextBatch());
      const valid = micro.reduce((sum, b) => sum + b.validTargets, 0);
      const gradScale = valid > 0 ? 1 / valid : 0;
      model.zeroGrads();
      const lossTs = micro.map((b) => model.step(b.inputs, b.targets, B, T, { gradScale, ...mtpOpts, segments: b.segments, positions: b.positions }));
      const res = opt.step(lr);
      let lossSum = 0;
      const mtpSums: number[] = [];
      for (const t of lossTs) {
        const sums = await gpu.readF32(t);
        lossSum += sums[0]!;
        for (let k = 1; k < sums.length; k++) mtpSums[k - 1] = (mtpSums[k - 1] ?? 0) + sums[k]!;
        t.release();
      }
      const [norm, skipped] = await gpu.readF32(res);
      res.release();
      const loss = valid > 0 ? lossSum / valid : 0;
      return {
        metrics: { loss, ...(mtp ? { mtp_loss: mtpMeanLoss(mtpSums, micro, B, T) } : {}) },
        grad_norm: norm!,
        skipped: skipped !== 0,
        tokens: A * B * T,
      };
    },

    state: () => ({ ...batches.cursor }) as unknown as Json,

    dispose() {},
  };
};
