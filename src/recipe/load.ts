/**
 * Loads a recipe file: YAML -> schema check (zod) -> cross-field rules -> files and models on disk ->
 * a typed Recipe with every default filled, paths resolved and the model's config known.
 *
 * Every failure is ONE PonderError('BAD_INPUT') line that names the file, the line and the field:
 *
 *   recipes/x.yaml:12: stages[0].optimizer.lr: must be > 0 (got -1)
 *
 * The line comes from mapping the failing field's path back to the YAML node it was parsed from
 * (yaml's parseDocument keeps each node's source range; a LineCounter turns offsets into lines). A
 * field that is missing points at its parent's line; an unknown key points at the key itself.
 *
 * Paths inside a recipe (stage data files, model.init directories) are relative to the recipe's own
 * directory, so a recipe means the same thing wherever it is run from; `output` is relative to the
 * working directory, like any output flag.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { core } from 'zod';
import { BYTE_SPECIAL_TOKENS, BYTE_VOCAB_SIZE } from '../data/byte-tokenizer.js';
import { readPairs } from '../data/pairs.js';
import { isPonderError, PonderError } from '../errors.js';
import { resolveModel, type ModelKind } from '../io/resolve-model.js';
import { readConfigJson } from '../io/model-dir.js';
import { READ_LIMITS, readRegularFile } from '../io/read-file.js';
import { configToJson, parseModelConfig, type ModelConfig } from '../model/config.js';
import { knownKeysAt, nearestKey } from './did-you-mean.js';
import { applyOverrides, overriddenBy, type RecipeOverride } from './overrides.js';
import { taskByName, TaskOptionError, type TaskOptions } from '../tasks/index.js';
import {
  crossFieldIssues,
  DEFAULT_LR,
  OptimizerSchema,
  type GRPO_LOSSES,
  type REWARD_SCALES,
  type TemperatureSettingRaw,
  RecipeSchema,
  type OptimizerSettings,
  type StageMtp,
  type RawModelConfig,
  type RawGrpoStage,
  type RawDpoStage,
  type RawRftStage,
  type RawRolloutDpoStage,
  type RawSelfEvolveStage,
  type DPO_LOSSES,
  type RawStage,
  type RawRecipe,
  type RecipeIssue,
  type StageKind,
  type TaskName,
} from './schema.js';

// the data a stage reads: defined in data/ (its readers take them), re-exported for the recipe's users
export type { FileDataSpec, StageData, TaskDataSpec, WrittenTaskOptions } from '../data/stage-data.js';
import type { FileDataSpec, StageData, TaskDataSpec, WrittenTaskOptions } from '../data/stage-data.js';

/** Keys of a TaskDataSpec / EvalSpec that are not task options. */
const SPEC_KEYS = new Set(['type', 'task', 'n', 'cot', 'every', 'samples', 'temperature', 'max_tokens']);

/** The options to hand the task (its generate / parseOptions): cot and the written task options. */
export function taskOptionsOf(spec: TaskDataSpec | EvalSpec): TaskOptions {
  const out: TaskOptions = { cot: spec.cot };
  for (const [k, v] of Object.entries(spec)) if (!SPEC_KEYS.has(k) && v !== undefined) out[k] = v;
  return out;
}


export interface EvalSpec extends WrittenTaskOptions {
  task: TaskName;
  n: number;
  /** optimizer steps between evaluations (the stage's steps when only at the end) */
  every: number;
  cot: boolean;
  /** answers sampled per problem (absent: one, greedy) */
  samples?: number;
  temperature?: number;
  max_tokens?: number;
}

/** A grpo stage's settings (schema.ts GrpoStageSchema, defaults filled). */
export interface GrpoSettings {
  group_size: number;
  max_new_tokens: number;
  temperature: TemperatureSettingRaw;
  top_p: number;
  loss: (typeof GRPO_LOSSES)[number];
  clip: { low: number; high: number };
  kl_coef: number;
  scale_rewards: (typeof REWARD_SCALES)[number];
  iterations: number;
  mask_truncated: boolean;
  overlong?: { max: number; buffer: number };
  rewards: { name: string; weight: number }[];
  dynamic_sampling?: { max_draws: number };
  easy_pool?: { rate: number };
  micro_batch?: number;
  think?: boolean;
}

/** The DPO objective of a dpo or rollout_dpo stage (schema.ts dpoFields, defaults filled). */
export interface DpoStageSettings {
  beta: number;
  loss: (typeof DPO_LOSSES)[number];
  label_smoothing: number;
  sft_weight: number;
}

