/**
 * The resolved plan of a recipe: what the trainer will do, stage by stage, in numbers (global step
 * ranges, tokens per step, the optimizer settings each stage runs with) plus the model's size.
 * `ponder tune --check` prints it; the trainer walks it. Pure arithmetic: no files, no GPU.
 */
import { expectedWeights, type ModelConfig } from '../model/config.js';
import type { EvalSpec, GrpoSettings, Recipe, StageData } from './load.js';
import type { OptimizerSettings, StageKind } from './schema.js';

export interface PlannedStage {
  index: number;
  name: string;
  kind: StageKind;
  data: StageData;
  steps: number;
  /** global optimizer-step range of this stage: [first_step, first_step + steps) */
  first_step: number;
  /** sequences per micro-batch */
  batch_size: number;
  /** micro-batches per optimizer step */
  grad_accum: number;
  /** batch_size * grad_accum: sequences per optimizer step */
  effective_batch: number;
  seq_len: number;
  /** pretrain/sft with packing: rows hold several whole examples (absent: one padded example a row) */
  packing?: boolean;
  /** the recipe wrote no seq_len: it comes from the data (recipe/seq-len.ts) */
  seq_len_auto?: true;
  /** effective_batch * seq_len: token positions processed per optimizer step (an upper bound when padded) */
  tokens_per_step: number;
  tokens: number;
  optimizer: OptimizerSettings;
  eval?: EvalSpec;
  /** optimizer steps (stage-local, 1-based) after which an evaluation runs; always includes the last */
  eval_steps: number[];
  /** kind grpo: its settings */
  grpo?: GrpoSettings;
}

export interface RecipePlan {
  model: {
    source: Recipe['model']['source'];
    init: string;
    architecture: string;
    parameters: number;
    config: ModelConfig;
    tokenizer: Recipe['model']['tokenizer'];
  };
  output: string;
  seed: number;
  checkpoint_every: number;
  stages: PlannedStage[];
  total_steps: number;
  total_tokens: number;
}

/** Number of weights (parameters) a config has, counted from its tensor list. */
export function configParameterCount(c: ModelConfig): number {
  let n = 0;
  for (const shape of expectedWeights(c).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}

export function planRecipe(recipe: Recipe): RecipePlan {
  let step = 0;
  const stages = recipe.stages.map((s, index): PlannedStage => {
    // grpo: batch_size prompts x group_size completions; tokens counted as the completion budget (a bound)
    const effectiveBatch = s.grpo ? s.batch_size * s.grpo.group_size : s.batch_size * s.grad_accum;
    const tokensPerStep = effectiveBatch * (s.grpo ? s.grpo.max_new_tokens : s.seq_len);
    const evalSteps: number[] = [];
    if (s.eval) {
      for (let k = s.eval.every; k < s.steps; k += s.eval.every) evalSteps.push(k);
      evalSteps.push(s.steps);
    }
    const planned: PlannedStage = {
      index,
      name: s.name,
      kind: s.kind,
      data: s.data,
      steps: s.steps,
      first_step: step,
      batch_size: s.batch_size,
      grad_accum: s.grad_accum,
      effective_batch: effectiveBatch,
      seq_len: s.seq_len,
      ...(s.packing ? { packing: true } : {}),
      ...(s.seq_len_auto ? { seq_len_auto: true as const } : {}),
      tokens_per_step: tokensPerStep,
      tokens: tokensPerStep * s.steps,
      optimizer: s.optimizer,
      eval: s.eval,
      eval_steps: evalSteps,
      ...(s.grpo ? { grpo: s.grpo } : {}),
    };
    step += s.steps;
    return planned;
  });
  return {
    model: {
      source: recipe.model.source,
      init: recipe.model.init,
      architecture: recipe.model.config.architecture,
      parameters: configParameterCount(recipe.model.config),
      config: recipe.model.config,
      tokenizer: recipe.model.tokenizer,
    },
    output: recipe.output,
    seed: recipe.seed,
    checkpoint_every: recipe.checkpoint_every,
    stages,
    total_steps: step,
    total_tokens: stages.reduce((a, s) => a + s.tokens, 0),
  };
}

/** 1234 -> "1.2k", 2_500_000 -> "2.5M" */
export function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(n);
}

