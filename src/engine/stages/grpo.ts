/**
 * The GRPO stage runner (kind: grpo): reinforcement learning with verifiable rewards, on the GPU.
 * One call of step(k) is one optimizer step:
 *
 *   sample    (every `iterations` steps) draw batch_size problems from the ProblemPool, answer each
 *             group_size times with sampleBatch from the CURRENT weights (the inference model is a
 *             view of the training weights: no copy through the CPU), at the step's temperature
 *             (a number or an anneal). Rewards = Σ weight · reward(name) (tasks/rewards) plus
 *             DAPO's overlong penalty. Dynamic sampling drops groups whose rewards are all equal
 *             (no signal) and draws more problems, up to max_draws rounds; every group reports to
 *             the pool, so always-solved problems move to the easy pool.
 *   advantage within each group: (r − mean) / (std + 1e-4), or batch std, or none (Dr. GRPO).
 *   learn     each completion is a training row prompt + completion (+ the stop token it ended
 *             with, so the model learns to stop); targets only on completion tokens. Per micro-batch:
 *             forwardLogprobs → log-probs at the sampling temperature (TRL divides the logits by it)
 *             → the objective's per-token weights (clipped surrogate, k3 KL, loss averaging;
 *             train/objectives/grpo.ts) → backwardWeighted; then AdamW. With iterations μ > 1 the
 *             same samples serve μ steps and the ratio is against the log-probs of the first pass
 *             (the sampling policy's, computed by the trainer's forward).
 *   log       TRL's metric names; each sampling step's prompts, completions, rewards and
 *             advantages go to <run>/completions/step_NNNNN.jsonl.
 *
 * Resume: the pool's state, the sample buffer (for μ > 1) and nothing else; sampling seeds are a
 * pure function of (recipe seed, stage, step, round), so a resumed run samples what an
 * uninterrupted one does and ends with the same weights.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IGNORE_INDEX } from '../../data/batches.js';
import { PonderError } from '../../errors.js';
import { Transformer } from '../../model/transformer.js';
import type { GrpoSettings } from '../../recipe/load.js';
import { isMtpWeight } from '../../model/config.js';
import { tokenLogprobs } from '../../ops/token-logprobs.js';
import { taskOptionsOf, type TaskDataSpec } from '../../recipe/load.js';
import { rewardFor, taskByName, type TaskRewardFn } from '../../tasks/index.js';
import type { Problem, VerifiableTask } from '../../tasks/types.js';
import type { Json } from '../../train/checkpoint.js';
import { advantages as grpoAdvantages, grpoObjective } from '../../train/objectives/grpo.js';
import type { AdamW, Param } from '../../train/optimizer.js';
import { taskPromptIds } from '../evaluate.js';
import { sampleBatch, type BatchCompletion } from '../sample-batch.js';
import { ProblemPool, type PoolState } from './problem-pool.js';
import { overlongPenalty, temperatureAt } from './shaping.js';
import { stageReferenceWeights } from './reference.js';
import type { RunnerFactory, StageContext, StageRunner, StepReport } from './types.js';

/** GRPO's problems are drawn with seed + this: a problem list of their own, apart from SFT's and the evals'. */
export const GRPO_SEED_OFFSET = 500_009;

/** One sampled completion as a training row. */
interface Row {
  /** index of its group in the step's batch */
  group: number;
  /** prompt + completion (+ its stop token) */
  ids: number[];
  promptLen: number;
  /** completion tokens trained on (0 when masked: truncated with mask_truncated) */
  active: number;
  reward: number;
  advantage: number;
  finish: BatchCompletion['finish'];
  text: string;
  /** the problem's prompt text (for the logs and views) */
  prompt: string;
  /** the sampler's log-prob of each completion token (dropped once compared with the trainer's) */
  sampleLogp?: number[];
}

interface SampledBatch {
  rows: Row[];
  /** the sampling policy's log-probs per row and completion token (filled by the first pass) */
  old?: number[][];
  metrics: Record<string, number>;
  /** the step it was sampled at */
  step: number;
}

interface GrpoState {
  pool: PoolState;
  /** with iterations > 1: the samples later steps reuse */
  buffer?: SampledBatch;
}