/** How an online stage (rft, rollout_dpo) samples (schema.ts rolloutFields, defaults filled). */
export interface RolloutSettings {
  samples: number;
  max_new_tokens: number;
  temperature: number;
  top_p: number;
  think?: boolean;
  /** rollout_dpo, self_evolve: most pairs per prompt */
  pairs_per_prompt?: number;
}

/** A self_evolve stage's rounds (schema.ts SelfEvolveStageSchema); its sampling is in `rollout`. */
export interface SelfEvolveSettings {
  rounds: number;
  steps_per_round: number;
  prompts_per_round: number;
  temperatures: number[];
  variations: string[];
}

export interface RecipeStage {
  name: string;
  kind: StageKind;
  data: StageData;
  steps: number;
  /** sequences per micro-batch (grpo: prompts per optimizer step) */
  batch_size: number;
  /** micro-batches per optimizer step (gradient accumulation; 1 = none) */
  grad_accum: number;
  seq_len: number;
  /**
   * the recipe wrote no seq_len: until recipe/seq-len.ts fills it from the data (the CLI does, before
   * any check or run), seq_len is the model's context
   */
  seq_len_auto?: true;
  optimizer: OptimizerSettings;
  eval?: EvalSpec;
  /** trains the MTP modules too (or only them, with freeze_trunk) */
  mtp?: StageMtp;
  /** kinds pretrain and sft: several whole examples per row (data/packing.ts) */
  packing?: boolean;
  /** kind grpo only */
  grpo?: GrpoSettings;
  /** kinds dpo and rollout_dpo */
  dpo?: DpoStageSettings;
  /** kinds rft, rollout_dpo and self_evolve (self_evolve: temperature is its first temperature) */
  rollout?: RolloutSettings;
  /** kind self_evolve */
  evolve?: SelfEvolveSettings;
}

export interface RecipeModel {
  /** as written: scratch, a directory, or a name under models/ */
  init: string;
  /** where the initial weights come from */
  source: 'scratch' | ModelKind;
  /** the model directory (absolute), unless scratch */
  dir?: string;
  /** the model's config (from the recipe for scratch, from the directory's config.json otherwise) */
  config: ModelConfig;
  /** 'bytes': the built-in byte tokenizer; 'model': the tokenizer files in `dir` */
  tokenizer: 'bytes' | 'model';
  /** the MTP modules are new (model.mtp_layers on a model without them): the tuner initialises them */
  freshMtp?: boolean;
}

export interface Recipe {
  /** the recipe file, absolute */
  file: string;
  model: RecipeModel;
  /** run directory, absolute */
  output: string;
  seed: number;
  checkpoint_every: number;
  stages: RecipeStage[];
  /** the command-line overrides applied to the file (as typed), when there were any; the hash covers their effect */
  overrides?: string[];
}

export interface LoadedRecipe {
  recipe: Recipe;
  /** sha256 (hex) of the canonical resolved recipe, with paths as written: the same recipe hashes the same anywhere */
  hash: string;
}

export interface LoadOptions {
  /** base for `output` (default: process.cwd()) */
  cwd?: string;
  /** where model names (model.init: default) are looked up; default: the package's models/ */
  modelsDir?: string;
  /** `key=value` overrides from the command line (overrides.ts), applied to the document before validation */
  overrides?: readonly RecipeOverride[];
}

type Path = (string | number)[];

/** `stages[0].optimizer.lr` */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else s += s === '' ? String(seg) : `.${String(seg)}`;
  }
  return s === '' ? '(top level)' : s;
}

/** How a value is shown after "got": strings quoted, containers by kind. */
function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

const TYPE_NAMES: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping (key: value lines)',
  array: 'a list',
};

