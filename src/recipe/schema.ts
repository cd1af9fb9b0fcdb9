/**
 * The recipe schema: what a `ponder tune` YAML file may contain, as zod (v4) schemas. Every object is
 * strict, so a misspelt key is an error that names the key instead of being silently ignored. The
 * schema only checks shapes, types and ranges of single fields; rules that relate fields (heads that
 * divide the hidden size, unique stage names, seq_len within the context, files that exist) live in
 * `crossFieldIssues` below and in load.ts, so that each failure can still name one field and its line.
 *
 * The model config uses Hugging Face `config.json` names (hidden_size, num_attention_heads, ...), plus
 * ponder's `vocab: bytes` (the built-in byte tokenizer, vocabulary 263) and `architecture` (one HF
 * class name instead of HF's one-element `architectures` list).
 */
import * as z from 'zod';
import { MAX_MTP_LAYERS, SUPPORTED_ARCHITECTURES } from '../model/config.js';
import { knownTaskNames } from '../tasks/index.js';

/** Stage kinds this build knows; each has a runner in src/engine/stages/. */
export const STAGE_KINDS = ['pretrain', 'sft', 'grpo', 'dpo', 'rft', 'rollout_dpo', 'self_evolve'] as const;
/** Kinds that train on fixed token sequences (seq_len, grad_accum, mtp apply). */
export const SEQUENCE_KINDS = ['pretrain', 'sft'] as const;
/** GRPO's ways of averaging token losses (TRL's loss_type names; posttraining.md §1.3). */
export const GRPO_LOSSES = ['grpo', 'dr_grpo', 'dapo'] as const;
export const REWARD_SCALES = ['group', 'batch', 'none'] as const;
export type StageKind = (typeof STAGE_KINDS)[number];

/** The registered verifiable tasks (tasks/index.ts): recipe `data: {task: ...}` and `eval: {task: ...}` names. */
export const KNOWN_TASKS = knownTaskNames() as [string, ...string[]];
export type TaskName = string;

export const LR_SCHEDULES = ['constant', 'cosine', 'linear'] as const;

const posInt = () => z.int().min(1);
const nonNegInt = () => z.int().min(0);

/**
 * `{task: arithmetic, n: 3000, digits: 1, cot: false}`: a generated data set. The keys besides task,
 * n and cot are the task's own options (digits, ops, numbers, data, ...): their names, types and
 * ranges are the task's to declare, so load.ts checks them with the task's parseOptions (naming the
 * field and its line) rather than this schema.
 */
export const TaskDataSchema = z.looseObject({
  task: z.enum(KNOWN_TASKS),
  /** number of examples generated (with the recipe's seed) */
  n: posInt(),
  /** write out the intermediate steps before the answer */
  cot: z.boolean().default(false),
});

/** A stage's data: a generated task, or a path (relative to the recipe's directory) to a .jsonl file. */
export const DataSchema = z.union([z.string().min(1), TaskDataSchema]);

/**
 * AdamW's settings. Every field has a default, so a stage may leave the whole section out: lr then
 * depends on the stage's kind (DEFAULT_LR), the rest is the same for every kind.
 */
export const OptimizerSchema = z.strictObject({
  /** default: DEFAULT_LR for the stage's kind */
  lr: z.number().gt(0).optional(),
  /** linear warm-up, in optimizer steps */
  warmup: nonNegInt().default(0),
  schedule: z.enum(LR_SCHEDULES).default('cosine'),
  /** decoupled (AdamW) weight decay */
  weight_decay: z.number().min(0).default(0),
  /** clip the global gradient norm to this (0 = no clipping) */
  grad_clip: z.number().min(0).default(1.0),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.95),
  eps: z.number().gt(0).default(1e-8),
});

/**
 * The learning rate of a stage that does not write one, by kind. ponder trains models of 0.1M-50M
 * parameters, where the rates of the large-model references (TRL's 1e-6 for GRPO and DPO, 2e-5 for
 * SFT) would barely move the weights in a few hundred steps; these are the bundled recipes' own
 * ranges instead: next-token training (pretrain, sft) at 1e-3, and the stages that train on the
 * model's own samples or on preferences (grpo, dpo, rft, rollout_dpo, self_evolve), which drift and
 * collapse at high rates (bench/RESULTS.md: GRPO on the bundled model held at 1e-4 and fell at 2e-4),
 * at 5e-5.
 */