class GrpoRunner implements StageRunner {
  readonly headline = 'reward';
  private readonly g: GrpoSettings;
  private readonly task: VerifiableTask;
  private readonly problems: Problem[];
  private readonly promptIds: number[][];
  private readonly pool: ProblemPool;
  private readonly rewards: { name: string; weight: number; fn: TaskRewardFn }[];
  private readonly policy: Transformer;
  private reference?: Transformer;
  private buffer?: SampledBatch;

  constructor(private readonly ctx: StageContext) {
    const { stage, recipe, tok, model } = ctx;
    if (!stage.grpo || stage.data.type !== 'task') throw new PonderError('BAD_INPUT', `stage "${stage.name}": a grpo stage needs grpo settings and task data`);
    this.g = stage.grpo;
    const data = stage.data as TaskDataSpec;
    this.task = taskByName(data.task);
    this.problems = this.task.generate(data.n, recipe.seed + GRPO_SEED_OFFSET + ctx.stageIndex, taskOptionsOf(data));
    // every reward is resolved now, so an unknown name or a task without a step checker fails before the GPU works
    this.rewards = this.g.rewards.map((r) => {
      try {
        return { ...r, fn: rewardFor(this.task, r.name) };
      } catch (e) {
        throw new PonderError('BAD_INPUT', `stage "${stage.name}": rewards: ${(e as Error).message}`);
      }
    });
    if (!(typeof this.g.temperature === 'number' ? this.g.temperature > 0 : this.g.temperature.from > 0 && this.g.temperature.to > 0)) {
      throw new PonderError('BAD_INPUT', `stage "${stage.name}": temperature must be > 0 (GRPO samples; 0 would be greedy and every group alike)`);
    }
    const ctxLen = model.config.max_position_embeddings;
    this.promptIds = this.problems.map((p) => taskPromptIds(tok, p.prompt, true, this.g.think));
    const longest = Math.max(...this.promptIds.map((ids) => ids.length));
    if (longest + this.g.max_new_tokens > ctxLen) {
      throw new PonderError('BAD_INPUT', `stage "${stage.name}": prompts of up to ${longest} tokens + max_new_tokens ${this.g.max_new_tokens} exceed the model's context of ${ctxLen}; lower max_new_tokens or use shorter problems`);
    }
    const resume = ctx.resume as unknown as GrpoState | undefined;
    this.pool = new ProblemPool(this.problems.length, recipe.seed + GRPO_SEED_OFFSET + ctx.stageIndex, this.g.easy_pool?.rate ?? 0, resume?.pool);
    this.buffer = resume?.buffer;
    // the sampler reads the training weights themselves: optimizer steps show up in the next rollout
    this.policy = Transformer.fromGpuWeights(ctx.gpu, model.config, model.inferenceWeights(), { owned: false });
  }

  params(): Param[] {
    // MTP modules stay frozen during RL (MiMo): only the trunk learns
    return this.ctx.model.params().filter((p) => !isMtpWeight(p.name));
  }

