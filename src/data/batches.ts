/**
 * From examples to training batches.
 *
 * 1. Tokenize once (`tokenizeExample`): a token sequence plus a per-token `train` flag saying whether
 *    the model is trained to predict that token.
 *    - pretrain: BOS (where the tokenizer adds one) + text + EOS, every token trained.
 *    - SFT: the conversation in the chat format, trained ONLY on the assistant turns' content and the
 *      end-of-turn token that closes them (so the model learns to stop). System/user turns and the
 *      `<|im_start|>assistant\n` header are context: the model is never taught to write the user's part.
 * 2. Make a row of length T (`toRow`): inputs = tokens[0..T-1], targets = tokens[1..T] (next-token
 *    prediction), a target being IGNORE_INDEX where the token is not trained, and on padding. Longer
 *    sequences are truncated to T + 1 tokens; shorter ones padded with the pad token (causal attention:
 *    padding after the real tokens cannot change their logits).
 * 3. Batch (`batchIterator`): B rows at a time in a shuffled order that is a pure function of
 *    (seed, epoch) (Philox, counter (block, 0, epoch, SHUFFLE_DOMAIN)). The position is the cursor
 *    {epoch, index}: the next example is permutation(epoch)[index]. A batch that runs past the end of an
 *    epoch continues into the next one, so every example is seen once per epoch, no example is dropped,
 *    and B may exceed the number of examples. Saving the cursor with a checkpoint and resuming from it
 *    yields exactly the batches an uninterrupted run would have seen.
 *    With `packing`, the B rows are filled with as many whole examples as fit (packing.ts, first fit
 *    in the same order), and the batch also carries each token's segment id and position; the cursor
 *    means the same thing.
 */
import { extname } from 'node:path';
import { PonderError } from '../errors.js';
import { READ_LIMITS, readTextFile } from '../io/read-file.js';
import type { StageData, WrittenTaskOptions } from './stage-data.js';
import { drawU32 } from '../sample/rng.js';
import type { Problem, TaskOptions, VerifiableTask } from '../tasks/types.js';
import { taskByName } from '../tasks/index.js';
import { ByteTokenizer } from './byte-tokenizer.js';
import { HfTokenizer } from './hf-tokenizer.js';
import { readJsonl, type Example, type ExampleKind, type SftMessage } from './jsonl.js';
import { RowPacker } from './packing.js';
import { IGNORE_INDEX, type TokenizedExample } from './example.js';

export { IGNORE_INDEX, type TokenizedExample };
import type { Tokenizer } from './tokenizer.js';


/** Philox counter word 3 for the epoch shuffles (ASCII "shuf"). */
export const SHUFFLE_DOMAIN = 0x73687566;


// ---------------------------------------------------------------------------------------------------
// tokenizing

function specialId(tok: Tokenizer, name: string, fallbacks: number[] = []): number {
  const id = tok.specialTokens[name] ?? fallbacks.find((x) => x !== undefined);
  if (id === undefined) throw new PonderError('BAD_INPUT', `the tokenizer has no ${name} token`);
  return id;
}

export function eosId(tok: Tokenizer): number {
  return specialId(tok, 'eos', tok.eosIds);
}

/** Padding input id: the pad token, else EOS (its targets are ignored either way). */
export function padId(tok: Tokenizer): number {
  return tok.specialTokens.pad ?? eosId(tok);
}

function tokenizePretrain(tok: Tokenizer, text: string): TokenizedExample {
  const tokens = [...tok.encode(text, { addSpecialTokens: true }), eosId(tok)];
  return { tokens, train: new Uint8Array(tokens.length).fill(1) };
}

/**
 * The empty reasoning block that ends a generation prompt with thinking off (byte-tokenizer.ts). An
 * assistant turn that opens with it was written for thinking off: the block is the prompt's part, so
 * it is context, not a target. Training on it would teach the model to close its reasoning at once on
 * its own — and under greedy decoding one likely '\n' beats ten digits that share the rest, so a
 * thinking model would stop thinking.
 */
