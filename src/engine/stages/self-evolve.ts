/**
 * The runner for `self_evolve` stages: SPHERE-style self-evolved preference rounds. The stage's
 * rounds x steps_per_round optimizer steps are cut into rounds; the first step of round r builds it:
 *
 *   generate   prompts_per_round problems (seeded epochs, problem-pool.ts), `samples` completions
 *              each for EVERY prompt variation x temperature (diversity: the variations rephrase the
 *              request around the problem, the temperatures spread the samples), from the current
 *              weights, i.e. the model the last round left.
 *   score      the task's verifier, and its step checker where it has one and the chains carry
 *              working (data cot: true, or thinking not switched off): a chain is GOOD when its
 *              answer verifies and no checked step is wrong; FLAWED when the answer is wrong or a
 *              step is (firstWrong).
 *   prune      duplicates (the same completion of the same problem, whatever variation produced it)
 *              and degenerate chains: cut off (no stop token), empty, or looping (one line three
 *              times in a row).
 *   pair       per problem (buildEvolvePairs), every (good, flawed) candidate is ranked by the tokens
 *              the two share from the start, longest first: a pair that agrees up to a point and
 *              parts from there isolates the step where the flawed chain goes wrong (the step
 *              checker's first wrong step is where that happens), instead of contrasting two
 *              unrelated texts. Greedy: each flawed chain is used once, at most pairs_per_prompt
 *              pairs. Problems with no good or no flawed chain give none (counted).
 *   reference  the round's starting model: its sequence log-probs of the round's pairs are computed
 *              before the round's first update (one model on the GPU). Rows train on the PLAIN
 *              prompt (the task's), whatever variation generated the completion.
 *   train      steps_per_round DPO steps (preference-step.ts), batch_size pairs each, in a seeded
 *              shuffled order of the round's pairs (a function of the step index). A round without
 *              pairs does not update (its steps report skipped, grad_norm 0).
 *
 * Round r (pairs as token ids and their reference sums) is written to <run>/<stage>-round-<r>.json
 * (tmp + rename; one file per round, so a checkpoint from an earlier round still finds its own) when built, and a stage resumed mid-round reads it back: the round's pairs and
 * reference come from weights that no longer exist. state(): the prompt pool and the round number.
 * The held-out score per round: give the stage `eval: {every: steps_per_round}`.
 *
 * metrics: loss and TRL's DPO metrics (of the step), round, pairs, pass_rate (verified fraction of
 * the round's samples), good, flawed, pruned, no_pair (problems without a pair), shared_prefix (mean
 * tokens a pair's two chains share from the start).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { epochPermutation, padId, type Row } from '../../data/batches.js';
import { PonderError } from '../../errors.js';
import { isMtpWeight } from '../../model/config.js';
import type { Problem, VerifiableTask } from '../../tasks/index.js';
import type { Json } from '../../train/checkpoint.js';
import { taskPromptIds } from '../evaluate.js';
import { ProblemPool, type PoolState } from './problem-pool.js';
import { dpoStep, sequenceLogps } from './preference-step.js';
import { ROLLOUT_SEED_OFFSET, rolloutKey, rolloutLength, rolloutRow, sampleRollouts, stageProblems, type Rollout } from './rollouts.js';
import type { RunnerFactory, StageRunner, StepReport } from './types.js';

export interface ScoredRollout extends Rollout {
  /** the step checker's first wrong step (undefined: none wrong, or the task has no checker) */
  firstWrong?: number;
}

export interface EvolvePairs {
  pairs: { chosen: ScoredRollout; rejected: ScoredRollout; shared: number }[];
  good: number;
  flawed: number;
  pruned: number;
  /** problems that gave no pair */
  noPair: number;
}

/** Cut off, empty, or one line three times in a row. */
export function isDegenerate(r: Rollout): boolean {
  if (!r.finished || r.ids.length === 0) return true;
  const lines = r.text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  for (let i = 2; i < lines.length; i++) if (lines[i] === lines[i - 1] && lines[i] === lines[i - 2]) return true;
  return false;
}

