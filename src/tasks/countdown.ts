/**
 * The countdown task (TinyZero's): reach a target from 3 or 4 given numbers with + - * /, each number
 * used at most once. Any expression that does it is right; the answer is written in one tagged format,
 * `<answer>(25 - 5) * 4</answer>`, read by a small recursive-descent parser (expression.ts, never
 * eval) and evaluated exactly in rationals: a division is fine when the whole expression's value
 * equals the target as a rational, and 7 / 2 * 2 reaches 7.
 *
 * Generation (problem i a pure function of (seed, i, options); stream.ts):
 *   - k numbers (option `numbers`: 3 or 4; absent: each problem draws 3 or 4 evenly), each uniform in
 *     1..max_number (default 99);
 *   - a random subset of m of them (m uniform in 2..k, a random order) is folded left to right: each
 *     step picks uniformly among the moves acc + b, acc * b, acc - b / b - acc (whichever is positive),
 *     acc / b and b / acc (when exact, divisor > 1) whose result stays in 1..max_target (default 999);
 *   - the result is the target, so a solution exists; a target equal to a given number (trivial) or a
 *     dead end (no move in range) redraws, up to 100 times, then the target is the first two numbers'
 *     sum.
 * Problem.answer is the target; the numbers are in the prompt.
 *
 * Gold chain of thought: the shortest solution a deterministic search finds (pairs in order, integer
 * intermediates > 0), one line per step, "25 - 5 = 20", "20 * 4 = 80", then the answer tag. The
 * search runs on the prompt, so any countdown prompt (also one read back from JSONL) has its chain.
 *
 * Step checker: every line with "=" claims "expression = value"; it is right when the expression
 * (the arithmetic just before the "=") parses, equals the value exactly, and uses only numbers still
 * available (the given ones and earlier results, each at most once). The answer line is not a step.
 */
import { PonderError } from '../errors.js';
import { answerPart, workingLines } from './answer-text.js';
import { evaluateExpression } from './expression.js';
import { checkCount, parseTaskOptions } from './options.js';
import { eq, parseRational, rational } from './rational.js';
import { U32Stream } from './stream.js';
import type { Problem, StepCheck, TaskOptions, TaskOptionSpec, VerifiableTask } from './types.js';

export const COUNTDOWN_OPTIONS: readonly TaskOptionSpec[] = [
  { name: 'numbers', kind: 'int', min: 3, max: 4, help: 'how many numbers are given (default: 3 or 4, evenly mixed)' },
  { name: 'max_number', kind: 'int', min: 2, max: 1000, default: 99, help: 'the given numbers are drawn from 1..max_number' },
  { name: 'max_target', kind: 'int', min: 10, max: 1000000, default: 999, help: 'targets (and every intermediate of the construction) lie in 1..max_target' },
];

export interface CountdownOptions extends TaskOptions {
  numbers?: number;
  max_number?: number;
  max_target?: number;
}

export interface CountdownPuzzle {
  numbers: bigint[];
  target: bigint;
}

function parseOptions(raw: Record<string, unknown>, where = 'countdown'): CountdownOptions {
  return parseTaskOptions(COUNTDOWN_OPTIONS, raw, where) as CountdownOptions;
}

export function formatCountdownPrompt(numbers: readonly bigint[], target: bigint): string {
  return `Using the numbers [${numbers.join(', ')}], make ${target}. You may use + - * / and each number at most once.`;
}

const PROMPT_RE = /numbers\s*\[([\d,\s]+)\]\s*,?\s*make\s+(\d+)/i;

export function parseCountdownPrompt(prompt: string): CountdownPuzzle {
  const m = PROMPT_RE.exec(prompt);
  if (!m) throw new PonderError('BAD_INPUT', `countdown: no "numbers [..], make N" in prompt ${JSON.stringify(prompt)}`);
  const numbers = m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => BigInt(s));
  return { numbers, target: BigInt(m[2]!) };
}

/** One node of an expression being built: its value, text and precedence (3 atom, 2 * /, 1 + -). */
interface Node {
  value: bigint;
  text: string;
  prec: number;
}

const PREC: Record<string, number> = { '+': 1, '-': 1, '*': 2, '/': 2 };

