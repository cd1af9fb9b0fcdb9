/**
 * Verifiable tasks: generated problems whose answers a program can check exactly. They serve three
 * purposes with one definition: SFT data (prompt + gold target), evaluation (generate, extract the
 * answer from the model's text, verify) and, later, RL rewards (verify is the reward function).
 *
 * A problem is plain data (`id`, `prompt`, `answer` as a string) so it can be written to and read back
 * from JSONL; everything a task needs to write its gold chain of thought is recoverable from the prompt.
 */
import { PonderError } from '../errors.js';
// arithmetic.ts imports only types from here, so this is not a runtime cycle.
import { arithmeticTask } from './arithmetic.js';

export interface Problem {
  /** stable within (task, seed, options): `<task>-<seed>-<index>` */
  id: string;
  /** the user message */
  prompt: string;
  /** the gold answer, canonical form (for integers: no sign for 0, no leading zeros) */
  answer: string;
}

export interface TaskOptions {
  /** operand size (arithmetic: every operand has exactly this many digits) */
  digits?: number;
  /** train/evaluate with the intermediate steps written out before the answer */
  cot?: boolean;
  /** which operations to draw from (arithmetic: + - *; default all) */
  ops?: readonly string[];
}

export interface VerifiableTask {
  readonly name: string;
  /** `n` problems; problem i depends only on (seed, i, opts), so generate(10) is a prefix of generate(100). */
  generate(n: number, seed: number, opts?: TaskOptions): Problem[];
  /** the worked solution, ending in the line `Answer: <answer>` */
  goldCot(p: Problem): string;
  /** what the assistant is trained to write: goldCot(p) with cot, else just the answer */
  target(p: Problem, opts?: { cot?: boolean }): string;
  /** the answer a model's text gives, canonicalised, or undefined if it gives none */
  extractAnswer(text: string): string | undefined;
  /** exact check of an (extracted) answer; false for undefined or malformed answers */
  verify(p: Problem, answer: string | undefined): boolean;
}

/** The built-in tasks (recipe `data: {task: ...}` names; keep in step with KNOWN_TASKS in recipe/schema.ts). */
const TASKS: Record<string, VerifiableTask> = { arithmetic: arithmeticTask };

export function knownTaskNames(): string[] {
  return Object.keys(TASKS).sort();
}

export function taskByName(name: string): VerifiableTask {
  const task = Object.hasOwn(TASKS, name) ? TASKS[name] : undefined;
  if (!task) throw new PonderError('BAD_INPUT', `unknown task "${name}" (known tasks: ${knownTaskNames().join(', ')})`);
  return task;
}