const isGood = (r: ScoredRollout) => r.correct && r.firstWrong === undefined;

function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** Prune, split good / flawed and pair per problem (see the header). Rollouts of any order. */
export function buildEvolvePairs(rollouts: readonly ScoredRollout[], perPrompt: number): EvolvePairs {
  const out: EvolvePairs = { pairs: [], good: 0, flawed: 0, pruned: 0, noPair: 0 };
  const byProblem = new Map<number, ScoredRollout[]>();
  const seen = new Set<string>();
  for (const r of rollouts) {
    const key = rolloutKey(r);
    if (seen.has(key) || isDegenerate(r)) {
      out.pruned++;
      continue;
    }
    seen.add(key);
    const list = byProblem.get(r.problem) ?? [];
    list.push(r);
    byProblem.set(r.problem, list);
  }
  for (const list of byProblem.values()) {
    const good = list.filter(isGood);
    const flawed = list.filter((r) => !isGood(r));
    out.good += good.length;
    out.flawed += flawed.length;
    const cands: { c: number; r: number; shared: number }[] = [];
    good.forEach((g, c) => flawed.forEach((f, r) => cands.push({ c, r, shared: sharedPrefix(g.ids, f.ids) })));
    // longest shared start first; then the shorter good chain; then generation order
    cands.sort((x, y) => y.shared - x.shared || good[x.c]!.ids.length - good[y.c]!.ids.length || x.c - y.c || x.r - y.r);
    const used = new Set<number>();
    let made = 0;
    for (const x of cands) {
      if (made >= perPrompt) break;
      if (used.has(x.r)) continue;
      used.add(x.r);
      out.pairs.push({ chosen: good[x.c]!, rejected: flawed[x.r]!, shared: x.shared });
      made++;
    }
    if (made === 0) out.noPair++;
  }
  // problems posed but with every sample pruned gave no pair either
  return out;
}

/** A round as built and saved: rows as token ids, reference sums, and the round's counts. */
interface Round {
  round: number;
  T: number;
  chosen: Row[];
  rejected: Row[];
  refChosen: number[];
  refRejected: number[];
  counts: Record<string, number>;
}