const EMPTY_THINK = '<think>\n\n</think>\n\n';

/** Byte tokenizer: the chat format of encodeChat, one turn at a time, marking assistant spans. */
function tokenizeSftBytes(tok: ByteTokenizer, messages: readonly SftMessage[]): TokenizedExample {
  const tokens: number[] = [];
  const flags: number[] = [];
  const emptyThinkLength = tok.encodeChat([{ role: 'assistant', content: EMPTY_THINK }]).length - tok.encodeChat([{ role: 'assistant', content: '' }]).length;
  for (const m of messages) {
    const turn = tok.encodeChat([m]); // <|im_start|> role \n content <|im_end|> \n
    let header = tok.encodeChat([{ role: m.role, content: '' }]).length - 2; // <|im_start|> role \n
    const trained = m.role === 'assistant';
    if (trained && m.content.startsWith(EMPTY_THINK)) header += emptyThinkLength;
    for (let i = 0; i < turn.length; i++) {
      tokens.push(turn[i]!);
      // content and <|im_end|>, not the header nor the '\n' after <|im_end|> (never generated: EOS stops first)
      flags.push(trained && i >= header && i < turn.length - 1 ? 1 : 0);
    }
  }
  return { tokens, train: Uint8Array.from(flags) };
}

/**
 * Other tokenizers: render the model's chat template for growing prefixes of the conversation and
 * train on the tokens each assistant turn adds after the generation prompt. This needs a template
 * whose renderings are prefixes of each other (true for ChatML-style templates; not for templates
 * that rewrite earlier turns, e.g. strip earlier reasoning), which is checked.
 */
function tokenizeSftTemplate(tok: HfTokenizer, messages: readonly SftMessage[]): TokenizedExample {
  if (tok.chatTemplate === undefined) throw new PonderError('BAD_INPUT', 'SFT data needs a tokenizer with a chat template');
  for (const m of messages) {
    const forged = tok.specialTokenStrings.find((s) => s.length > 0 && m.content.includes(s));
    if (forged) throw new PonderError('BAD_INPUT', `a ${m.role} message contains the special token text ${JSON.stringify(forged)}`);
  }
  const enc = (msgs: readonly SftMessage[], gen: boolean) =>
    msgs.length === 0 && !gen ? [] : tok.encode(tok.applyChatTemplate(msgs.map((m) => ({ role: m.role, content: m.content })), { addGenerationPrompt: gen }), { parseSpecialTokens: true });
  const tokens = enc(messages, false);
  const train = new Uint8Array(tokens.length);
  const isPrefix = (p: number[]) => p.length <= tokens.length && p.every((t, i) => tokens[i] === t);
  for (let k = 0; k < messages.length; k++) {
    if (messages[k]!.role !== 'assistant') continue;
    const before = enc(messages.slice(0, k), true);
    const after = enc(messages.slice(0, k + 1), false);
    if (!isPrefix(before) || !isPrefix(after) || after.length < before.length) {
      throw new PonderError('BAD_INPUT', 'the chat template does not render conversations as prefixes of each other; cannot tell which tokens are the assistant\'s');
    }
    train.fill(1, before.length, after.length);
  }
  return { tokens, train };
}

export function tokenizeExample(tok: Tokenizer, ex: Example): TokenizedExample {
  if (ex.kind === 'pretrain') return tokenizePretrain(tok, ex.text);
  if (tok instanceof ByteTokenizer) return tokenizeSftBytes(tok, ex.messages);
  if (tok instanceof HfTokenizer) return tokenizeSftTemplate(tok, ex.messages);
  throw new PonderError('BAD_INPUT', 'SFT data needs the byte tokenizer or a Hugging Face tokenizer with a chat template');
}

export function tokenizeExamples(tok: Tokenizer, examples: readonly Example[]): TokenizedExample[] {
  return examples.map((ex) => tokenizeExample(tok, ex));
}