/** Turns one zod issue into a field path and a short message (the line is found later). */
function describeIssue(issue: core.$ZodIssue): RecipeIssue {
  const path = issue.path as Path;
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return { path, message: `required, but missing (expected ${TYPE_NAMES[issue.expected] ?? issue.expected})` };
      return { path, message: `must be ${TYPE_NAMES[issue.expected] ?? issue.expected} (got ${shown(input)})` };
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = small ? (issue as core.$ZodIssueTooSmall).minimum : (issue as core.$ZodIssueTooBig).maximum;
      const inclusive = issue.inclusive !== false;
      if (issue.origin === 'array') return { path, message: `must have ${small ? 'at least' : 'at most'} ${bound} item${Number(bound) === 1 ? '' : 's'} (got ${Array.isArray(input) ? input.length : shown(input)})` };
      if (issue.origin === 'string') return { path, message: small ? `must not be empty` : `must be at most ${bound} characters` };
      const op = small ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
      return { path, message: `must be ${op} ${bound} (got ${shown(input)})` };
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => String(v));
      if (input === undefined) return { path, message: `required, but missing (one of: ${values.join(', ')})` };
      const last = path[path.length - 1];
      if (last === 'kind') return { path, message: `unknown stage kind ${shown(input)} (known: ${values.join(', ')})` };
      if (last === 'task') return { path, message: `unknown task ${shown(input)} (known: ${values.join(', ')})` };
      if (values.length === 1) return { path, message: `must be ${values[0]} (got ${shown(input)})` };
      return { path, message: `must be one of ${values.join(', ')} (got ${shown(input)})` };
    }
    case 'unrecognized_keys': {
      // name the first unknown key; its own path so the line is the key's
      return { path: [...path, issue.keys[0]!], message: `unknown key${issue.keys.length > 1 ? ` (also: ${issue.keys.slice(1).join(', ')})` : ''}`, atKey: true };
    }
    case 'invalid_union': {
      const disc = issue as unknown as { note?: string; options?: unknown[] };
      if (disc.note === 'No matching discriminator' && path[path.length - 1] === 'kind') {
        const known = (disc.options ?? []).map(String).join(', ');
        const kind = input && typeof input === 'object' ? (input as Record<string, unknown>).kind : undefined;
        if (kind === undefined) return { path, message: `required, but missing (one of: ${known})` };
        return { path, message: `unknown stage kind ${shown(kind)} (known: ${known})` };
      }
      // `data` is a path string or a task mapping. When the value has one option's type (a mapping),
      // that option's own complaint (paths relative to the union) is the useful one.
      const matching = issue.errors.filter((branch) => !branch.some((b) => b.path.length === 0 && b.code === 'invalid_type'));
      if (matching.length === 1 && matching[0]!.length > 0) {
        const inner = matching[0]!.map((b) => describeIssue({ ...b, path: [...path, ...b.path] } as core.$ZodIssue));
        return inner.sort((a, b) => a.path.length - b.path.length)[0]!;
      }
      if (path[path.length - 1] === 'data') return { path, message: `must be a task mapping like {task: arithmetic, n: 1000} or a path to a .jsonl file (got ${shown(input)})` };
      return { path, message: `invalid value (got ${shown(input)})` };
    }
    case 'invalid_format':
      return { path, message: `${issue.message.replace(/^Invalid string: /, '')} (got ${shown(input)})` };
    default:
      return { path, message: issue.message };
  }
}

/**
 * Adds "did you mean" to a key problem: an unknown key near a known one names it, and a required key
 * that is missing because it is misspelt (`stagess:` for `stages:`) is reported as that unknown key,
 * the line a reader has to fix, rather than as a missing field.
 */
function withSuggestion(issue: RecipeIssue, raw: unknown): RecipeIssue {
  const key = issue.path[issue.path.length - 1];
  if (typeof key !== 'string') return issue;
  const parent = issue.path.slice(0, -1);
  if (issue.atKey && issue.message.startsWith('unknown key')) {
    const near = nearestKey(key, knownKeysAt(RecipeSchema, raw, parent));
    return near ? { ...issue, message: issue.message.replace(/^unknown key/, `unknown key (did you mean ${near}?)`) } : issue;
  }
  if (issue.message.startsWith('required, but missing')) {
    let mapping: unknown = raw;
    for (const seg of parent) mapping = mapping && typeof mapping === 'object' ? (mapping as Record<string | number, unknown>)[seg] : undefined;
    if (!mapping || typeof mapping !== 'object' || Array.isArray(mapping)) return issue;
    const known = new Set(knownKeysAt(RecipeSchema, raw, parent));
    const misspelt = Object.keys(mapping).find((k) => !known.has(k) && nearestKey(k, [key]) === key);
    if (misspelt !== undefined) return { path: [...parent, misspelt], message: `unknown key (did you mean ${key}?)`, atKey: true };
  }
  return issue;
}

/** Finds the line a field path came from (1-based). Missing fields: their parent's line. */
function lineOf(doc: Document, lc: LineCounter, path: Path, atKey = false): number {
  const lineAt = (offset: number) => lc.linePos(offset).line;
  let node: unknown = doc.contents;
  let line = node && (node as { range?: number[] }).range ? lineAt((node as { range: number[] }).range[0]!) : 1;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return line;
      const key = pair.key as { range?: number[] } | null;
      if (key?.range) line = lineAt(key.range[0]!);
      const value = pair.value as { range?: number[] } | null;
      if (last) {
        if (!atKey && isScalar(value) && value.range) line = lineAt(value.range[0]!);
        return line;
      }
      node = value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as { range?: number[] } | undefined;
      if (!item) return line;
      if (item.range) line = lineAt(item.range[0]!);
      node = item;
    } else {
      return line;
    }
  }
  return line;
}