export const createSelfEvolveRunner: RunnerFactory = ({ gpu, model, tok, recipe, stage, stageIndex, runDir, resume, signal }): StageRunner => {
  const settings = stage.rollout;
  const dpo = stage.dpo;
  const evolve = stage.evolve;
  if (!settings || !dpo || !evolve) throw new PonderError('BAD_INPUT', `stage "${stage.name}": a self_evolve stage needs its rounds, sampling and dpo settings`);
  const { task, problems } = stageProblems(stage, recipe.seed);
  const saved = resume as { pool?: PoolState; round?: number } | undefined;
  const pool = new ProblemPool(problems.length, recipe.seed + stageIndex, 0, saved?.pool);
  const pad = padId(tok);
  const ctxLen = model.config.max_position_embeddings;
  const seed = recipe.seed + ROLLOUT_SEED_OFFSET + stageIndex;
  const roundPath = (r: number) => join(runDir, `${stage.name}-round-${r + 1}.json`);
  const spr = evolve.steps_per_round;
  let current: Round | undefined;
  if (saved?.round !== undefined) {
    const path = roundPath(saved.round);
    if (!existsSync(path)) throw new PonderError('BAD_INPUT', `${path}: missing; a self_evolve stage resumed mid-round needs the round its start saved`);
    current = JSON.parse(readFileSync(path, 'utf8')) as Round;
    if (current.round !== saved.round) throw new PonderError('BAD_INPUT', `${path}: holds round ${current.round + 1}, the checkpoint is in round ${saved.round + 1}`);
  }

  // the step checker reads working; answer-only chains (no cot, thinking off) have none to check
  const checkSteps = task.checkSteps !== undefined && ((stage.data.type === 'task' && stage.data.cot) || settings.think !== false);
  const plainPrompt = (p: Problem) => taskPromptIds(tok, p.prompt, true, settings!.think);

  async function buildRound(r: number): Promise<Round> {
    const picks = Array.from({ length: evolve!.prompts_per_round }, () => pool.next().problem);
    const rollouts: ScoredRollout[] = [];
    let pass = 0;
    let combo = 0;
    for (const variation of evolve!.variations) {
      for (const temperature of evolve!.temperatures) {
        const rs = await sampleRollouts(gpu, model, tok, task, problems, picks, settings!, { seed: seed + 7919 * combo++, step: r, temperature, promptText: (p) => variation.replaceAll('{prompt}', p.prompt) }, signal);
        for (const x of rs) {
          pass += x.correct ? 1 : 0;
          const plain = { ...x, promptIds: plainPrompt(problems[x.problem]!) };
          rollouts.push(checkSteps ? scored(task, problems[x.problem]!, plain) : plain);
        }
      }
    }
    const built = buildEvolvePairs(rollouts, settings!.pairs_per_prompt ?? 2);
    const P = built.pairs.length;
    const counts = {
      pairs: P,
      pass_rate: pass / Math.max(1, rollouts.length),
      good: built.good,
      flawed: built.flawed,
      pruned: built.pruned,
      no_pair: built.noPair + (picks.length - new Set(rollouts.filter((x) => !isDegenerate(x)).map((x) => x.problem)).size),
      shared_prefix: P > 0 ? built.pairs.reduce((a, p) => a + p.shared, 0) / P : 0,
    };
    if (P === 0) return { round: r, T: 0, chosen: [], rejected: [], refChosen: [], refRejected: [], counts };
    const T = Math.min(ctxLen, Math.max(...built.pairs.flatMap((p) => [rolloutLength(p.chosen), rolloutLength(p.rejected)])));
    const chosen = built.pairs.map((p) => rolloutRow(p.chosen, tok, T, pad));
    const rejected = built.pairs.map((p) => rolloutRow(p.rejected, tok, T, pad));
    const refs = await sequenceLogps(gpu, model, [...chosen, ...rejected], T, 2 * Math.min(stage.batch_size, P));
    return { round: r, T, chosen, rejected, refChosen: refs.slice(0, P), refRejected: refs.slice(P), counts };
  }

  return {
    headline: 'rewards/accuracies',
    params: () => model.params().filter((p) => !isMtpWeight(p.name)),

    async step(k, opt, lr): Promise<StepReport> {
      const r = Math.floor(k / spr);
      if (current?.round !== r) {
        current = await buildRound(r);
        const tmp = `${roundPath(r)}.tmp`;
        writeFileSync(tmp, JSON.stringify(current));
        renameSync(tmp, roundPath(r));
      }
      const round = current;
      const info = { round: r + 1, ...round.counts };
      const P = round.chosen.length;
      if (P === 0) return { metrics: { loss: 0, ...info }, grad_norm: 0, skipped: true, tokens: 0 };
      // this step's pairs: positions (k mod spr)·B .. +B of the round's seeded epochs
      const B = Math.min(stage.batch_size, P);
      const idx: number[] = [];
      for (let b = 0; b < B; b++) {
        const j = (k % spr) * B + b;
        idx.push(epochPermutation(P, seed + r, Math.floor(j / P))[j % P]!);
      }
      const report = await dpoStep(
        gpu,
        model,
        opt,
        lr,
        { chosen: idx.map((i) => round.chosen[i]!), rejected: idx.map((i) => round.rejected[i]!), refChosen: idx.map((i) => round.refChosen[i]!), refRejected: idx.map((i) => round.refRejected[i]!) },
        round.T,
        dpo!,
      );
      return { ...report, metrics: { ...report.metrics, ...info } };
    },

    state: () => ({ pool: pool.state(), ...(current ? { round: current.round } : {}) }) as unknown as Json,

    dispose() {},
  };
};

function scored(task: VerifiableTask, p: Problem, r: Rollout): ScoredRollout {
  const check = task.checkSteps?.(p, r.text);
  return check?.firstWrong !== undefined ? { ...r, firstWrong: check.firstWrong } : r;
}
