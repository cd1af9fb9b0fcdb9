/**
 * What `ponder tune` checks before it builds a single weight, from the recipe alone (and, for a run,
 * the device's limits), so that a recipe that cannot work fails in one line naming the recipe's own
 * terms instead of after minutes of weight building or with a kernel's wording:
 *
 *   - the output directory: not the init model's directory (nor one holding it), and usable as a
 *     run directory (train/run-dir.ts: empty, missing, a run to resume, or a run that stopped before
 *     its first checkpoint; with --fresh, an earlier run to set aside: fresh-run.ts), so nothing the
 *     user owns is written over;
 *   - the size: every buffer one training step keeps (train/memory-floor.ts) must fit the device's
 *     maxBufferSize and, as each is bound whole to a kernel, its maxStorageBufferBindingSize. Without
 *     a device (--check) the weights are checked against this machine's memory, as a scratch model's
 *     weights are built there first;
 *   - the grids: the model's matmul widths, each stage's sequences and rows per forward must fit
 *     maxComputeWorkgroupsPerDimension (checkTrainingGrid, model/limits.ts).
 */
import { constants as bufferConstants } from 'node:buffer';
import { totalmem } from 'node:os';
import { isAbsolute, relative, resolve } from 'node:path';
import { realpathSync } from 'node:fs';
import { ByteTokenizer } from '../data/byte-tokenizer.js';
import { coverageIssue, loadStageExamples, targetCoverage, tokenizeExamples } from '../data/batches.js';
import { loadHfTokenizer } from '../data/hf-tokenizer.js';
import { isPonderError, PonderError } from '../errors.js';
import { formatBytes } from '../format.js';
import { modelWidthIssue, mostPositions, mostRows, mostSequences } from '../model/limits.js';
import type { Recipe, RecipeStage } from '../recipe/load.js';
import { trainingMemoryFloor } from '../train/memory-floor.js';
import { checkRunDirUsable } from '../train/run-dir.js';
import { planFreshStart, type FreshStartPlan } from './fresh-run.js';

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