/** JSON with keys sorted at every level, so equal recipes serialize (and hash) equally. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A scratch model's ModelConfig, via the same validator as config.json (HF defaults filled). */
function scratchConfig(c: RawModelConfig, where: string): ModelConfig {
  return parseModelConfig(
    {
      architectures: [c.architecture],
      vocab_size: BYTE_VOCAB_SIZE,
      hidden_size: c.hidden_size,
      num_hidden_layers: c.num_hidden_layers,
      num_attention_heads: c.num_attention_heads,
      num_key_value_heads: c.num_key_value_heads,
      head_dim: c.head_dim,
      intermediate_size: c.intermediate_size,
      max_position_embeddings: c.max_position_embeddings,
      rms_norm_eps: c.rms_norm_eps,
      rope_theta: c.rope_theta,
      tie_word_embeddings: c.tie_word_embeddings,
      attention_bias: c.attention_bias,
      bos_token_id: BYTE_SPECIAL_TOKENS.bos,
      eos_token_id: BYTE_SPECIAL_TOKENS.eos,
      ponder: { tokenizer: 'bytes' },
    },
    where,
  );
}

/** Reads, validates and resolves a recipe file. Throws one PonderError line on any problem. */
export function loadRecipe(path: string, opts: LoadOptions = {}): LoadedRecipe {
  // a regular file of at most 16 MiB (a FIFO or /dev/zero would hang the read), and text: a binary
  // file is refused here with one short line instead of a YAML error quoting its bytes
  const bytes = readRegularFile(path, { what: 'recipe file', maxBytes: READ_LIMITS.small });
  if (bytes.includes(0)) throw new PonderError('BAD_INPUT', `${path}: is a binary file (it holds NUL bytes), not a recipe`, 'a recipe is a YAML text file (see docs/recipes.md)');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PonderError('BAD_INPUT', `${path}: is not UTF-8 text, not a recipe`, 'a recipe is a YAML text file (see docs/recipes.md)');
  }
  return parseRecipe(text, path, opts);
}

/**
 * The document as plain values. YAML aliases may expand exponentially (an "alias bomb": each anchor a
 * list of aliases of the one before); yaml stops past maxAliasCount expansions, and that is reported
 * as one line naming the file and the line of the last alias, the one whose expansion went over.
 */
function recipeToJs(doc: Document, lc: LineCounter, path: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    if (!(e instanceof Error) || !/alias/i.test(e.message)) throw e;
    let at = 0;
    visit(doc, {
      Alias(_, node) {
        if (node.range) at = Math.max(at, node.range[0]);
      },
    });
    throw new PonderError('BAD_INPUT', `${path}:${lc.linePos(at).line}: YAML aliases expand to too many values (more than 1000 alias expansions)`, 'write the values out, or use fewer nested aliases');
  }
}