function combine(l: Node, op: string, r: Node, value: bigint): Node {
  const p = PREC[op]!;
  const lt = l.prec < p ? `(${l.text})` : l.text;
  const rt = r.prec < p || (r.prec === p && (op === '-' || op === '/')) ? `(${r.text})` : r.text;
  return { value, text: `${lt} ${op} ${rt}`, prec: p };
}

/**
 * The moves from a pair: [left, op, right, value] with a positive integer value (subtraction larger
 * minus smaller, + and * larger first; division only when exact and by more than 1, since dividing
 * by 1 changes nothing).
 */
function moves<T>(a: T, b: T, val: (x: T) => bigint): [T, string, T, bigint][] {
  const x = val(a);
  const y = val(b);
  // "20 * 4 = 80", as one would write it
  const [hi, lo] = x >= y ? [a, b] : [b, a];
  const out: [T, string, T, bigint][] = [
    [hi, '+', lo, x + y],
    [hi, '*', lo, x * y],
  ];
  if (x > y) out.push([a, '-', b, x - y]);
  if (y > x) out.push([b, '-', a, y - x]);
  if (y > 1n && x % y === 0n) out.push([a, '/', b, x / y]);
  if (x > 1n && x !== y && y % x === 0n) out.push([b, '/', a, y / x]);
  return out;
}

const id = (v: bigint): bigint => v;
const nodeValue = (n: Node): bigint => n.value;

function generateOne(r: U32Stream, opts: CountdownOptions): CountdownPuzzle {
  const maxNumber = opts.max_number ?? 99;
  const maxTarget = BigInt(opts.max_target ?? 999);
  let numbers: bigint[] = [];
  for (let attempt = 0; attempt < 100; attempt++) {
    const k = opts.numbers ?? 3 + r.below(2);
    numbers = Array.from({ length: k }, () => BigInt(r.between(1, maxNumber)));
    const order = numbers.slice();
    for (let j = order.length - 1; j > 0; j--) {
      const s = r.below(j + 1);
      [order[j], order[s]] = [order[s]!, order[j]!];
    }
    const m = 2 + r.below(k - 1);
    let acc = order[0]!;
    let dead = false;
    for (let j = 1; j < m && !dead; j++) {
      const ok = moves(acc, order[j]!, id).filter(([, , , v]) => v >= 1n && v <= maxTarget);
      if (ok.length === 0) dead = true;
      else acc = ok[r.below(ok.length)]![3];
    }
    if (!dead && !numbers.includes(acc)) return { numbers, target: acc };
  }
  return { numbers, target: numbers[0]! + numbers[1]! };
}

/**
 * A shortest solution by iterative deepening over pair merges (integer intermediates > 0), in a fixed
 * order; its steps as [left, op, right, value] and the whole expression. Undefined if none exists.
 */
export function solveCountdown({ numbers, target }: CountdownPuzzle): { steps: [bigint, string, bigint, bigint][]; expression: string } | undefined {
  const start: Node[] = numbers.map((v) => ({ value: v, text: v.toString(), prec: 3 }));
  const hit = start.find((n) => n.value === target);
  if (hit) return { steps: [], expression: hit.text };
  const path: [bigint, string, bigint, bigint][] = [];
  function search(pool: Node[], depth: number): string | undefined {
    if (depth === 0) return undefined;
    for (let i = 0; i < pool.length; i++) {
      for (let j = i + 1; j < pool.length; j++) {
        const a = pool[i]!;
        const b = pool[j]!;
        for (const [ln, op, rn, v] of moves(a, b, nodeValue)) {
          const node = combine(ln, op, rn, v);
          path.push([ln.value, op, rn.value, v]);
          if (v === target) return node.text;
          const rest = pool.filter((_, x) => x !== i && x !== j);
          const found = search([...rest, node], depth - 1);
          if (found) return found;
          path.pop();
        }
      }
    }
    return undefined;
  }
  for (let depth = 1; depth < numbers.length; depth++) {
    path.length = 0;
    const expression = search(start, depth);
    if (expression) return { steps: path.slice(), expression };
  }
  return undefined;
}

function generate(n: number, seed: number, raw: CountdownOptions = {}): Problem[] {
  checkCount(n, 'countdown');
  const opts = parseOptions(raw);
  const out: Problem[] = [];
  for (let i = 0; i < n; i++) {
    const { numbers, target } = generateOne(new U32Stream(seed, i), opts);
    out.push({ id: `countdown-${seed}-${i}`, prompt: formatCountdownPrompt(numbers, target), answer: target.toString() });
  }
  return out;
}