export const DEFAULT_LR: Readonly<Record<StageKind, number>> = {
  pretrain: 1e-3,
  sft: 1e-3,
  grpo: 5e-5,
  dpo: 5e-5,
  rft: 5e-5,
  rollout_dpo: 5e-5,
  self_evolve: 5e-5,
};

/** `{task: arithmetic, n: 200, every: 50, ...task options}`; task options default to the stage data's when it is the same task. */
export const EvalSchema = z.looseObject({
  task: z.enum(KNOWN_TASKS),
  n: posInt().default(200),
  /** evaluate every N optimizer steps (and always at the end of the stage); default: only at the end */
  every: posInt().optional(),
  /** default: the stage data's, when it is the same task */
  cot: z.boolean().optional(),
  /** answers sampled per problem (default 1: greedy); with k > 1 the eval also reports pass@k and maj@k */
  samples: posInt().optional(),
  /** sampling temperature (default 0 with one sample, 1 with several) */
  temperature: z.number().min(0).optional(),
  /** most tokens per answer (default 256 with cot, else 64) */
  max_tokens: posInt().optional(),
});

/**
 * `mtp: {weight: 0.3}`: the stage also trains the model's MTP modules, adding weight × their mean
 * loss to the objective; with freeze_trunk only the modules learn (trunk, embedding and lm_head kept).
 */
export const StageMtpSchema = z.strictObject({
  weight: z.number().gt(0).default(0.3),
  freeze_trunk: z.boolean().default(false),
});

/** unique within the recipe; names the stage's checkpoints, so letters, digits, '-', '_' and '.' */
const StageName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "-" and "_" only, starting with a letter or digit');

export const SequenceStageSchema = z.strictObject({
  name: StageName,
  kind: z.enum(SEQUENCE_KINDS),
  data: DataSchema,
  /** optimizer steps */
  steps: posInt(),
  /** sequences per micro-batch (one forward + backward) */
  batch_size: posInt(),
  /**
   * micro-batches per optimizer step (gradient accumulation): each step sees batch_size * grad_accum
   * sequences while activation memory stays that of batch_size
   */
  grad_accum: posInt().default(1),
  /**
   * tokens per sequence (packed or padded to this, longer ones cut); default: from the data
   * (recipe/seq-len.ts: the longest example, rounded up to a multiple of 8, at most max_position_embeddings)
   */
  seq_len: posInt().optional(),
  /** several whole examples per row, attention confined to each, instead of one padded example a row */
  packing: z.boolean().default(false),
  /** default: OptimizerSchema's defaults with DEFAULT_LR for the kind */
  optimizer: OptimizerSchema.optional(),
  eval: EvalSchema.optional(),
  mtp: StageMtpSchema.optional(),
});

/** `temperature: 1.0`, or an anneal `{from: 1.0, to: 0.6, steps: 20}` (held at `to` afterwards). */
export const TemperatureSchema = z.union([
  z.number().gt(0),
  z.strictObject({ from: z.number().gt(0), to: z.number().gt(0), steps: posInt() }),
]);

/** `rewards: [{name: accuracy, weight: 1}, {name: format, weight: 0.1}]`: summed with their weights. */
export const RewardSchema = z.strictObject({ name: z.string().min(1), weight: z.number().default(1) });

/**
 * GRPO (posttraining.md §1, §3): per step, batch_size prompts x group_size completions sampled from
 * the current weights, rewarded, advantages within each group, one optimizer step on the clipped
 * policy-ratio objective. Defaults follow TRL's GRPOConfig (loss dapo, clip 0.2/0.28 with DAPO's
 * clip-higher, no KL, group scaling, one iteration) except where docs/recipes.md says otherwise.
 */