/** As loadRecipe, for recipe text already in memory; `path` names it in errors and anchors relative paths. */
export function parseRecipe(text: string, path: string, opts: LoadOptions = {}): LoadedRecipe {
  const file = resolve(path);
  const recipeDir = dirname(file);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });

  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = lc.linePos(e.pos[0]).line;
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?\s*$/, '');
    throw new PonderError('BAD_INPUT', `${path}:${line}: YAML syntax error: ${what}`);
  }
  const overrides = opts.overrides ?? [];
  applyOverrides(doc, overrides, path);
  if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) {
    throw new PonderError('BAD_INPUT', `${path}:1: the recipe is empty (expected model:, stages:, ...; see docs/recipes.md)`);
  }
  const raw: unknown = recipeToJs(doc, lc, path);
  // a field written on the command line has no line in the file: say where it came from instead
  const where = (p: Path, atKey?: boolean): string => (overriddenBy(overrides, p, atKey) ? `${path} (from the command line)` : `${path}:${lineOf(doc, lc, p, atKey)}`);
  const report = (issue: RecipeIssue): PonderError => new PonderError('BAD_INPUT', `${where(issue.path, issue.atKey)}: ${formatFieldPath(issue.path)}: ${issue.message}`);

  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PonderError('BAD_INPUT', `${path}:${lineOf(doc, lc, [])}: the recipe must be a mapping with model:, stages:, ... (got ${shown(raw)})`);
  }

  const parsed = RecipeSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    // the issue that comes first in the file is the one a reader fixes first
    const issues = parsed.error.issues.map(describeIssue).map((i) => withSuggestion(i, raw));
    const lines = issues.map((i) => lineOf(doc, lc, i.path, i.atKey));
    let best = 0;
    for (let i = 1; i < issues.length; i++) if (lines[i]! < lines[best]!) best = i;
    throw report(issues[best]!);
  }
  const r: RawRecipe = parsed.data;
  const cross = crossFieldIssues(r);
  if (cross.length > 0) throw report(cross[0]!);

  // the model: scratch (config in the recipe) or a directory / name (its config.json)
  let model: RecipeModel;
  if (r.model.init === 'scratch') {
    let config: ModelConfig;
    try {
      config = scratchConfig(r.model.config!, 'model.config');
    } catch (e) {
      // crossFieldIssues covers parseModelConfig's rules; this is a backstop that still names a line
      if (isPonderError(e)) throw new PonderError('BAD_INPUT', `${where(['model', 'config'])}: model.config: ${e.message.replace(/^model\.config: /, '')}`);
      throw e;
    }
    config = { ...config, num_nextn_predict_layers: r.model.mtp_layers ?? 0 };
    model = { init: 'scratch', source: 'scratch', config, tokenizer: 'bytes' };
  } else {
    const spec = r.model.init;
    const initAt = (msg: string) => new PonderError('BAD_INPUT', `${where(['model', 'init'])}: model.init: ${msg}`);
    const candidate = resolve(recipeDir, spec);
    const bareName = !spec.includes('/') && !spec.includes('\\') && spec !== '.' && spec !== '..';
    let kind: ModelKind;
    let dir: string;
    try {
      if (isDirectory(candidate) || !bareName) {
        if (!isDirectory(candidate)) {
          throw initAt(`no such directory ${JSON.stringify(spec)} (looked at ${candidate}; paths are relative to the recipe's directory)`);
        }
        ({ kind, dir } = resolveModel(candidate, opts));
      } else {
        ({ kind, dir } = resolveModel(spec, opts));
      }
    } catch (e) {
      if (isPonderError(e) && !e.message.startsWith(`${path}:`)) {
        throw initAt(`${JSON.stringify(spec)} is not scratch, a ponder model directory, an HF directory or a model name under models/ (${e.message})`);
      }
      throw e;
    }
    let config: ModelConfig;
    try {
      config = readConfigJson(dir);
    } catch (e) {
      if (isPonderError(e)) throw initAt(e.message);
      throw e;
    }
    // MTP modules: the model's own, none (mtp_layers: 0), or fresh ones for a model without them
    const own = config.num_nextn_predict_layers;
    const want = r.model.mtp_layers ?? own;
    if (own > 0 && want > 0 && want !== own) {
      throw report({ path: ['model', 'mtp_layers'], message: `the model has ${own} MTP layers: mtp_layers may be ${own} (keep them) or 0 (drop them), got ${want}` });
    }
    model = { init: spec, source: kind, dir: resolve(dir), config: { ...config, num_nextn_predict_layers: want }, tokenizer: config.ponder?.tokenizer === 'bytes' ? 'bytes' : 'model', ...(own === 0 && want > 0 ? { freshMtp: true } : {}) };
  }

  /** absolute path -> as written, so the hash sees task path options as written */
  const pathsWritten = new Map<string, string>();
  /**
   * A data set's or eval's task options, validated by the task's parseOptions (errors name the field
   * and its line) and kept as written (normalised: "+,-" becomes a list), path options resolved
   * against the recipe's directory and checked to be files.
   */
  const taskOptions = (taskName: string, written: Record<string, unknown>, at: Path): WrittenTaskOptions => {
    const task = taskByName(taskName);
    let parsed: TaskOptions;
    try {
      parsed = task.parseOptions(written, task.name);
    } catch (e) {
      if (e instanceof TaskOptionError) {
        const path = e.index !== undefined ? [...at, e.option, e.index] : Object.hasOwn(written, e.option) ? [...at, e.option] : at;
        if (!task.options.some((o) => o.name === e.option) && Object.hasOwn(written, e.option)) {
          // a misspelt key: name everything the mapping may hold, not only the task's options
          const own = ['cot', ...task.options.map((o) => o.name)].sort();
          const isEval = at[at.length - 1] === 'eval';
          const fixed = isEval ? ['task', 'n', 'every'] : ['task', 'n'];
          const near = nearestKey(e.option, [...fixed, ...(isEval ? ['samples', 'temperature', 'max_tokens'] : []), ...own]);
          throw report({ path, message: `unknown key${near ? ` (did you mean ${near}?)` : ''} (${fixed.join(', ')}, and ${task.name}'s options: ${own.join(', ')})`, atKey: true });
        }
        throw report({ path, message: e.message });
      }
      throw e;
    }
    const out: WrittenTaskOptions = {};
    for (const key of Object.keys(written)) {
      if (written[key] === undefined) continue;
      let v = parsed[key];
      if (task.options.find((o) => o.name === key)?.kind === 'path' && typeof v === 'string') {
        const abs = resolve(recipeDir, v);
        let st;
        try {
          st = statSync(abs);
        } catch {
          throw report({ path: [...at, key], message: `no such file ${JSON.stringify(v)} (looked at ${abs}; paths are relative to the recipe's directory)` });
        }
        if (!st.isFile()) throw report({ path: [...at, key], message: `${JSON.stringify(v)} is not a file (${abs})` });
        pathsWritten.set(abs, v);
        v = abs;
      }
      out[key] = v;
    }
    return out;
  };

  // stages: context length, data files, eval defaults
  /** A stage's eval: the stage data's task options when it is the same task, overridden by what the eval writes. */
  const resolveEval = (raw: RawStage['eval'], data: StageData, steps: number, i: number): EvalSpec | undefined => {
    if (!raw) return undefined;
    const { task, n, every, cot, samples, temperature, max_tokens, ...written } = raw;
    const sameTask = data.type === 'task' && data.task === task ? data : undefined;
    const inherited: Record<string, unknown> = sameTask ? taskOptionsOf(sameTask) : {};
    delete inherited.cot;
    // sampling settings only when written, so recipes without them keep their hash
    const sampling = { ...(samples !== undefined ? { samples } : {}), ...(temperature !== undefined ? { temperature } : {}), ...(max_tokens !== undefined ? { max_tokens } : {}) };
    return { task, n, every: every ?? steps, cot: cot ?? sameTask?.cot ?? false, ...sampling, ...inherited, ...taskOptions(task, written, ['stages', i, 'eval']) };
  };

  /** A stage's data file: one of the allowed extensions, an existing regular file (relative to the recipe). */
  const dataFile = (written: string, allowed: string[], what: string, i: number): FileDataSpec => {
    const abs = resolve(recipeDir, written);
    if (!allowed.includes(extname(written).toLowerCase())) {
      throw report({ path: ['stages', i, 'data'], message: `${what} file must be ${allowed.join(' or ')} (got ${JSON.stringify(written)})` });
    }
    let st;
    try {
      st = statSync(abs);
    } catch {
      throw report({ path: ['stages', i, 'data'], message: `no such file ${JSON.stringify(written)} (looked at ${abs}; paths are relative to the recipe's directory)` });
    }
    if (!st.isFile()) throw report({ path: ['stages', i, 'data'], message: `${JSON.stringify(written)} is not a file (${abs})` });
    return { type: 'file', path: abs, written };
  };

  // stages: context length, data files, eval defaults
  const stages: RecipeStage[] = r.stages.map((s, i) => {
    if (s.kind === 'grpo') {
      const grpoRaw = s;
      const { task, n, cot, ...written } = grpoRaw.data;
      const data: TaskDataSpec = { type: 'task', task, n, cot, ...taskOptions(task, written, ['stages', i, 'data']) };
      return grpoStage(grpoRaw, i, model.config, report, data, resolveEval(grpoRaw.eval, data, grpoRaw.steps, i));
    }
    if (s.kind === 'dpo') {
      const data = dataFile(s.data, ['.jsonl'], 'a dpo pairs', i);
      // the pairs' shape is checked here too, so `tune --check` names a bad line (its own file:line)
      readPairs(data.path);
      return dpoStage(s, i, model.config, report, data, resolveEval(s.eval, data, s.steps, i));
    }
    if (s.kind === 'self_evolve') {
      const { task, n, cot, ...written } = s.data;
      const data: TaskDataSpec = { type: 'task', task, n, cot, ...taskOptions(task, written, ['stages', i, 'data']) };
      return selfEvolveStage(s, i, model.config, report, data, resolveEval(s.eval, data, s.rounds * s.steps_per_round, i));
    }
    if (s.kind === 'rft' || s.kind === 'rollout_dpo') {
      const { task, n, cot, ...written } = s.data;
      const data: TaskDataSpec = { type: 'task', task, n, cot, ...taskOptions(task, written, ['stages', i, 'data']) };
      return onlineStage(s, i, model.config, report, data, resolveEval(s.eval, data, s.steps, i));
    }
    if (s.seq_len !== undefined && s.seq_len > model.config.max_position_embeddings) {
      throw report({ path: ['stages', i, 'seq_len'], message: `must be <= the model's max_position_embeddings (${model.config.max_position_embeddings}) (got ${s.seq_len})` });
    }
    let data: StageData;
    if (typeof s.data === 'string') {
      data = dataFile(s.data, s.kind === 'pretrain' ? ['.jsonl', '.txt'] : ['.jsonl'], `a ${s.kind} data`, i);
    } else {
      const { task, n, cot, ...written } = s.data;
      data = { type: 'task', task, n, cot, ...taskOptions(task, written, ['stages', i, 'data']) };
    }
    const ev = resolveEval(s.eval, data, s.steps, i);
    if (s.mtp && model.config.num_nextn_predict_layers === 0) {
      throw report({ path: ['stages', i, 'mtp'], message: 'the model has no MTP layers to train: set model.mtp_layers (e.g. 1)', atKey: true });
    }
    return { name: s.name, kind: s.kind, data, steps: s.steps, batch_size: s.batch_size, grad_accum: s.grad_accum, ...seqLenOf(s.seq_len, model.config), packing: s.packing, optimizer: stageOptimizer(s), eval: ev, ...(s.mtp ? { mtp: s.mtp } : {}) };
  });

  const outputWritten = r.output ?? `runs/${basename(file, extname(file))}`;
  const recipe: Recipe = {
    file,
    model,
    output: isAbsolute(outputWritten) ? outputWritten : resolve(opts.cwd ?? process.cwd(), outputWritten),
    seed: r.seed,
    checkpoint_every: r.checkpoint_every,
    stages,
    ...(overrides.length > 0 ? { overrides: overrides.map((o) => o.text) } : {}),
  };
  return { recipe, hash: recipeHash(recipe, outputWritten, pathsWritten) };
}