function dataText(d: StageData): string {
  if (d.type === 'file') return d.written;
  const opts = Object.entries(d)
    .filter(([k, v]) => !['type', 'task', 'n', 'cot'].includes(k) && v !== undefined)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`);
  return [`${d.task} n=${d.n}`, ...opts, ...(d.cot ? ['cot'] : [])].join(' ');
}

/** The short human summary `ponder tune --check` prints (one line per fact, one per stage). */
export function formatPlan(plan: RecipePlan, recipePath: string, hash: string): string[] {
  const c = plan.model.config;
  const from = plan.model.source === 'scratch' ? 'scratch' : `${plan.model.init} (${plan.model.source})`;
  const kv = c.num_key_value_heads !== c.num_attention_heads ? `/${c.num_key_value_heads} kv` : '';
  const vocab = plan.model.tokenizer === 'bytes' ? `bytes (${c.vocab_size})` : String(c.vocab_size);
  const lines = [
    `recipe  ${recipePath}  sha256 ${hash.slice(0, 12)}`,
    `model   ${from}: ${c.architecture}, ${c.num_hidden_layers} layers, hidden ${c.hidden_size}, heads ${c.num_attention_heads}${kv}, vocab ${vocab}, ${fmtCount(plan.model.parameters)} parameters`,
    `output  ${plan.output}  seed ${plan.seed}  checkpoints ${plan.checkpoint_every > 0 ? `every ${plan.checkpoint_every} steps` : 'at the end of each stage'}`,
  ];
  for (const s of plan.stages) {
    const o = s.optimizer;
    const ev = s.eval ? `; eval ${s.eval.task} n=${s.eval.n} every ${s.eval.every}` : '';
    if (s.grpo) {
      const g = s.grpo;
      const t = typeof g.temperature === 'number' ? `${g.temperature}` : `${g.temperature.from}->${g.temperature.to} over ${g.temperature.steps} steps`;
      const extras = [g.kl_coef > 0 ? `kl ${g.kl_coef}` : '', g.iterations > 1 ? `iterations ${g.iterations}` : '', g.dynamic_sampling ? `dynamic sampling (${g.dynamic_sampling.max_draws} draws)` : '', g.easy_pool ? `easy pool ${g.easy_pool.rate}` : '']
        .filter(Boolean)
        .join(', ');
      lines.push(
        `stage ${s.index + 1} ${s.name} (grpo): ${dataText(s.data)}; ${s.steps} steps x ${s.batch_size} prompts x ${g.group_size} samples, <= ${g.max_new_tokens} new tokens, T ${t}; ` +
          `loss ${g.loss} clip ${g.clip.low}/${g.clip.high} scale ${g.scale_rewards}; rewards ${g.rewards.map((r) => `${r.name}x${r.weight}`).join(' + ')}${extras ? `; ${extras}` : ''}; lr ${o.lr} ${o.schedule} warmup ${o.warmup}${ev}`,
      );
      continue;
    }
    // with accumulation: "4x24 x 2 micro-batches (effective batch 8)"
    const rows = `${s.batch_size}x${s.seq_len}${s.packing ? ' packed' : ''}`;
    const batch = s.grad_accum > 1 ? `${rows} x ${s.grad_accum} micro-batches (effective batch ${s.effective_batch})` : rows;
    lines.push(
      `stage ${s.index + 1} ${s.name} (${s.kind}): ${dataText(s.data)}; ${s.steps} steps x ${batch} = ${fmtCount(s.tokens_per_step)} tokens/step (${fmtCount(s.tokens)}); ` +
        `lr ${o.lr} ${o.schedule} warmup ${o.warmup} wd ${o.weight_decay} clip ${o.grad_clip}${ev}`,
    );
  }
  lines.push(`total   ${plan.stages.length} stage${plan.stages.length === 1 ? '' : 's'}, ${plan.total_steps} steps, ${fmtCount(plan.total_tokens)} tokens`);
  return lines;
}