/**
 * How many examples keep at least one trained target in a row of T tokens. An SFT example whose
 * prompt is longer than T loses its whole answer to the cut: it trains nothing (all its targets are
 * IGNORE_INDEX), and a stage made only of such rows trains nothing at all while reporting loss 0.
 */
export function targetCoverage(examples: readonly TokenizedExample[], T: number): { kept: number; total: number } {
  let kept = 0;
  for (const ex of examples) {
    const last = Math.min(T, ex.tokens.length - 1); // targets are tokens[1..T]
    for (let j = 1; j <= last; j++) {
      if (ex.train[j] === 1) {
        kept++;
        break;
      }
    }
  }
  return { kept, total: examples.length };
}

/**
 * The one-line verdict on a stage's coverage: an error when no example keeps a target, a warning when
 * fewer than 90% do, nothing otherwise.
 */
export function coverageIssue(stageName: string, cov: { kept: number; total: number }, T: number): { error?: string; warning?: string } {
  if (cov.total === 0) return {};
  if (cov.kept === 0) return { error: `stage "${stageName}": seq_len ${T} cuts every one of its ${cov.total} examples before its answer, so it would train nothing; raise seq_len or shorten the prompts` };
  if (cov.kept < 0.9 * cov.total) {
    const pct = ((100 * (cov.total - cov.kept)) / cov.total).toFixed(1);
    return { warning: `stage "${stageName}": seq_len ${T} cuts ${cov.total - cov.kept} of ${cov.total} examples (${pct}%) before their answer; they train nothing` };
  }
  return {};
}

// ---------------------------------------------------------------------------------------------------
// rows

export interface Row {
  inputs: number[];
  targets: number[];
  /** targets that are not IGNORE_INDEX */
  validTargets: number;
}

/** One row of length T: inputs tokens[0..T-1], targets tokens[1..T] where trained, else IGNORE_INDEX. */
export function toRow(ex: TokenizedExample, T: number, pad: number): Row {
  const inputs = new Array<number>(T);
  const targets = new Array<number>(T);
  let validTargets = 0;
  const L = ex.tokens.length;
  for (let j = 0; j < T; j++) {
    inputs[j] = j < L ? ex.tokens[j]! : pad;
    const trained = j + 1 < L && ex.train[j + 1] === 1;
    targets[j] = trained ? ex.tokens[j + 1]! : IGNORE_INDEX;
    if (trained) validTargets++;
  }
  return { inputs, targets, validTargets };
}

// ---------------------------------------------------------------------------------------------------
// shuffled batches

/** Serialisable position: the next example is permutation(epoch)[index]. */
export interface BatchCursor {
  epoch: number;
  index: number;
}

export interface BatchOptions {
  /** rows per batch */
  B: number;
  /** tokens per row */
  T: number;
  seed: number;
  /** input id on padding; default 0 (targets on padding are ignored anyway) */
  padId?: number;
  /** several whole examples per row (packing.ts) instead of one padded example per row */
  packing?: boolean;
}

export interface Batch {
  /** B*T input ids, row-major */
  inputs: number[];
  /** B*T target ids or IGNORE_INDEX */
  targets: number[];
  validTargets: number;
  /** packed batches: B*T segment id per token (the example's index within its row) */
  segments?: number[];
  /** packed batches: B*T position of each token within its example */
  positions?: number[];
  /** input positions holding an example's token (B*T minus the padding) */
  usedTokens: number;
  /** which examples, in row order (packed: in the order they were placed) */
  examples: number[];
  /** where this batch started */
  start: BatchCursor;
  /** where the next batch starts (save this to resume after this batch) */
  cursor: BatchCursor;
}

/** Uniform integers from one Philox stream. */
class U32Stream {
  private block = 0;
  private buf: Uint32Array = new Uint32Array(0);
  private pos = 0;
  constructor(
    private readonly seed: number,
    private readonly stream: number,
    private readonly domain: number,
  ) {}

