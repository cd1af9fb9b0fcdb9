import { parseIntFlag } from './parse.js';
import { usageError } from './output.js';

/**
 * `--mtp [n]` / `--no-mtp`, the same flags with the same meaning in chat, generate, eval and serve:
 * `--mtp` asks for drafting (an error for a model without MTP layers), `--mtp N` drafts with the
 * first N modules, `--no-mtp` turns it off. Drafting changes only speed: greedy text is the same,
 * sampled text has the same distribution.
 *
 * The default (neither flag) follows what drafting is for, the latency of one sequence: for the
 * commands that decode one sequence at a time (chat, generate: resolveMtpFlag), 'greedy' when the
 * model has MTP layers, i.e. drafting when the answer is greedy and plain decoding when it is
 * sampled (sampled rounds read logits back twice and are not recorded ahead; on the 2-core VM they
 * ran 473-476 tokens/s against plain sampling's 567-588, bench/RESULTS.md "Paced polling"); off
 * for those that decode many together (eval's batched sampler, serve's scheduler:
 * resolveBatchedMtpFlag), where one drafted sequence at a time costs throughput — a 30-problem
 * greedy eval of the bundled model took 6.3 s batched and 22.7 s drafted. `--mtp` drafts whatever
 * the temperature. Returns what `generate`'s `mtp` option takes (undefined: plain decoding).
 */
export type MtpFlag = string | boolean | undefined;

export function resolveMtpFlag(flag: MtpFlag, mtpDepth: number, model: string): true | number | 'greedy' | undefined {
  if (flag === undefined) return mtpDepth > 0 ? 'greedy' : undefined;
  return explicitMtp(flag, mtpDepth, model);
}

/** As resolveMtpFlag for a command that decodes many sequences together: off unless asked for. */
export function resolveBatchedMtpFlag(flag: MtpFlag, mtpDepth: number, model: string): true | number | undefined {
  return flag === undefined ? undefined : explicitMtp(flag, mtpDepth, model);
}

/** What `--mtp [N]` / `--no-mtp` ask for. */
function explicitMtp(flag: string | boolean, mtpDepth: number, model: string): true | number | undefined {
  if (flag === false) return undefined;
  if (mtpDepth === 0) throw usageError(`${model} has no MTP layers (num_nextn_predict_layers is 0): drop --mtp`);
  if (flag === true) return true;
  const n = parseIntFlag('--mtp', String(flag), 1)!;
  if (n > mtpDepth) throw usageError(`--mtp ${n}: ${model} has ${mtpDepth} MTP layer${mtpDepth > 1 ? 's' : ''}`);
  return n;
}