export const GrpoStageSchema = z.strictObject({
  name: StageName,
  kind: z.literal('grpo'),
  /** the prompts and their verifier: a task mapping (task: jsonl with data: FILE for your own) */
  data: TaskDataSchema,
  steps: posInt(),
  /** prompts per optimizer step (each sampled group_size times) */
  batch_size: posInt(),
  /** G: completions per prompt (TRL num_generations) */
  group_size: z.int().min(2).default(8),
  /** most tokens per completion (TRL max_completion_length) */
  max_new_tokens: posInt().default(128),
  temperature: TemperatureSchema.default(1.0),
  top_p: z.number().gt(0).max(1).default(1.0),
  /** how token losses are averaged: grpo (per sequence), dr_grpo (constant), dapo (per token of the step) */
  loss: z.enum(GRPO_LOSSES).default('dapo'),
  /** the ratio's clip range [1 - low, 1 + high] (DAPO's clip-higher: high > low) */
  clip: z.strictObject({ low: z.number().gt(0).lt(1).default(0.2), high: z.number().gt(0).default(0.28) }).default({ low: 0.2, high: 0.28 }),
  /** β of the k3 KL estimator against the stage's starting weights (0: no reference is held) */
  kl_coef: z.number().min(0).default(0),
  scale_rewards: z.enum(REWARD_SCALES).default('group'),
  /** μ: optimizer steps on each batch of samples (the ratio is then against the sampling policy) */
  iterations: posInt().default(1),
  /** completions cut by max_new_tokens carry no loss (DAPO's overlong filtering) */
  mask_truncated: z.boolean().default(false),
  /** DAPO's soft overlong penalty, added to the reward: 0 up to max - buffer tokens, then down to -1 at max */
  overlong: z.strictObject({ max: posInt(), buffer: posInt() }).optional(),
  rewards: z.array(RewardSchema).min(1).default([{ name: 'accuracy', weight: 1 }]),
  /** drop groups whose rewards are all equal and draw more prompts, up to max_draws rounds per step */
  dynamic_sampling: z.strictObject({ max_draws: posInt().default(4) }).optional(),
  /** MiMo's easy pool: always-solved problems leave the main draw and come back at `rate` */
  easy_pool: z.strictObject({ rate: z.number().min(0).max(1).default(0.1) }).optional(),
  /** completions per forward/backward (default: all of the step's at once) */
  micro_batch: posInt().optional(),
  /** chat models: ask for a reasoning block (default: the template's default) */
  think: z.boolean().optional(),
  /** default: OptimizerSchema's defaults with DEFAULT_LR for the kind */
  optimizer: OptimizerSchema.optional(),
  eval: EvalSchema.optional(),
});

/** DPO's pair losses (TRL loss_type names; posttraining.md §2.3). */
export const DPO_LOSSES = ['sigmoid', 'ipo', 'hinge', 'robust'] as const;

/** The DPO objective's settings, shared by `dpo` and `rollout_dpo` (TRL DPOConfig names and defaults). */
const dpoFields = {
  /** β (τ for ipo): how far from the reference the policy may move */
  beta: z.number().gt(0).default(0.1),
  loss: z.enum(DPO_LOSSES).default('sigmoid'),
  /** ε: sigmoid (cDPO) and robust only */
  label_smoothing: z.number().min(0).lt(0.5).default(0),
  /** λ of an NLL term on the chosen completions (RPO), 0 = none */
  sft_weight: z.number().min(0).default(0),
};

/** Sampling settings of the online stages (rft, rollout_dpo). */
const rolloutFields = {
  /** completions sampled per prompt (k for rft, N for rollout_dpo) */
  samples: z.int().min(2).default(8),
  /** most tokens per completion */
  max_new_tokens: posInt().default(64),
  temperature: z.number().gt(0).default(1.0),
  top_p: z.number().gt(0).max(1).default(1.0),
  /** chat models: ask for a reasoning block (default: the template's default) */
  think: z.boolean().optional(),
};

/**
 * DPO on a fixed pairs file (TRL's prompt/chosen/rejected JSONL): batch_size pairs per optimizer
 * step, reference log-probs computed once from the stage's starting model.
 */
export const DpoStageSchema = z.strictObject({
  name: StageName,
  kind: z.literal('dpo'),
  /** a .jsonl pairs file, relative to the recipe's directory */
  data: z.string().min(1),
  steps: posInt(),
  /** pairs per optimizer step (2 x batch_size rows in one forward) */
  batch_size: posInt(),
  /**
   * tokens per row (prompt + completion; completions past it are cut, a prompt that fills it is an
   * error); default: from the pairs, as a sequence stage's
   */
  seq_len: posInt().optional(),
  ...dpoFields,
  /** default: OptimizerSchema's defaults with DEFAULT_LR for the kind */
  optimizer: OptimizerSchema.optional(),
  eval: EvalSchema.optional(),
});

