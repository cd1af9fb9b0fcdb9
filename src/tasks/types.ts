/**
 * Verifiable tasks: generated problems whose answers a program can check exactly. They serve three
 * purposes with one definition: SFT data (prompt + gold target), evaluation (generate, extract the
 * answer from the model's text, verify) and RL rewards (rewards.ts: verify, the answer format and,
 * where a task has one, the step checker).
 *
 * A problem is plain data (`id`, `prompt`, `answer` as a string) so it can be written to and read back
 * from JSONL; everything a generated task needs to write its gold chain of thought is recoverable from
 * the prompt (a user's own problems carry their worked solution in `solution`).
 *
 * Options are declared by each task (`options`) and validated by its `parseOptions`, so the CLI, the
 * recipe loader and `--list-tasks` read one table. This module holds only types: the registry that
 * imports the tasks is index.ts, so no task imports a module that imports it back.
 */

export interface Problem {
  /** stable within (task, seed, options): `<task>-<seed>-<index>` */
  id: string;
  /** the user message */
  prompt: string;
  /** the gold answer, canonical form (for integers: no sign for 0, no leading zeros) */
  answer: string;
  /** a worked solution that came with the problem (jsonl files); generated tasks derive theirs from the prompt */
  solution?: string;
}

/**
 * Parsed task options: an open record of validated values, keyed by the option names of the task's
 * `options` table (plus the generic `cot`). Absent keys take the task's defaults.
 */
export type TaskOptions = Record<string, unknown> & {
  /** train/evaluate with the intermediate steps written out before the answer (every task accepts it) */
  cot?: boolean;
};

/** One option a task accepts: what the CLI's --help, the recipe docs and parseOptions all read. */
export interface TaskOptionSpec {
  name: string;
  /** int: an integer (numeric strings accepted); list: an array or "a,b"; bool; string; path: a file path (recipes resolve it against their directory) */
  kind: 'int' | 'list' | 'bool' | 'string' | 'path';
  help: string;
  default?: unknown;
  /** ints: inclusive bounds */
  min?: number;
  max?: number;
  /** lists and strings: the allowed values */
  choices?: readonly string[];
  /** the task cannot run without it */
  required?: boolean;
}

/** What the step checker found in a model's working. */
export interface StepCheck {
  /** lines that claimed something and were checked */
  steps: number;
  /** of those, how many were right */
  correct: number;
  /** index (0-based among the checked lines) of the first wrong one; undefined when none is wrong */
  firstWrong?: number;
}

export interface VerifiableTask {
  readonly name: string;
  /** one line for --help and `ponder eval --list-tasks` */
  readonly describe: string;
  /** the options this task accepts besides the generic `cot` */
  readonly options: readonly TaskOptionSpec[];
  /**
   * Validates raw options (from a recipe, the CLI or code) and returns them parsed, the task's
   * defaults filled. Messages start with `where` (default: the task's name), e.g.
   * `arithmetic: digits must be an integer from 1 to 9 (got 12)`; errors are TaskOptionErrors
   * (options.ts: PonderErrors naming the option). Undefined values count as absent. Idempotent.
   */
  parseOptions(raw: Record<string, unknown>, where?: string): TaskOptions;
  /** `n` problems; problem i depends only on (seed, i, opts), so generate(10) is a prefix of generate(100). */
  generate(n: number, seed: number, opts?: TaskOptions): Problem[];
  /** the worked solution, ending in the task's answer format (options may choose its style) */
  goldCot(p: Problem, opts?: TaskOptions): string;
  /** what the assistant is trained to write: goldCot(p, opts) with cot, else just the answer in its format */
  target(p: Problem, opts?: TaskOptions): string;
  /** the answer a model's text gives, canonicalised, or undefined if it gives none */
  extractAnswer(text: string): string | undefined;
  /** exact check of an (extracted) answer; false for undefined or malformed answers */
  verify(p: Problem, answer: string | undefined): boolean;
  /** the format reward: the text (after `</think>` when present) ends its answer in the task's answer format */
  formatOk(text: string): boolean;
  /** the step checker: each line of the working that claims something, checked against this problem's truth */
  checkSteps?(p: Problem, text: string): StepCheck;
}