/** A stage's optimizer: what it wrote, the schema's defaults for the rest, and its kind's lr when it wrote none. */
function stageOptimizer(s: RawStage): OptimizerSettings {
  const written = OptimizerSchema.parse(s.optimizer ?? {});
  return { ...written, lr: written.lr ?? DEFAULT_LR[s.kind] };
}

/**
 * A sequence or dpo stage's seq_len: as written, or (none written) the model's context for now,
 * marked seq_len_auto so that recipe/seq-len.ts can derive it from the data before the run.
 */
function seqLenOf(written: number | undefined, config: ModelConfig): { seq_len: number; seq_len_auto?: true } {
  return written !== undefined ? { seq_len: written } : { seq_len: config.max_position_embeddings, seq_len_auto: true };
}

/** A grpo stage resolved: its settings apart, seq_len the context (its longest possible row). */
function grpoStage(s: RawGrpoStage, i: number, config: ModelConfig, report: (issue: RecipeIssue) => PonderError, data: TaskDataSpec, ev?: EvalSpec): RecipeStage {
  const { name, kind, steps, batch_size, optimizer: _optimizer, data: _data, eval: _eval, ...settings } = s;
  const ctx = config.max_position_embeddings;
  if (settings.max_new_tokens >= ctx) {
    throw report({ path: ['stages', i, 'max_new_tokens'], message: `must leave room for the prompt in the model's context of ${ctx} tokens (got ${settings.max_new_tokens})` });
  }
  if (settings.overlong && settings.overlong.buffer >= settings.overlong.max) {
    throw report({ path: ['stages', i, 'overlong', 'buffer'], message: `must be below overlong.max (${settings.overlong.max}) (got ${settings.overlong.buffer})` });
  }
  if (settings.micro_batch !== undefined && (batch_size * settings.group_size) % settings.micro_batch !== 0) {
    throw report({ path: ['stages', i, 'micro_batch'], message: `must divide batch_size x group_size (${batch_size * settings.group_size}) (got ${settings.micro_batch})` });
  }
  // seq_len: the longest sequence the stage can train on (prompt + completion within the context)
  return { name, kind, data, steps, batch_size, grad_accum: 1, seq_len: ctx, optimizer: stageOptimizer(s), eval: ev, grpo: settings };
}

