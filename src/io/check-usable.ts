/**
 * Is an imported model usable? `ponder import` writes a model only if every later command could use
 * it, so what would fail on first use is refused at import with one line: an unknown
 * `ponder.tokenizer`, a `bos_token_id` / `eos_token_id` outside the vocabulary, a tokenizer that does
 * not load (malformed tokenizer.json) or that has more tokens than the model's vocab_size, and a
 * tokenizer that cannot encode and decode a short text.
 */
import { join } from 'node:path';
import { PonderError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import { loadTokenizer } from './model-dir.js';

function bad(file: string, problem: string, hint?: string): PonderError {
  return new PonderError('BAD_INPUT', `${file}: ${problem}`, hint);
}

/** Checks the config's own fields, then loads the tokenizer `dir` holds and tries it. */
export async function checkModelUsable(dir: string, config: ModelConfig): Promise<void> {
  const configPath = join(dir, 'config.json');
  const kind = config.ponder?.tokenizer;
  if (kind !== undefined && kind !== 'bytes' && kind !== 'hf') {
    throw bad(configPath, `ponder.tokenizer is ${JSON.stringify(kind)}; ponder knows "bytes" and "hf"`);
  }
  const V = config.vocab_size;
  const ids: [string, number][] = [];
  if (config.bos_token_id !== undefined) ids.push(['bos_token_id', config.bos_token_id]);
  const eos = config.eos_token_id;
  if (eos !== undefined) for (const e of Array.isArray(eos) ? eos : [eos]) ids.push(['eos_token_id', e]);
  for (const [name, id] of ids) {
    if (!Number.isSafeInteger(id) || id < 0 || id >= V) throw bad(configPath, `${name} ${id} is outside the vocabulary (vocab_size ${V}: ids 0..${V - 1})`);
  }
  let tok;
  try {
    tok = await loadTokenizer(dir, config);
  } catch (e) {
    if (e instanceof PonderError) throw e;
    throw bad(join(dir, 'tokenizer.json'), `the tokenizer cannot be loaded (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  try {
    const probe = tok.encode('Hello, world! 1 + 2 = 3');
    for (const id of probe) if (!(id >= 0 && id < V)) throw new Error(`it produced token id ${id}, outside vocab_size ${V}`);
    tok.decode(probe);
  } catch (e) {
    if (e instanceof PonderError) throw e;
    throw bad(join(dir, 'tokenizer.json'), `the tokenizer does not work (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
}