/** Rejection-sampling fine-tuning: sample k per prompt, keep the distinct verified-correct ones, SFT on them. */
export const RftStageSchema = z.strictObject({
  name: StageName,
  kind: z.literal('rft'),
  data: TaskDataSchema,
  steps: posInt(),
  /** prompts per optimizer step */
  batch_size: posInt(),
  ...rolloutFields,
  /** default: OptimizerSchema's defaults with DEFAULT_LR for the kind */
  optimizer: OptimizerSchema.optional(),
  eval: EvalSchema.optional(),
});

/** Phi-4-mini's rollout preference stage: sample N per prompt, pair correct with incorrect, DPO. */
export const RolloutDpoStageSchema = z.strictObject({
  name: StageName,
  kind: z.literal('rollout_dpo'),
  data: TaskDataSchema,
  steps: posInt(),
  /** prompts per optimizer step */
  batch_size: posInt(),
  ...rolloutFields,
  /** most pairs built from one prompt's samples */
  pairs_per_prompt: posInt().default(1),
  ...dpoFields,
  /** default: OptimizerSchema's defaults with DEFAULT_LR for the kind */
  optimizer: OptimizerSchema.optional(),
  eval: EvalSchema.optional(),
});

/**
 * SPHERE-style self-evolution: `rounds` rounds of generate (every prompt variation x temperature) ->
 * score (verifier + step checker) -> prune -> pairs -> `steps_per_round` DPO steps; each round's
 * reference is the model it starts from. The stage's optimizer steps are rounds x steps_per_round.
 */
export const SelfEvolveStageSchema = z.strictObject({
  name: StageName,
  kind: z.literal('self_evolve'),
  data: TaskDataSchema,
  rounds: posInt(),
  /** DPO optimizer steps on each round's pairs */
  steps_per_round: posInt(),
  /** problems posed per round */
  prompts_per_round: posInt(),
  /** completions per prompt, per variation and temperature */
  samples: posInt().default(4),
  /** one generation pass per temperature */
  temperatures: z.array(z.number().gt(0)).min(1).default([0.7, 1.0]),
  /** prompt variations: each a text with {prompt} where the problem goes; pairs train on the plain prompt */
  variations: z.array(z.string().includes('{prompt}', { message: 'must contain {prompt}' })).min(1).default(['{prompt}']),
  max_new_tokens: posInt().default(64),
  top_p: z.number().gt(0).max(1).default(1.0),
  think: z.boolean().optional(),
  /** most pairs built from one prompt's samples */
  pairs_per_prompt: posInt().default(2),
  /** pairs per DPO optimizer step */
  batch_size: posInt(),
  ...dpoFields,
  /** default: OptimizerSchema's defaults with DEFAULT_LR for the kind */
  optimizer: OptimizerSchema.optional(),
  eval: EvalSchema.optional(),
});

// grpo joins the union with its runner (src/engine/stages/grpo.ts)
export const StageSchema = z.discriminatedUnion('kind', [SequenceStageSchema, GrpoStageSchema, DpoStageSchema, RftStageSchema, RolloutDpoStageSchema, SelfEvolveStageSchema]);

/** A from-scratch model's shape, in HF config.json names. */
export const ModelConfigSchema = z.strictObject({
  vocab: z.literal('bytes').default('bytes'),
  architecture: z.enum(Object.keys(SUPPORTED_ARCHITECTURES) as [keyof typeof SUPPORTED_ARCHITECTURES, ...(keyof typeof SUPPORTED_ARCHITECTURES)[]]).default('LlamaForCausalLM'),
  hidden_size: posInt(),
  num_hidden_layers: posInt(),
  num_attention_heads: posInt(),
  /** default: num_attention_heads (no grouped-query attention) */
  num_key_value_heads: posInt().optional(),
  /** default: hidden_size / num_attention_heads */
  head_dim: posInt().optional(),
  intermediate_size: posInt(),
  max_position_embeddings: posInt(),
  rms_norm_eps: z.number().gt(0).default(1e-6),
  rope_theta: z.number().gt(0).default(10000),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().optional(),
});

export const ModelSchema = z.strictObject({
  /** scratch | a ponder model directory | an HF directory | a model name under models/ (e.g. default) */
  init: z.string().min(1),
  /** only (and then required) with init: scratch */
  config: ModelConfigSchema.optional(),
  /**
   * MTP modules the trained model has (default: the starting model's; 0 for scratch). A model without
   * them gets fresh ones; 0 drops a model's own.
   */
  mtp_layers: z.int().min(0).max(MAX_MTP_LAYERS).optional(),
});