  /** Uniform integer in [0, range) by rejection (no modulo bias); 1 <= range <= 2^32. */
  below(range: number): number {
    const limit = Math.floor(4294967296 / range) * range;
    for (;;) {
      if (this.pos >= this.buf.length) {
        this.buf = drawU32(this.seed, this.stream, 0, this.block++, this.domain);
        this.pos = 0;
      }
      const x = this.buf[this.pos++]!;
      if (x < limit) return x % range;
    }
  }
}

/** The order of epoch `epoch`: a Fisher-Yates shuffle of 0..n-1 driven by Philox(seed, epoch). */
export function epochPermutation(n: number, seed: number, epoch: number): Uint32Array {
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const r = new U32Stream(seed, epoch, SHUFFLE_DOMAIN);
  for (let i = n - 1; i > 0; i--) {
    const j = r.below(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

function checkPositiveInt(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new PonderError('BAD_INPUT', `batches: ${name} must be a positive integer (got ${String(v)})`);
}

export class BatchIterator implements Iterator<Batch>, Iterable<Batch> {
  private epoch: number;
  private index: number;
  private perm: Uint32Array | undefined;
  private permEpoch = -1;

  constructor(
    private readonly examples: readonly TokenizedExample[],
    private readonly opts: BatchOptions,
    cursor: BatchCursor = { epoch: 0, index: 0 },
  ) {
    checkPositiveInt('B', opts.B);
    checkPositiveInt('T', opts.T);
    if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) throw new PonderError('BAD_INPUT', `batches: seed must be a non-negative integer (got ${opts.seed})`);
    if (examples.length === 0) throw new PonderError('BAD_INPUT', 'batches: no examples');
    if (examples.length > 0xffffffff) throw new PonderError('BAD_INPUT', `batches: too many examples (${examples.length})`);
    const { epoch, index } = cursor ?? {};
    if (!Number.isSafeInteger(epoch) || epoch < 0 || !Number.isSafeInteger(index) || index < 0 || index >= examples.length) {
      throw new PonderError(
        'BAD_INPUT',
        `batches: invalid cursor ${JSON.stringify(cursor)} for ${examples.length} examples (epoch >= 0, 0 <= index < ${examples.length})`,
        'the checkpoint was saved with different data',
      );
    }
    this.epoch = epoch;
    this.index = index;
  }

  /** Position of the next batch (a copy; JSON-serialisable). */
  get cursor(): BatchCursor {
    return { epoch: this.epoch, index: this.index };
  }

  /** A new iterator over the same examples and options, positioned at `cursor`. */
  iteratorFrom(cursor: BatchCursor): BatchIterator {
    return new BatchIterator(this.examples, this.opts, cursor);
  }

  private order(epoch: number): Uint32Array {
    if (this.permEpoch !== epoch || !this.perm) {
      this.perm = epochPermutation(this.examples.length, this.opts.seed, epoch);
      this.permEpoch = epoch;
    }
    return this.perm;
  }

  /** The example at the cursor, and the cursor moved past it (into the next epoch at the end). */
  private take(): number {
    const ex = this.order(this.epoch)[this.index]!;
    if (++this.index === this.examples.length) {
      this.index = 0;
      this.epoch++;
    }
    return ex;
  }

  nextBatch(): Batch {
    return this.opts.packing ? this.nextPackedBatch() : this.nextPaddedBatch();
  }

  /** Whole examples first fit into the B rows until the next one fits no row (packing.ts). */
  private nextPackedBatch(): Batch {
    const { B, T } = this.opts;
    const start = this.cursor;
    const packer = new RowPacker(B, T, this.opts.padId ?? 0);
    const picked: number[] = [];
    // every example fits an empty row (cut to T), so each batch takes at least one
    while (packer.add(this.examples[this.order(this.epoch)[this.index]!]!) >= 0) picked.push(this.take());
    const rows = packer.finish();
    return { inputs: rows.inputs, targets: rows.targets, validTargets: rows.validTargets, segments: rows.segments, positions: rows.positions, usedTokens: rows.usedTokens, examples: picked, start, cursor: this.cursor };
  }

  private nextPaddedBatch(): Batch {
    const { B, T } = this.opts;
    const pad = this.opts.padId ?? 0;
    const start = this.cursor;
    const inputs: number[] = [];
    const targets: number[] = [];
    const picked: number[] = [];
    let validTargets = 0;
    let usedTokens = 0;
    for (let b = 0; b < B; b++) {
      const ex = this.take();
      picked.push(ex);
      const row = toRow(this.examples[ex]!, T, pad);
      for (let j = 0; j < T; j++) {
        inputs.push(row.inputs[j]!);
        targets.push(row.targets[j]!);
      }
      validTargets += row.validTargets;
      usedTokens += Math.min(this.examples[ex]!.tokens.length, T);
    }
    return { inputs, targets, validTargets, usedTokens, examples: picked, start, cursor: this.cursor };
  }

  /** Never done: epochs follow each other; the trainer decides how many steps to take. */
  next(): IteratorResult<Batch> {
    return { done: false, value: this.nextBatch() };
  }

  [Symbol.iterator](): BatchIterator {
    return this;
  }
}

export function batchIterator(examples: readonly TokenizedExample[], opts: BatchOptions, cursor?: BatchCursor): BatchIterator {
  return new BatchIterator(examples, opts, cursor);
}

export function iteratorFrom(examples: readonly TokenizedExample[], opts: BatchOptions, cursor: BatchCursor): BatchIterator {
  return new BatchIterator(examples, opts, cursor);
}

// ---------------------------------------------------------------------------------------------------
// stage data -> examples

/** A generated data set: a recipe's TaskDataSpec (with or without its `type`). */
export type TaskDataInput = WrittenTaskOptions & { type?: 'task'; task: string; n: number; cot: boolean };

/** Problems as examples: SFT = user prompt + assistant target; pretrain = "prompt\ntarget". */
export function taskExamples(task: VerifiableTask, problems: readonly Problem[], opts: { kind: ExampleKind; cot: boolean; options?: TaskOptions }): Example[] {
  return problems.map((p) => {
    const target = task.target(p, { ...opts.options, cot: opts.cot });
    return opts.kind === 'sft'
      ? { kind: 'sft', messages: [{ role: 'user', content: p.prompt }, { role: 'assistant', content: target }] }
      : { kind: 'pretrain', text: `${p.prompt}\n${target}` };
  });
}

/** `spec.n` problems of any registered task, with the spec's task options (prompt -> user turn, target(p, {cot}) -> assistant turn). */
export function generateTaskExamples(spec: TaskDataInput, kind: ExampleKind, seed: number): Example[] {
  // everything but the bookkeeping keys is the task's options (cot included)
  const { type: _type, task: name, n, ...options } = spec;
  const task = taskByName(name);
  return taskExamples(task, task.generate(n, seed, options), { kind, cot: spec.cot, options });
}

/** A plain-text pretraining file: one document per paragraph (blank-line separated). */
export function readTextDocuments(path: string): Example[] {
  let text: string;
  try {
    text = readTextFile(path, { what: 'data file', maxBytes: READ_LIMITS.data, fatal: true });
  } catch (e) {
    if (e instanceof PonderError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new PonderError('BAD_INPUT', `${path}: cannot read (${code ?? String(e)})`);
  }
  const docs = text
    .split(/\r?\n(?:[ \t]*\r?\n)+/)
    .map((d) => d.trim())
    .filter((d) => d.length > 0);
  if (docs.length === 0) throw new PonderError('BAD_INPUT', `${path}: empty (no text)`);
  return docs.map((d) => ({ kind: 'pretrain', text: d }));
}

/** The examples of a stage's `data` (a generated task, a .jsonl file, or for pretraining a .txt file). */
export function loadStageExamples(data: StageData, kind: ExampleKind, seed: number): Example[] {
  if (data.type === 'task') return generateTaskExamples(data, kind, seed);
  if (kind === 'pretrain' && extname(data.path).toLowerCase() === '.txt') return readTextDocuments(data.path);
  return readJsonl(data.path, { kind });
}
