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
import { COT_OPTION } from './options.js';
import type { TaskOptionSpec, VerifiableTask } from './types.js';

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

/** "digits (integer 1..9)", "ops (list of + - *; default + - *)": an option as --help shows it. */
export function formatTaskOption(o: TaskOptionSpec): string {
  const range = o.min !== undefined && o.max !== undefined ? ` ${o.min}..${o.max}` : '';
  const kind = o.kind === 'int' ? `integer${range}` : o.kind === 'list' ? `list${o.choices ? ` of ${o.choices.join(' ')}` : ''}` : o.kind === 'bool' ? 'true/false' : o.kind;
  const dflt = o.required ? '; required' : o.default !== undefined ? `; default ${Array.isArray(o.default) ? o.default.join(' ') : String(o.default)}` : '';
  return `${o.name} (${kind}${dflt}): ${o.help}`;
}

/** The task list for `ponder eval --list-tasks` / --help: each task's line, then its options indented. */
export function formatTaskList(): string[] {
  const lines: string[] = [];
  for (const name of knownTaskNames()) {
    const t = TASKS[name]!;
    lines.push(`${name}: ${t.describe}`);
    for (const o of [...t.options, COT_OPTION]) lines.push(`  ${formatTaskOption(o)}`);
  }
  return lines;
}