function within(inner: string, outer: string): boolean {
  const r = relative(outer, inner);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

export interface TuneOutputCheck {
  /** lines creating the run would print */
  warnings: string[];
  /** with `fresh`: the earlier run that will be set aside (fresh-run.ts), when there is one */
  fresh?: FreshStartPlan;
}

/**
 * Refuses an output that is (or holds) the init model, or that a run may not use. With `fresh`, an
 * earlier run there is planned to be set aside (nothing moves here) instead of refused.
 */
export function checkTuneOutput(recipe: Recipe, opts: { resume: boolean; fresh?: boolean }): TuneOutputCheck {
  if (recipe.model.dir !== undefined && within(real(recipe.model.dir), real(recipe.output))) {
    const same = real(recipe.model.dir) === real(recipe.output);
    throw new PonderError(
      'BAD_INPUT',
      `${recipe.file}: output ${recipe.output} ${same ? "is the init model's own directory" : `holds the init model (${recipe.model.dir})`}; a run would write into it`,
      'set output: to a new directory (the trained model is saved to <output>/final)',
    );
  }
  if (opts.fresh) {
    const plan = planFreshStart(recipe.output);
    if (plan) return { warnings: [], fresh: plan };
  }
  try {
    return { warnings: checkRunDirUsable(recipe.output, opts.resume) };
  } catch (e) {
    // the run directory's own hint knows --resume; tune also offers --fresh
    if (isPonderError(e) && / already holds a run /.test(e.message)) throw new PonderError(e.code, e.message, 'pass --resume to continue it, --fresh to start over (its files move to <output>.prev-N), or choose another output directory');
    throw e;
  }
}

export interface TrainingLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/**
 * Checks each stage's training buffers against the device's limits, or (no limits) the model's
 * weights against this machine's memory. Throws DEVICE_LIMIT naming the stage, the buffer and what to
 * change.
 */
export function checkTrainingFits(recipe: Recipe, limits?: TrainingLimits): void {
  const config = recipe.model.config;
  if (!limits) {
    const floor = trainingMemoryFloor(config, 1, 1);
    const largest = floor.buffers.filter((b) => b.kind === 'weights').reduce((a, b) => (b.bytes > a.bytes ? b : a), { name: '', bytes: 0 });
    const hostLimit = Math.min(totalmem(), Number.MAX_SAFE_INTEGER);
    if (floor.weights > hostLimit || largest.bytes > bufferConstants.MAX_LENGTH) {
      throw new PonderError(
        'DEVICE_LIMIT',
        `${recipe.file}: the model has ${floor.params.toLocaleString('en-US')} parameters (${formatBytes(floor.weights)} of f32 weights${largest.bytes > bufferConstants.MAX_LENGTH ? `; ${largest.name} alone is ${formatBytes(largest.bytes)}` : ''}), more than this machine's ${formatBytes(hostLimit)} of memory`,
        'use a smaller model (fewer layers, a smaller hidden_size or vocab_size)',
      );
    }
    return;
  }
  recipe.stages.forEach((s, i) => {
    const floor = trainingMemoryFloor(config, s.batch_size, s.seq_len, { maxBindingBytes: limits.maxStorageBufferBindingSize });
    for (const b of floor.buffers) {
      const over = b.bytes > limits.maxBufferSize ? ['maxBufferSize', limits.maxBufferSize] as const : b.bytes > limits.maxStorageBufferBindingSize ? ['maxStorageBufferBindingSize', limits.maxStorageBufferBindingSize] as const : undefined;
      if (!over) continue;
      const isWeight = b.kind !== 'activations';
      throw new PonderError(
        'DEVICE_LIMIT',
        `${recipe.file}: stage ${i + 1} (${s.name}) needs a buffer of ${formatBytes(b.bytes)} for ${b.name}${isWeight ? '' : ` (batch_size ${s.batch_size} × seq_len ${s.seq_len})`}, over this device's ${over[0]} of ${formatBytes(over[1])}`,
        isWeight ? 'this model is too large for this GPU; use a smaller one' : 'lower batch_size (use grad_accum for the same effective batch) or seq_len',
      );
    }
  });
}

/**
 * The sequences one training forward of a stage holds, as a multiple of the recipe field that sets
 * them: pretrain/sft batch_size rows; dpo, self_evolve and rollout_dpo the chosen then the rejected
 * row of each pair (rollout_dpo: up to pairs_per_prompt pairs per prompt); grpo its micro_batch, or
 * all batch_size × group_size completions; rft up to `samples` kept answers per prompt.
 */
function forwardSequences(s: RecipeStage): { field: string; value: number; perUnit: number } {
  switch (s.kind) {
    case 'grpo':
      return s.grpo!.micro_batch !== undefined ? { field: 'micro_batch', value: s.grpo!.micro_batch, perUnit: 1 } : { field: 'batch_size', value: s.batch_size, perUnit: s.grpo!.group_size };
    case 'dpo':
    case 'self_evolve':
      return { field: 'batch_size', value: s.batch_size, perUnit: 2 };
    case 'rollout_dpo':
      return { field: 'batch_size', value: s.batch_size, perUnit: 2 * (s.rollout?.pairs_per_prompt ?? 1) };
    case 'rft':
      return { field: 'batch_size', value: s.batch_size, perUnit: s.rollout?.samples ?? 1 };
    default:
      return { field: 'batch_size', value: s.batch_size, perUnit: 1 };
  }
}

/**
 * Checks the grids a training step dispatches against maxComputeWorkgroupsPerDimension, in the
 * recipe's terms (model/limits.ts): the model's matmul widths (a vocabulary of millions over a small
 * hidden_size), each stage's sequences per forward in the attention grid (sequences ×
 * num_key_value_heads), its seq_len in the attention's query rows (seq_len × query heads per kv head
 * over `cover.queryRows`: the smaller of the backward's block and the forward's tile) and its rows
 * per forward (sequences × seq_len) in the matmuls. These used to
 * fail mid-step with a kernel's "a grid of … workgroups exceeds …".
 */
export function checkTrainingGrid(recipe: Recipe, limits: TrainingLimits & { maxComputeWorkgroupsPerDimension: number }, cover: { columns: number; rows: number; queryRows: number }): void {
  const c = recipe.model.config;
  const width = modelWidthIssue(c, limits, cover);
  if (width) {
    throw new PonderError('DEVICE_LIMIT', `${recipe.file}: the model's ${width.field} ${width.value.toLocaleString('en-US')} is too large for this adapter's matmuls (at most ${width.most.toLocaleString('en-US')}: ${width.why})`, 'this model is too large for this GPU; use a smaller one');
  }
  const seqMost = mostSequences(c, limits);
  const rowsMost = mostRows(limits, cover);
  const positionsMost = mostPositions(c, limits, cover.queryRows);
  recipe.stages.forEach((s, i) => {
    if (s.seq_len > positionsMost) {
      const g = c.num_attention_heads / c.num_key_value_heads;
      throw new PonderError('DEVICE_LIMIT', `${recipe.file}: stage ${i + 1} (${s.name}): seq_len ${s.seq_len} is too long for this adapter's attention (at most ${positionsMost.toLocaleString('en-US')} with ${g} query head${g === 1 ? '' : 's'} per key-value head)`, 'lower seq_len');
    }
    const f = forwardSequences(s);
    const sequences = f.value * f.perUnit;
    const per = f.perUnit > 1 ? ` (${f.perUnit} sequences each)` : '';
    const hint = f.field === 'batch_size' && (s.kind === 'pretrain' || s.kind === 'sft') ? 'lower batch_size (use grad_accum for the same effective batch)' : `lower ${f.field}`;
    if (sequences > seqMost) {
      const most = Math.floor(seqMost / f.perUnit);
      throw new PonderError('DEVICE_LIMIT', `${recipe.file}: stage ${i + 1} (${s.name}): ${f.field} ${f.value}${per} is too large for this adapter's attention (at most ${most.toLocaleString('en-US')}: one workgroup per sequence and each of num_key_value_heads ${c.num_key_value_heads}, ${limits.maxComputeWorkgroupsPerDimension} per dimension)`, hint);
    }
    const rows = sequences * s.seq_len;
    if (rows > rowsMost) {
      const most = Math.floor(rowsMost / (f.perUnit * s.seq_len));
      throw new PonderError('DEVICE_LIMIT', `${recipe.file}: stage ${i + 1} (${s.name}): ${f.field} ${f.value}${per} × seq_len ${s.seq_len} = ${rows.toLocaleString('en-US')} rows per forward is too large for this adapter's matmuls (at most ${rowsMost.toLocaleString('en-US')} rows: ${f.field} at most ${most.toLocaleString('en-US')} at this seq_len)`, `${hint} or seq_len`);
    }
  });
}

/**
 * Every pretrain/SFT stage's examples against its seq_len (data/batches.ts targetCoverage): refuses a
 * stage that would train nothing because the cut drops every answer, and returns warnings for stages
 * that lose more than a tenth of their examples that way. Tokenizes the data (no GPU), so `--check`
 * reports what the run would find at the stage's start.
 */
export async function checkTargetCoverage(recipe: Recipe): Promise<string[]> {
  const stages = recipe.stages.filter((s) => s.kind === 'pretrain' || s.kind === 'sft');
  if (stages.length === 0) return [];
  const tok = recipe.model.tokenizer === 'bytes' ? new ByteTokenizer() : await loadHfTokenizer(recipe.model.dir!);
  const warnings: string[] = [];
  for (const s of stages) {
    const examples = tokenizeExamples(tok, loadStageExamples(s.data, s.kind === 'pretrain' ? 'pretrain' : 'sft', recipe.seed));
    const issue = coverageIssue(s.name, targetCoverage(examples, s.seq_len), s.seq_len);
    if (issue.error) throw new PonderError('BAD_INPUT', issue.error);
    if (issue.warning) warnings.push(issue.warning);
  }
  return warnings;
}
