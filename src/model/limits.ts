/**
 * The model's dimensions against the adapter's maxComputeWorkgroupsPerDimension, before anything is
 * built. A kernel refuses a grid larger than the limit only when it is dispatched, in its own words
 * ("attention_prefill.wgsl: a grid of 1x200000x1 workgroups exceeds ..."), minutes into a load or a
 * run; these checks say the same thing up front in the terms of the config and the command.
 *
 * Which dimension of which kernel a model's sizes reach:
 *
 *   matmul columns  every projection's output width N over the columns one workgroup covers: the
 *                   lm_head's vocab_size rows (split into chunks of at most one storage binding, so
 *                   min(vocab_size, binding / (hidden_size · 4)) per dispatch), intermediate_size,
 *                   num_attention_heads · head_dim and hidden_size;
 *   matmul rows     the rows of one forward (sequences × tokens) over the rows one workgroup covers;
 *   attention       one workgroup row per sequence and key-value head: sequences × num_key_value_heads
 *                   in the grid's second dimension (prefill, decode and the training backward alike),
 *                   and the query rows of a kv head, positions × (num_attention_heads /
 *                   num_key_value_heads), over the rows one workgroup covers in the first (prefill:
 *                   its tile, ops/attention.ts prefillTiles; the backward: 16).
 *
 * Every other kernel (norms, RoPE, elementwise, cross-entropy, sampling, embedding) folds its grid
 * into two dimensions (ops/check.ts grid1d), so it reaches no limit before memory does.
 *
 * The cover of a matmul workgroup depends on the kernel picked for a shape; the checks take the
 * smallest any kernel of the adapter's MatmulConfig covers, so they never pass a shape a kernel would
 * refuse (they can refuse a vocabulary of a few hundred thousand over a hidden size under ~130 that
 * one kernel would have taken).
 */
import { PonderError } from '../errors.js';
import type { MatmulConfig } from '../ops/matmul-configs.js';
import type { ModelConfig } from './config.js';

export interface GridLimits {
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBufferBindingSize: number;
}

/** The fewest output columns and rows one workgroup of any matmul kernel of `cfg` covers. */
export function matmulCover(cfg: MatmulConfig): { columns: number; rows: number } {
  const columns = Math.min(4 * cfg.tiled.tx, 4 * cfg.subgroup.colQuads * cfg.subgroup.wg, cfg.gemv.cols, 4 * cfg.gemv.wgKN, cfg.gemvSubgroup.cols * Math.max(1, cfg.gemvSubgroup.wg / 8));
  const rows = Math.min(4 * cfg.tiled.ty, cfg.subgroup.rows);
  return { columns, rows };
}

/** Rows of an embedding / lm_head table per chunk: as many as one storage binding holds (ops/embedding.ts maxTableRows). */
export function tableChunkRows(hiddenSize: number, maxBindingBytes: number): number {
  return Math.max(1, Math.floor(maxBindingBytes / (hiddenSize * 4)));
}