/** The DPO settings of a dpo / rollout_dpo stage, with the loss-specific rules dpoLoss enforces named at their line. */
function dpoSettings(s: RawDpoStage | RawRolloutDpoStage | RawSelfEvolveStage, i: number, report: (issue: RecipeIssue) => PonderError): DpoStageSettings {
  if (s.label_smoothing !== 0 && (s.loss === 'ipo' || s.loss === 'hinge')) {
    throw report({ path: ['stages', i, 'label_smoothing'], message: `applies to the sigmoid and robust losses, not ${s.loss} (got ${s.label_smoothing})` });
  }
  return { beta: s.beta, loss: s.loss, label_smoothing: s.label_smoothing, sft_weight: s.sft_weight };
}

/** A dpo stage resolved: a pairs file, rows of seq_len tokens within the context. */
function dpoStage(s: RawDpoStage, i: number, config: ModelConfig, report: (issue: RecipeIssue) => PonderError, data: FileDataSpec, ev?: EvalSpec): RecipeStage {
  if (s.seq_len !== undefined && s.seq_len > config.max_position_embeddings) {
    throw report({ path: ['stages', i, 'seq_len'], message: `must be <= the model's max_position_embeddings (${config.max_position_embeddings}) (got ${s.seq_len})` });
  }
  return { name: s.name, kind: s.kind, data, steps: s.steps, batch_size: s.batch_size, grad_accum: 1, ...seqLenOf(s.seq_len, config), optimizer: stageOptimizer(s), eval: ev, dpo: dpoSettings(s, i, report) };
}