  async step(k: number, opt: AdamW, lr: number): Promise<StepReport> {
    const { model, gpu } = this.ctx;
    const t0 = performance.now();
    const fresh = k % this.g.iterations === 0 || !this.buffer;
    if (fresh) this.buffer = await this.sample(k);
    const batch = this.buffer!;
    const tSample = performance.now();
    const temperature = temperatureAt(this.g.temperature, batch.step);
    const rows = batch.rows;
    const numItems = rows.reduce((a, r) => a + r.active, 0);
    const micro = this.g.micro_batch ?? rows.length;
    model.zeroGrads();
    const first = batch.old === undefined;
    const old: number[][] = batch.old ?? [];
    let lossSum = 0;
    const acc = { clipLow: 0, clipHigh: 0, region: 0, kl: 0, entropy: 0 };
    // the sampler (KV-cached decode) and the trainer (full forward) compute the same log-probs by
    // different kernels: their gap is logged, as TRL does for vLLM, because drift there biases the
    // "on-policy" gradient
    const gap = { sum: 0, max: 0, n: 0 };
    for (let r0 = 0; r0 < rows.length; r0 += micro) {
      const mb = rows.slice(r0, r0 + micro);
      const T = Math.max(...mb.map((r) => r.ids.length)) - 1;
      const B = mb.length;
      const inputs = new Array<number>(B * T).fill(0);
      const targets = new Array<number>(B * T).fill(IGNORE_INDEX);
      mb.forEach((r, b) => {
        for (let t = 0; t < r.ids.length - 1; t++) inputs[b * T + t] = r.ids[t]!;
        if (r.active > 0) for (let t = r.promptLen - 1; t < r.ids.length - 1; t++) targets[b * T + t] = r.ids[t + 1]!;
      });
      const lp = model.forwardLogprobs(inputs, targets, B, T, { temperature });
      const logpAll = await gpu.readF32(lp.logp);
      const entAll = await gpu.readF32(lp.entropy);
      lp.logp.release();
      lp.entropy.release();
      // per row: the completion tokens' values
      const cur = mb.map((r, b) => (r.active > 0 ? Array.from(logpAll.subarray(b * T + r.promptLen - 1, b * T + r.ids.length - 1)) : []));
      const ent = mb.map((r, b) => (r.active > 0 ? Array.from(entAll.subarray(b * T + r.promptLen - 1, b * T + r.ids.length - 1)) : []));
      if (first) mb.forEach((_, b) => (old[r0 + b] = cur[b]!));
      mb.forEach((r, b) => {
        if (!r.sampleLogp || r.active === 0) return;
        cur[b]!.forEach((lp, j) => {
          const d = Math.abs(lp - r.sampleLogp![j]!);
          gap.sum += d;
          gap.max = Math.max(gap.max, d);
          gap.n++;
        });
        delete r.sampleLogp;
      });
      const ref = this.reference ? await this.referenceLogprobs(mb, temperature) : undefined;
      // masked rows (truncated with mask_truncated) keep no tokens: they add nothing
      const obj = grpoObjective({
        logp: cur,
        old: first ? undefined : mb.map((_, b) => old[r0 + b]!),
        ref,
        advantages: mb.map((r) => r.advantage),
        loss: this.g.loss,
        clip: this.g.clip,
        klCoef: this.g.kl_coef,
        maxCompletionLength: this.g.max_new_tokens,
        numItems: Math.max(1, numItems),
        numSequences: rows.length,
        entropy: ent,
      });
      const weights = new Float32Array(B * T);
      mb.forEach((r, b) => obj.weights[b]!.forEach((w, j) => (weights[b * T + r.promptLen - 1 + j] = w)));
      model.backwardWeighted(weights, { temperature });
      lossSum += obj.loss;
      // metrics are token means over the micro-batch: weight them by its tokens
      const tokens = mb.reduce((a, r) => a + r.active, 0);
      acc.clipLow += obj.metrics['clip_ratio/low_mean']! * tokens;
      acc.clipHigh += obj.metrics['clip_ratio/high_mean']! * tokens;
      acc.region += obj.metrics['clip_ratio/region_mean']! * tokens;
      acc.kl += (obj.metrics.kl ?? 0) * tokens;
      acc.entropy += obj.metrics.entropy! * tokens;
    }
    if (first) batch.old = old;
    const res = opt.step(lr);
    const [norm, skipped] = await gpu.readF32(res);
    res.release();
    const tLearn = performance.now();
    const per = (x: number) => (numItems > 0 ? x / numItems : 0);
    const metrics = {
      loss: lossSum,
      ...batch.metrics,
      entropy: per(acc.entropy),
      'clip_ratio/low_mean': per(acc.clipLow),
      'clip_ratio/high_mean': per(acc.clipHigh),
      'clip_ratio/region_mean': per(acc.region),
      ...(this.g.kl_coef > 0 ? { kl: per(acc.kl) } : {}),
      ...(gap.n > 0 ? { 'sampling/sampling_logp_difference/mean': gap.sum / gap.n, 'sampling/sampling_logp_difference/max': gap.max } : {}),
      sample_s: fresh ? (tSample - t0) / 1000 : 0,
      learn_s: (tLearn - tSample) / 1000,
    };
    return {
      metrics,
      grad_norm: norm!,
      skipped: skipped !== 0,
      tokens: rows.reduce((a, r) => a + r.ids.length, 0),
      completions: batch.rows.slice(0, 4).map((r) => ({ prompt: r.prompt, text: r.text, reward: r.reward, advantage: r.advantage })),
    };
  }

