import { parseIntFlag } from './parse.js';
import { usageError } from './output.js';

/**
 * `--mtp [n]` / `--no-mtp`, read the same way by every command that decodes: the default (neither
 * flag) is on when the model has MTP layers and off otherwise; `--mtp` asks for it (an error for a
 * model without MTP layers), `--mtp N` drafts with the first N modules, `--no-mtp` turns it off.
 * Drafting changes only speed: greedy text is the same, sampled text has the same distribution.
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
