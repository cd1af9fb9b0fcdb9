import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PonderError } from '../errors.js';
import { readJsonFile } from './model-dir.js';

/**
 * A model's own sampling defaults, from its `generation_config.json` (the Hugging Face file; ponder
 * model directories may carry one too). `generate` and `chat` use them where no flag says otherwise:
 * flag > the model's file > ponder's default. HF meanings: `do_sample: false` is greedy decoding
 * (temperature 0, whatever else the file says); `temperature`, `top_k` (0 = off), `top_p`, `min_p`.
 * Other fields (eos_token_id, max_new_tokens, ...) are read elsewhere or not used.
 */
export interface SamplingDefaults {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
}

export const GENERATION_CONFIG = 'generation_config.json';

/** The defaults in `dir`/generation_config.json; {} when there is no such file. Bad values: one clear error. */
export function readSamplingDefaults(dir: string): SamplingDefaults {
  const path = join(dir, GENERATION_CONFIG);
  if (!existsSync(path)) return {};
  const json = readJsonFile(path, 'generation config');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new PonderError('BAD_INPUT', `${path}: expected a JSON object`);
  const g = json as Record<string, unknown>;
  const num = (key: string, lo: number, hi: number, integer = false): number | undefined => {
    const v = g[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
      throw new PonderError('BAD_INPUT', `${path}: "${key}" must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  if (g.do_sample !== undefined && typeof g.do_sample !== 'boolean') throw new PonderError('BAD_INPUT', `${path}: "do_sample" must be true or false, got ${JSON.stringify(g.do_sample)}`);
  const out: SamplingDefaults = {
    temperature: g.do_sample === false ? 0 : num('temperature', 0, 100),
    topK: num('top_k', 0, Number.MAX_SAFE_INTEGER, true),
    topP: num('top_p', 1e-9, 1),
    minP: num('min_p', 0, 0.999999),
  };
  for (const k of Object.keys(out) as (keyof SamplingDefaults)[]) if (out[k] === undefined) delete out[k];
  return out;
}
