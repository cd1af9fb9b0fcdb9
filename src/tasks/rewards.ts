/**
 * Rewards over a task's problems, for RL: a function of (task, problem, the model's text) -> number.
 *
 *   accuracy  1 if verify(problem, extractAnswer(text)) else 0
 *   format    1 if formatOk(text) else 0 (the answer is written in the task's answer format)
 *   steps     the step checker's fraction of correct lines, correct / steps (0 when no line is
 *             checked); only for tasks with a step checker
 *
 * rewardFor(task, name) binds a task and fails at lookup, naming the task, when it has no step checker;
 * rewardByName(name) is the unbound form (its `steps` fails at the first call for such a task).
 */
import { PonderError } from '../errors.js';
import type { Problem, VerifiableTask } from './types.js';

export type RewardFn = (task: VerifiableTask, problem: Problem, text: string) => number;
export type TaskRewardFn = (problem: Problem, text: string) => number;

function noStepChecker(task: VerifiableTask): PonderError {
  return new PonderError('BAD_INPUT', `reward "steps": task ${task.name} has no step checker (use accuracy or format)`);
}

const REWARDS: Record<string, RewardFn> = {
  accuracy: (task, p, text) => (task.verify(p, task.extractAnswer(text)) ? 1 : 0),
  format: (task, _p, text) => (task.formatOk(text) ? 1 : 0),
  steps: (task, p, text) => {
    if (!task.checkSteps) throw noStepChecker(task);
    const s = task.checkSteps(p, text);
    return s.steps > 0 ? s.correct / s.steps : 0;
  },
};

export function knownRewardNames(): string[] {
  return Object.keys(REWARDS).sort();
}

export function rewardByName(name: string): RewardFn {
  const fn = Object.hasOwn(REWARDS, name) ? REWARDS[name] : undefined;
  if (!fn) throw new PonderError('BAD_INPUT', `unknown reward "${name}" (known rewards: ${knownRewardNames().join(', ')})`);
  return fn;
}

/** The reward `name` for `task`; a task without a step checker fails here for "steps". */
export function rewardFor(task: VerifiableTask, name: string): TaskRewardFn {
  const fn = rewardByName(name);
  if (name === 'steps' && !task.checkSteps) throw noStepChecker(task);
  return (p, text) => fn(task, p, text);
}