  state(): Json {
    return { pool: this.pool.state(), ...(this.g.iterations > 1 && this.buffer ? { buffer: this.buffer } : {}) } as unknown as Json;
  }

  dispose(): void {
    this.policy.dispose();
    this.reference?.dispose();
  }

  // ------------------------------------------------------------------ sampling

  /** The sampling seed of step k, round r: a pure function of the recipe's seed, the stage and the step. */
  private seedFor(k: number, round: number): number {
    const s = BigInt(this.ctx.recipe.seed) * 1_000_003n + BigInt(this.ctx.stageIndex) * 65_537n + BigInt(k) * 131n + BigInt(round);
    return Number(s % 2n ** 52n);
  }

  private async sample(k: number): Promise<SampledBatch> {
    // no abort signal: a started rollout finishes (seconds), so an interrupted run stops between
    // steps and resumes exactly; the shell checks the signal after the step
    const { gpu, tok, stage } = this.ctx;
    const g = this.g;
    const G = g.group_size;
    const want = stage.batch_size;
    const temperature = temperatureAt(g.temperature, k);
    const maxRounds = g.dynamic_sampling?.max_draws ?? 1;
    type Group = { problem: number; easy: boolean; rows: Row[]; rewards: number[]; parts: Record<string, number[]> };
    let kept: Group[] = [];
    let lastRound: Group[] = [];
    let drawn = 0;
    let zeroStd = 0;
    for (let round = 0; round < maxRounds && kept.length < want; round++) {
      const draws = Array.from({ length: want - kept.length }, () => this.pool.next());
      drawn += draws.length;
      const comps = await sampleBatch(gpu, this.policy, tok, draws.map((d) => this.promptIds[d.problem]!), {
        samples: G,
        maxTokens: g.max_new_tokens,
        temperature,
        topP: g.top_p,
        seed: this.seedFor(k, round),
        logprobs: true,
      });
      lastRound = draws.map((d, i) => {
        const problem = this.problems[d.problem]!;
        const rows: Row[] = [];
        const rewards: number[] = [];
        const parts: Record<string, number[]> = {};
        for (let j = 0; j < G; j++) {
          const c = comps[i * G + j]!;
          let reward = 0;
          for (const r of this.rewards) {
            const v = r.fn(problem, c.text);
            if (!Number.isFinite(v)) throw new PonderError('BAD_INPUT', `stage "${stage.name}": reward "${r.name}" gave ${v} for problem ${problem.id}; rewards must be finite numbers`);
            (parts[r.name] ??= []).push(v);
            reward += r.weight * v;
          }
          if (g.overlong) reward += overlongPenalty(c.ids.length, g.overlong);
          const prompt = this.promptIds[d.problem]!;
          const ids = [...prompt, ...c.ids, ...(c.finish === 'stop' && c.stopId !== undefined ? [c.stopId] : [])];
          const truncated = c.finish !== 'stop';
          rows.push({ group: 0, ids, promptLen: prompt.length, active: g.mask_truncated && truncated ? 0 : ids.length - prompt.length, reward, advantage: 0, finish: c.finish, text: c.text, prompt: problem.prompt, ...(c.logprobs ? { sampleLogp: c.logprobs } : {}) });
          rewards.push(reward);
        }
        // the pool learns which problems the model always solves (accuracy 1 on every sample)
        const solved = rows.every((r) => this.task.verify(problem, this.task.extractAnswer(r.text)));
        this.pool.report(d.problem, solved);
        return { problem: d.problem, easy: d.easy, rows, rewards, parts };
      });
      for (const grp of lastRound) {
        const flat = grp.rewards.every((r) => r === grp.rewards[0]);
        if (flat) zeroStd++;
        if (!flat || !g.dynamic_sampling) kept.push(grp);
      }
    }
    // nothing with signal after every round: train on the last round (advantages 0; KL only)
    if (kept.length === 0) kept = lastRound;
    const adv = grpoAdvantages(kept.flatMap((grp) => grp.rewards), G, g.scale_rewards);
    const rows = kept.flatMap((grp, gi) => grp.rows.map((r, j) => ({ ...r, group: gi, advantage: adv[gi * G + j]! })));
    const all = kept.flatMap((grp) => grp.rewards);
    const mean = all.reduce((a, x) => a + x, 0) / all.length;
    const std = Math.sqrt(all.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, all.length - 1));
    const lengths = rows.map((r) => r.ids.length - r.promptLen);
    const metrics: Record<string, number> = {
      reward: mean,
      reward_std: std,
      frac_reward_zero_std: drawn > 0 ? zeroStd / drawn : 0,
      'completions/mean_length': lengths.reduce((a, x) => a + x, 0) / lengths.length,
      'completions/max_length': Math.max(...lengths),
      'completions/clipped_ratio': rows.filter((r) => r.finish !== 'stop').length / rows.length,
      groups: kept.length,
      prompts_drawn: drawn,
      easy_pool: this.pool.easyCount,
    };
    for (const r of g.rewards) {
      const v = kept.flatMap((grp) => grp.parts[r.name] ?? []);
      metrics[`rewards/${r.name}/mean`] = v.reduce((a, x) => a + x, 0) / Math.max(1, v.length);
    }
    this.logCompletions(k, kept.map((grp) => grp.problem), rows);
    return { rows, metrics, step: k };
  }

  /** <run>/completions/step_NNNNN.jsonl: prompt, completion, reward, advantage per row (TRL's table). */
  private logCompletions(k: number, problems: number[], rows: Row[]): void {
    const dir = join(this.ctx.runDir, 'completions');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${this.ctx.stage.name}-step_${String(k + 1).padStart(5, '0')}.jsonl`);
    const lines = rows.map((r) => JSON.stringify({ step: k + 1, prompt: r.prompt, answer: this.problems[problems[r.group]!]!.answer, completion: r.text, reward: r.reward, advantage: r.advantage, finish: r.finish }));
    writeFileSync(`${file}.tmp`, lines.join('\n') + '\n');
    renameSync(`${file}.tmp`, file);
  }

  /**
   * The frozen reference of the KL term: the stage's starting weights, saved once to
   * <run>/reference/<stage>/ (so a resumed stage compares with the same model), held on the GPU only
   * when kl_coef > 0.
   */
  async openReference(): Promise<void> {
    if (this.g.kl_coef === 0) return;
    const { config, weights } = await stageReferenceWeights(this.ctx, 'the KL reference');
    this.reference = Transformer.load(this.ctx.gpu, config, weights);
  }

  /** log π_ref of each row's completion tokens at the sampling temperature. */
  private async referenceLogprobs(mb: Row[], temperature: number): Promise<number[][]> {
    const { gpu } = this.ctx;
    const ref = this.reference!;
    const T = Math.max(...mb.map((r) => r.ids.length)) - 1;
    const B = mb.length;
    const cache = ref.createCache(B, T);
    const targets = new Uint32Array(B * T).fill(IGNORE_INDEX);
    const tokens = mb.map((r) => {
      const row = new Array<number>(T).fill(0);
      for (let t = 0; t < r.ids.length - 1; t++) row[t] = r.ids[t]!;
      for (let t = r.promptLen - 1; t < r.ids.length - 1; t++) targets[mb.indexOf(r) * T + t] = r.ids[t + 1]!;
      return row;
    });
    try {
      const logits = ref.forward(tokens, cache, mb.map((_, b) => b), new Array<number>(B).fill(0));
      const tgt = gpu.upload(targets, [B * T], 'u32', 'ref.targets');
      const { logp, entropy } = tokenLogprobs(gpu, logits.reshape([B * T, ref.config.vocab_size]), tgt, { temperature });
      const all = await gpu.readF32(logp);
      for (const t of [logits, tgt, logp, entropy]) t.release();
      return mb.map((r, b) => Array.from(all.subarray(b * T + r.promptLen - 1, b * T + r.ids.length - 1)));
    } finally {
      cache.dispose();
    }
  }
}

export const createGrpoRunner: RunnerFactory = async (ctx) => {
  const runner = new GrpoRunner(ctx);
  await runner.openReference();
  return runner;
};
