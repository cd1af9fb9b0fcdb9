import { parseIntFlag } from './parse.js';
import { usageError } from './output.js';

/**
 * `--mtp [n]` / `--no-mtp`, the same flags with the same meaning in chat, generate, eval and serve:
 * `--mtp` asks for drafting (an error for a model without MTP layers), `--mtp N` drafts with the
 * first N modules, `--no-mtp` turns it off. Drafting changes only speed: greedy text is the same,
 * sampled text has the same distribution.
 *
 * The default (neither flag) follows what drafting is for, the latency of one sequence: on when the
 * model has MTP layers for the commands that decode one sequence at a time (chat, generate:
 * resolveMtpFlag), off for those that decode many together (eval's batched sampler, serve's
 * scheduler: resolveBatchedMtpFlag), where one drafted sequence at a time costs throughput — a
 * 30-problem greedy eval of the bundled model took 6.3 s batched and 22.7 s drafted.
 * Returns what `generate`'s `mtp` option takes (undefined: plain decoding).
 */
export type MtpFlag = string | boolean | undefined;

export function resolveMtpFlag(flag: MtpFlag, mtpDepth: number, model: string): true | number | undefined {
  if (flag === false) return undefined;
  if (flag === undefined) return mtpDepth > 0 ? true : undefined;
  if (mtpDepth === 0) throw usageError(`${model} has no MTP layers (num_nextn_predict_layers is 0): drop --mtp`);
  if (flag === true) return true;
  const n = parseIntFlag('--mtp', String(flag), 1)!;
  if (n > mtpDepth) throw usageError(`--mtp ${n}: ${model} has ${mtpDepth} MTP layer${mtpDepth > 1 ? 's' : ''}`);
  return n;
}

/** As resolveMtpFlag for a command that decodes many sequences together: off unless asked for. */
export function resolveBatchedMtpFlag(flag: MtpFlag, mtpDepth: number, model: string): true | number | undefined {
  return flag === undefined ? undefined : resolveMtpFlag(flag, mtpDepth, model);
}
