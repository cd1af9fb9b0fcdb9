/**
 * seq_len from the data, for the pretrain, sft and dpo stages that write none (load.ts marks them
 * `seq_len_auto` and gives them the model's context until this runs).
 *
 * A row of T tokens holds inputs tokens[0..T-1] and targets tokens[1..T] (data/batches.ts toRow), so
 * an example of L tokens fits whole in T = L - 1. The stage's seq_len is the longest example's T
 * (a dpo pair: its longer side, prompt included), rounded up to a multiple of SEQ_LEN_MULTIPLE, and
 * never more than the model's max_position_embeddings. Rounding leaves a little room, so data that
 * change a little keep the same row shape.
 *
 * The data are tokenized here as the stage will tokenize them (the same example generator, seed and
 * tokenizer), so the value is a pure function of the recipe and its data files. Tokenizing an HF
 * model's data reads its tokenizer files, hence async; `ponder tune` fills the stages before `--check`
 * prints the plan and before a run builds anything.
 */
import { ByteTokenizer } from '../data/byte-tokenizer.js';
import { loadStageExamples, tokenizeExamples } from '../data/batches.js';
import { loadHfTokenizer } from '../data/hf-tokenizer.js';
import { readPairs, tokenizePair } from '../data/pairs.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { PonderError } from '../errors.js';
import type { Recipe, RecipeStage } from './load.js';

/** A derived seq_len is a multiple of this (or the context, when that is smaller). */
export const SEQ_LEN_MULTIPLE = 8;

export interface DerivedSeqLen {
  stage: string;
  seq_len: number;
  /** the longest example, in tokens */
  longest: number;
  /** the context cut it: the longest example is longer than max_position_embeddings + 1 */
  capped: boolean;
}

/** The seq_len for examples whose longest has `longest` tokens, in a context of `context`. */
export function seqLenFor(longest: number, context: number): number {
  const whole = Math.max(1, longest - 1);
  return Math.min(context, Math.ceil(whole / SEQ_LEN_MULTIPLE) * SEQ_LEN_MULTIPLE);
}

/** The longest example of a stage, in tokens. */
function longestExample(stage: RecipeStage, tok: Tokenizer, seed: number): number {
  if (stage.kind === 'dpo') {
    if (stage.data.type !== 'file') throw new PonderError('BAD_INPUT', `stage "${stage.name}": a dpo stage reads a pairs file`);
    const file = stage.data.path;
    let most = 0;
    for (const pair of readPairs(file)) {
      const t = tokenizePair(tok, pair, Number.MAX_SAFE_INTEGER, file);
      most = Math.max(most, t.chosen.tokens.length, t.rejected.tokens.length);
    }
    return most;
  }
  const examples = tokenizeExamples(tok, loadStageExamples(stage.data, stage.kind === 'pretrain' ? 'pretrain' : 'sft', seed));
  return examples.reduce((a, ex) => Math.max(a, ex.tokens.length), 0);
}

/**
 * Fills the seq_len of every stage marked seq_len_auto (in place; the mark stays, so the hash still
 * says 'auto') and returns what it derived, a line's worth per stage. Stages with a written seq_len
 * are left alone.
 */
export async function fillDerivedSeqLens(recipe: Recipe): Promise<DerivedSeqLen[]> {
  const auto = recipe.stages.filter((s) => s.seq_len_auto);
  if (auto.length === 0) return [];
  const tok: Tokenizer = recipe.model.tokenizer === 'bytes' ? new ByteTokenizer() : await loadHfTokenizer(recipe.model.dir!);
  const context = recipe.model.config.max_position_embeddings;
  return auto.map((stage) => {
    const longest = longestExample(stage, tok, recipe.seed);
    stage.seq_len = seqLenFor(longest, context);
    return { stage: stage.name, seq_len: stage.seq_len, longest, capped: longest - 1 > context };
  });
}

/** `stage "sft": seq_len 48 from the data (longest example 45 tokens)`, or why the context cut it. */
export function formatDerivedSeqLen(d: DerivedSeqLen): string {
  const why = d.capped ? `the model's context; the longest example has ${d.longest} tokens and is cut` : `the longest example has ${d.longest} tokens`;
  return `stage "${d.stage}": seq_len ${d.seq_len} from the data (${why})`;
}