function solved(p: Problem): { steps: [bigint, string, bigint, bigint][]; expression: string } {
  const puzzle = parseCountdownPrompt(p.prompt);
  const s = solveCountdown(puzzle);
  if (!s) throw new PonderError('BAD_INPUT', `countdown: problem ${p.id} (${JSON.stringify(p.prompt)}) has no solution`);
  return s;
}

function goldCot(p: Problem): string {
  const s = solved(p);
  return [...s.steps.map(([l, op, r, v]) => `${l} ${op} ${r} = ${v}`), `<answer>${s.expression}</answer>`].join('\n');
}

const ANSWER_TAG = /<answer>([\s\S]*?)<\/answer>/g;

function lastTag(text: string): string | undefined {
  let last: string | undefined;
  for (const m of text.matchAll(ANSWER_TAG)) last = m[1];
  return last;
}

/** The last `<answer>…</answer>` (after `</think>` when present, else anywhere), trimmed, a trailing "= N" dropped. */
function extractAnswer(text: string): string | undefined {
  const inner = lastTag(answerPart(text)) ?? lastTag(text);
  if (inner === undefined) return undefined;
  const expr = inner.replace(/=\s*-?\d+\s*$/, '').trim();
  return expr === '' ? undefined : expr;
}

/** The multiset `used` is within `given` (each given number used at most once). */
function usesOnly(used: readonly bigint[], given: readonly bigint[]): boolean {
  const left = given.slice();
  for (const u of used) {
    const k = left.indexOf(u);
    if (k < 0) return false;
    left.splice(k, 1);
  }
  return true;
}

function verify(p: Problem, answer: string | undefined): boolean {
  if (answer === undefined) return false;
  let puzzle: CountdownPuzzle;
  try {
    puzzle = parseCountdownPrompt(p.prompt);
  } catch {
    return false;
  }
  const e = evaluateExpression(answer);
  if (!e || !usesOnly(e.literals, puzzle.numbers)) return false;
  return eq(e.value, rational(puzzle.target)!);
}

function formatOk(text: string): boolean {
  return /<answer>[^<]*\S[^<]*<\/answer>\s*$/.test(answerPart(text));
}

const CLAIM_RE = /([\d\s+\-*/×÷()]*\d[\d\s+\-*/×÷()]*)=\s*(-?\d+(?:\/\d+)?)\s*\.?\s*$/;

function checkSteps(p: Problem, text: string): StepCheck {
  const puzzle = parseCountdownPrompt(p.prompt);
  const pool = puzzle.numbers.slice();
  const lines = workingLines(text).filter((l) => l.includes('=') && !l.includes('<answer>'));
  let correct = 0;
  let firstWrong: number | undefined;
  lines.forEach((line, k) => {
    const m = CLAIM_RE.exec(line);
    const e = m ? evaluateExpression(m[1]!.trim()) : undefined;
    const claimed = m ? parseRational(m[2]!) : undefined;
    const ok = !!e && !!claimed && eq(e.value, claimed) && e.literals.length >= 2 && usesOnly(e.literals, pool);
    if (ok) {
      for (const u of e!.literals) pool.splice(pool.indexOf(u), 1);
      if (claimed!.d === 1n) pool.push(claimed!.n);
    }
    if (ok) correct++;
    else firstWrong ??= k;
  });
  return { steps: lines.length, correct, ...(firstWrong !== undefined ? { firstWrong } : {}) };
}

export const countdownTask: VerifiableTask & { parseOptions(raw: Record<string, unknown>, where?: string): CountdownOptions; checkSteps(p: Problem, text: string): StepCheck } = {
  name: 'countdown',
  describe: 'reach a target from 3-4 numbers with + - * / (each at most once); answer <answer>(25 - 5) * 4</answer>',
  options: COUNTDOWN_OPTIONS,
  parseOptions,
  generate,
  goldCot,
  target(p: Problem, opts: { cot?: boolean } = {}): string {
    return opts.cot ? goldCot(p) : `<answer>${solved(p).expression}</answer>`;
  },
  extractAnswer,
  verify,
  formatOk,
  checkSteps,
};
