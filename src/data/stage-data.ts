/**
 * What a training stage reads, as the recipe loader resolves it (recipe/load.ts builds these; the
 * data readers in this folder take them): a generated task data set with its options as written, or a
 * data file on disk. Kept in data/ so the readers do not import the recipe layer above them.
 */

/**
 * The task options of a data set or eval: only those the recipe writes, validated and normalised by
 * the task's parseOptions. The task's defaults are not filled in here (the task fills them when it
 * generates), so a recipe's hash does not change when an option it does not use is added to a task.
 * Path options (jsonl's data) are absolute here and enter the hash as written.
 */
export interface WrittenTaskOptions {
  /** arithmetic: largest operand size (absent: the task's default level) */
  digits?: number;
  /** arithmetic: operations to draw from (absent: all) */
  ops?: string[];
  /** any other option of the task (countdown's numbers, jsonl's data, ...) */
  [option: string]: unknown;
}

/** A generated data set: task, n, cot, and the task's options as written (WrittenTaskOptions). */
export interface TaskDataSpec extends WrittenTaskOptions {
  type: 'task';
  task: string;
  n: number;
  cot: boolean;
}

/** A data file on disk. */
export interface FileDataSpec {
  type: 'file';
  /** absolute path */
  path: string;
  /** as written in the recipe (relative to the recipe's directory) */
  written: string;
}

export type StageData = TaskDataSpec | FileDataSpec;
