/**
 * The task registry: the built-in verifiable tasks by name (recipe `data: {task: ...}`, `ponder eval
 * --task`), and the rewards over them. Importers outside tasks/ come here; the tasks themselves import
 * only types.ts and the helpers beside them, so there is no cycle.
 */
import { PonderError } from '../errors.js';
import { arithmeticTask } from './arithmetic.js';
import { countdownTask } from './countdown.js';
import { jsonlTask } from './jsonl.js';
import { linearTask } from './linear.js';
import type { VerifiableTask } from './types.js';

export type { Problem, StepCheck, TaskOptions, TaskOptionSpec, VerifiableTask } from './types.js';
export { TaskOptionError } from './options.js';
export { knownRewardNames, rewardByName, rewardFor, type RewardFn, type TaskRewardFn } from './rewards.js';

const TASKS: Record<string, VerifiableTask> = {
  arithmetic: arithmeticTask,
  countdown: countdownTask,
  jsonl: jsonlTask,
  linear: linearTask,
};

/** The registered task names, sorted. */
export function knownTaskNames(): string[] {
  return Object.keys(TASKS).sort();
}

export function taskByName(name: string): VerifiableTask {
  const task = Object.hasOwn(TASKS, name) ? TASKS[name] : undefined;
  if (!task) throw new PonderError('BAD_INPUT', `unknown task "${name}" (known tasks: ${knownTaskNames().join(', ')})`);
  return task;
}