/** One dimension of the model that is too large, in the config's terms. */
export interface GridIssue {
  /** the config field (`vocab_size`, `hidden_size`, ...) */
  field: string;
  value: number;
  /** the largest value this adapter takes (given the other fields) */
  most: number;
  /** why that is the limit, e.g. "with hidden_size 64 the lm_head is split into chunks of 524,288 rows" */
  why: string;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** The first of the model's matmul widths that is too wide for one grid dimension, if any. */
export function modelWidthIssue(config: ModelConfig, limits: GridLimits, cover: { columns: number }): GridIssue | undefined {
  const maxWg = limits.maxComputeWorkgroupsPerDimension;
  const most = maxWg * cover.columns;
  const per = `${fmt(maxWg)} workgroups (maxComputeWorkgroupsPerDimension) of ${cover.columns} columns`;
  const chunk = tableChunkRows(config.hidden_size, limits.maxStorageBufferBindingSize);
  if (Math.min(config.vocab_size, chunk) > most) {
    return { field: 'vocab_size', value: config.vocab_size, most, why: `with hidden_size ${config.hidden_size} the output layer is split into chunks of ${fmt(chunk)} rows, and a matmul covers ${per}` };
  }
  const widths: [string, number][] = [
    ['hidden_size', config.hidden_size],
    ['intermediate_size', config.intermediate_size],
    ['num_attention_heads × head_dim', config.num_attention_heads * config.head_dim],
  ];
  for (const [field, value] of widths) if (value > most) return { field, value, most, why: `a matmul covers ${per}` };
  return undefined;
}

/** Sequences one forward may hold: the attention grid's second dimension is sequences × num_key_value_heads. */
export function mostSequences(config: ModelConfig, limits: GridLimits): number {
  return Math.floor(limits.maxComputeWorkgroupsPerDimension / config.num_key_value_heads);
}

/** Positions one attention pass may hold: positions × query heads per kv head over `queryRowsPerWorkgroup`. */
export function mostPositions(config: ModelConfig, limits: GridLimits, queryRowsPerWorkgroup: number): number {
  const perKvHead = config.num_attention_heads / config.num_key_value_heads;
  return Math.floor((limits.maxComputeWorkgroupsPerDimension * queryRowsPerWorkgroup) / perKvHead);
}

/** Rows (sequences × tokens) one forward's matmuls may hold. */
export function mostRows(limits: GridLimits, cover: { rows: number }): number {
  return limits.maxComputeWorkgroupsPerDimension * cover.rows;
}

/**
 * Checks a model for inference before its weights are read: its matmul widths, `sequences` decoded
 * together (KV-cache slots) and, when the caller fixes a context (serve's --context), prompts of up
 * to `positions` tokens prefilled at once (`queryRows`: the query rows a prefill attention workgroup
 * covers, RG·RM of its tile). Without `positions` the context is not held against the grid: a model
 * whose context runs to a million positions is usable with the prompts people write, and refusing it
 * for the longest one it could take would be wrong. Throws one DEVICE_LIMIT line in the config's terms.
 */
export function checkInferenceGrid(config: ModelConfig, limits: GridLimits, cfg: MatmulConfig, opts: { sequences?: number; positions?: number; queryRows?: number } = {}): void {
  const cover = matmulCover(cfg);
  const width = modelWidthIssue(config, limits, cover);
  if (width) {
    throw new PonderError('DEVICE_LIMIT', `${width.field} ${fmt(width.value)} is too large for this adapter's matmuls (at most ${fmt(width.most)}: ${width.why})`, 'this model cannot run on this adapter');
  }
  const sequences = opts.sequences ?? 1;
  const seqMost = mostSequences(config, limits);
  if (sequences > seqMost) {
    throw new PonderError('DEVICE_LIMIT', `${fmt(sequences)} sequences decoded together is too many for this adapter's attention (at most ${fmt(seqMost)}: one workgroup per sequence and each of num_key_value_heads ${config.num_key_value_heads}, ${fmt(limits.maxComputeWorkgroupsPerDimension)} per dimension)`, 'decode fewer sequences at once');
  }
  if (opts.positions === undefined) return;
  const positions = opts.positions;
  const rowsMost = mostRows(limits, cover);
  if (positions > rowsMost) {
    throw new PonderError('DEVICE_LIMIT', `a context of ${fmt(positions)} positions is too long for this adapter's matmuls (at most ${fmt(rowsMost)} prompt tokens in one pass)`, 'use a shorter context');
  }
  const positionsMost = mostPositions(config, limits, opts.queryRows ?? 1);
  if (positions > positionsMost) {
    const g = config.num_attention_heads / config.num_key_value_heads;
    throw new PonderError('DEVICE_LIMIT', `a context of ${fmt(positions)} positions is too long for this adapter's attention (at most ${fmt(positionsMost)} with ${g} query head${g === 1 ? '' : 's'} per key-value head, ${opts.queryRows ?? 1} query rows a workgroup)`, 'use a shorter context');
  }
}

/**
 * The most tokens of each sequence, and rows in all, that one forward pass may take (prefill of a
 * prompt): the attention grid's query rows and the matmuls' rows. A model whose context is longer
 * than this is still usable (checkInferenceGrid does not refuse it); a prompt past it is refused by
 * Transformer.forward with one line in these terms instead of a kernel's grid error.
 */
export function onePassLimits(config: ModelConfig, limits: Pick<GridLimits, 'maxComputeWorkgroupsPerDimension'>, cfg: MatmulConfig, queryRows: number): { positions: number; rows: number } {
  return { positions: mostPositions(config, limits as GridLimits, queryRows), rows: mostRows(limits as GridLimits, matmulCover(cfg)) };
}