export const RecipeSchema = z.strictObject({
  model: ModelSchema,
  /** run directory (checkpoints, logs, the final model); relative to the working directory */
  output: z.string().min(1).optional(),
  seed: nonNegInt().default(0),
  /** save a checkpoint every N optimizer steps; 0 = only at the end of each stage */
  checkpoint_every: nonNegInt().default(0),
  stages: z.array(StageSchema).min(1),
});

/** The recipe as written, with the schema's defaults filled in (before paths and the model are resolved). */
export type RawRecipe = z.output<typeof RecipeSchema>;
export type RawStage = z.output<typeof StageSchema>;
export type RawGrpoStage = z.output<typeof GrpoStageSchema>;
export type RawDpoStage = z.output<typeof DpoStageSchema>;
export type RawRftStage = z.output<typeof RftStageSchema>;
export type RawRolloutDpoStage = z.output<typeof RolloutDpoStageSchema>;
export type RawSelfEvolveStage = z.output<typeof SelfEvolveStageSchema>;
export type TemperatureSettingRaw = z.output<typeof TemperatureSchema>;
export type RawModelConfig = z.output<typeof ModelConfigSchema>;
export type TaskData = z.output<typeof TaskDataSchema>;
/** A stage's optimizer as it runs: every field known (lr from DEFAULT_LR when the recipe gave none). */
export type OptimizerSettings = Omit<z.output<typeof OptimizerSchema>, 'lr'> & { lr: number };
export type StageMtp = z.output<typeof StageMtpSchema>;

/** One problem found in a recipe: the field it is about (zod-style path) and what is wrong. */
export interface RecipeIssue {
  path: (string | number)[];
  message: string;
  /** point at the key rather than its value (e.g. "unknown key") */
  atKey?: boolean;
}

/**
 * Rules that relate fields, checked once the shapes are right. Returned in file order as far as the
 * recipe's structure goes; load.ts reports the first.
 */
export function crossFieldIssues(r: RawRecipe): RecipeIssue[] {
  const issues: RecipeIssue[] = [];
  const m = r.model;
  const scratch = m.init === 'scratch';
  if (scratch && !m.config) issues.push({ path: ['model', 'init'], message: 'init: scratch needs a model.config (hidden_size, num_hidden_layers, ...)' });
  if (!scratch && m.config) issues.push({ path: ['model', 'config'], message: `only allowed with init: scratch (init "${m.init}" brings its own config.json)`, atKey: true });
  const c = m.config;
  if (c) {
    const heads = c.num_attention_heads;
    const kv = c.num_key_value_heads ?? heads;
    if (c.num_key_value_heads !== undefined && heads % kv !== 0) {
      issues.push({ path: ['model', 'config', 'num_key_value_heads'], message: `num_attention_heads (${heads}) must be a multiple of num_key_value_heads (got ${kv})` });
    }
    if (c.head_dim === undefined && c.hidden_size % heads !== 0) {
      issues.push({ path: ['model', 'config', 'num_attention_heads'], message: `must divide hidden_size (${c.hidden_size}) (got ${heads}); or give head_dim` });
    }
    const headDim = c.head_dim ?? c.hidden_size / heads;
    if (Number.isInteger(headDim) && headDim % 2 !== 0) {
      issues.push({ path: ['model', 'config', c.head_dim === undefined ? 'num_attention_heads' : 'head_dim'], message: `head dimension ${headDim} must be even for RoPE` });
    }
  }
  const seen = new Map<string, number>();
  r.stages.forEach((s, i) => {
    const first = seen.get(s.name);
    if (first !== undefined) issues.push({ path: ['stages', i, 'name'], message: `duplicate stage name "${s.name}" (also stages[${first}].name)` });
    else seen.set(s.name, i);
    const steps = s.kind === 'self_evolve' ? s.rounds * s.steps_per_round : s.steps;
    if (s.optimizer && s.optimizer.warmup > steps) {
      issues.push({ path: ['stages', i, 'optimizer', 'warmup'], message: `must be <= the stage's steps (${steps}) (got ${s.optimizer.warmup})` });
    }
  });
  return issues;
}