/** An rft / rollout_dpo stage resolved: sampling settings apart, seq_len the context (its longest row). */
function onlineStage(s: RawRftStage | RawRolloutDpoStage, i: number, config: ModelConfig, report: (issue: RecipeIssue) => PonderError, data: TaskDataSpec, ev?: EvalSpec): RecipeStage {
  const ctx = config.max_position_embeddings;
  if (s.max_new_tokens >= ctx) {
    throw report({ path: ['stages', i, 'max_new_tokens'], message: `must leave room for the prompt in the model's context of ${ctx} tokens (got ${s.max_new_tokens})` });
  }
  const rollout: RolloutSettings = { samples: s.samples, max_new_tokens: s.max_new_tokens, temperature: s.temperature, top_p: s.top_p, ...(s.think !== undefined ? { think: s.think } : {}) };
  const base = { name: s.name, kind: s.kind, data, steps: s.steps, batch_size: s.batch_size, grad_accum: 1, seq_len: ctx, optimizer: stageOptimizer(s), eval: ev };
  if (s.kind === 'rft') return { ...base, rollout };
  return { ...base, rollout: { ...rollout, pairs_per_prompt: s.pairs_per_prompt }, dpo: dpoSettings(s, i, report) };
}

/** A self_evolve stage resolved: steps = rounds x steps_per_round, seq_len the context. */
function selfEvolveStage(s: RawSelfEvolveStage, i: number, config: ModelConfig, report: (issue: RecipeIssue) => PonderError, data: TaskDataSpec, ev?: EvalSpec): RecipeStage {
  const ctx = config.max_position_embeddings;
  if (s.max_new_tokens >= ctx) {
    throw report({ path: ['stages', i, 'max_new_tokens'], message: `must leave room for the prompt in the model's context of ${ctx} tokens (got ${s.max_new_tokens})` });
  }
  const rollout: RolloutSettings = { samples: s.samples, max_new_tokens: s.max_new_tokens, temperature: s.temperatures[0]!, top_p: s.top_p, pairs_per_prompt: s.pairs_per_prompt, ...(s.think !== undefined ? { think: s.think } : {}) };
  const evolve: SelfEvolveSettings = { rounds: s.rounds, steps_per_round: s.steps_per_round, prompts_per_round: s.prompts_per_round, temperatures: s.temperatures, variations: s.variations };
  return { name: s.name, kind: s.kind, data, steps: s.rounds * s.steps_per_round, batch_size: s.batch_size, grad_accum: 1, seq_len: ctx, optimizer: stageOptimizer(s), eval: ev, rollout, dpo: dpoSettings(s, i, report), evolve };
}

/**
 * The hash covers what decides a run: the model (init as written and its full config), seed,
 * checkpoint cadence, output as written and every stage with its defaults filled. Paths (data files
 * and task path options such as jsonl's data) enter as written, so moving the checkout (or running
 * from another directory) keeps the hash. grad_accum enters only when it is not 1, and packing only
 * when it is on, so recipes (and runs) from before those fields existed keep their hash.
 */
function recipeHash(r: Recipe, outputWritten: string, pathsWritten: ReadonlyMap<string, string>): string {
  const asWritten = <T extends object | undefined>(spec: T): T =>
    spec && (Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, typeof v === 'string' ? (pathsWritten.get(v) ?? v) : v])) as T);
  const canonical = {
    model: { init: r.model.init, config: configToJson(r.model.config), tokenizer: r.model.tokenizer, fresh_mtp: r.model.freshMtp },
    output: outputWritten,
    seed: r.seed,
    checkpoint_every: r.checkpoint_every,
    // a seq_len derived from the data enters as 'auto' (whether derived yet or not): the data decide it
    stages: r.stages.map(({ seq_len_auto, ...s }) => ({ ...s, seq_len: seq_len_auto ? 'auto' : s.seq_len, grad_accum: s.grad_accum === 1 ? undefined : s.grad_accum, packing: s.packing ? true : undefined, data: s.data.type === 'file' ? { type: 'file', path: s.data.written } : asWritten(s.data), eval: asWritten(s.eval) })),
  };
  return createHash('sha256').update(canonicalJson(canonical)).digest('hex');
}
