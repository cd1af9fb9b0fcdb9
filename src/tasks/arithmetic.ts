/**
 * The arithmetic task: `a + b`, `a - b` and `a * b`, with the working written digit by digit.
 *
 * Operand sizes. Option `digits` = D, the largest operand size (1..9). For each problem: the op is
 * drawn uniformly from `ops`; one operand (first or second, evenly) has exactly D digits; the other's
 * size is drawn uniformly in 1..D; each operand is then uniform among the numbers of its size (0
 * counts as a 1-digit number, so D = 1 means both operands uniform in 0..9, as before). Values are
 * uniform within a size, so carries and borrows occur at their natural rate. Subtraction puts the
 * larger operand first: answers are never negative, which keeps the column steps the same shape.
 *
 * Default level (no `digits`): + and - use D = 3, * uses D = 2 (3-digit sums and differences,
 * 2-digit by 2-digit products); an explicit `digits` applies to every op.
 *
 * Randomness: stream.ts (problem i is a pure function of (seed, i, digits, ops)). Values are BigInt
 * because 9-digit products (< 10^18) exceed 2^53.
 *
 * Gold chain of thought (short: tiny byte-level models pay per character):
 *   addition       column by column from the right, "7 + 5 + 1 = 13, write 3, carry 1"
 *   subtraction    column by column, "5 - 7 < 0, borrow: 15 - 7 = 8" / "8 - 1 - 4 = 3"
 *   multiplication one partial product per digit of b, each digit by digit ("7 * 6 = 42, write 2,
 *                  carry 4", "4 * 6 + 4 = 28, write 28", "47 * 6 = 282"), then their sum in columns
 * and always a last line "Answer: N".
 *
 * Step checker: the k-th line of the model's working that claims something (has "=" or "<", or is a
 * "write"/"negative" line; the Answer line is not a step) must be the k-th line of the gold working
 * for this problem (spaces collapsed): that checks each column's digits, sum, carry and borrow, each
 * digit product, partial product and column of the partials' sum, not just that the line is true arithmetic.
 */
import { PonderError } from '../errors.js';
import { CANONICAL_INT, endsWithAnswerLine, extractIntAnswer, sameInteger, workingLines } from './answer-text.js';
import { checkCount, parseTaskOptions, TaskOptionError } from './options.js';
import { addScratchpad, mulScratchpad, subScratchpad } from './arithmetic-scratchpad.js';
import { U32Stream } from './stream.js';
import type { Problem, StepCheck, TaskOptions, TaskOptionSpec, VerifiableTask } from './types.js';

export { TASK_DOMAIN } from './stream.js';

export type ArithmeticOp = '+' | '-' | '*';
export const ARITHMETIC_OPS: readonly ArithmeticOp[] = ['+', '-', '*'];
export const MIN_DIGITS = 1;
export const MAX_DIGITS = 9;
/** The default level's largest operand size per op (no `digits` given). */
export const DEFAULT_DIGITS: Readonly<Record<ArithmeticOp, number>> = { '+': 3, '-': 3, '*': 2 };
/** The styles of gold working (option `working`). */
export type ArithmeticWorking = 'columns' | 'scratchpad';
export const ARITHMETIC_WORKINGS: readonly ArithmeticWorking[] = ['columns', 'scratchpad'];

export const ARITHMETIC_OPTIONS: readonly TaskOptionSpec[] = [
  { name: 'digits', kind: 'int', min: MIN_DIGITS, max: MAX_DIGITS, help: 'largest operand size (default: 3 for + and -, 2 for *)' },
  { name: 'ops', kind: 'list', choices: ARITHMETIC_OPS, default: [...ARITHMETIC_OPS], help: 'operations to draw from, e.g. "+,-" (default all: + - *)' },
  { name: 'working', kind: 'string', choices: ARITHMETIC_WORKINGS, help: 'how the gold working is written: columns (the default, short) or scratchpad (each step reads the line above; see arithmetic-scratchpad.ts)' },
];

export interface ArithmeticOptions extends TaskOptions {
  /** largest operand size; absent: the default level */
  digits?: number;
  /** which operations to draw from (uniformly); default all three */
  ops?: readonly ArithmeticOp[];
  /** the style of the gold working; default columns */
  working?: ArithmeticWorking;
}

export interface ParsedArithmetic {
  a: bigint;
  op: ArithmeticOp;
  b: bigint;
}

function parseOptions(raw: Record<string, unknown>, where = 'arithmetic'): ArithmeticOptions {
  return parseTaskOptions(ARITHMETIC_OPTIONS, raw, where) as ArithmeticOptions;
}

function checkDigits(digits: unknown): number {
  if (typeof digits !== 'number' || !Number.isInteger(digits) || digits < MIN_DIGITS || digits > MAX_DIGITS) {
    throw new TaskOptionError('digits', `arithmetic: digits must be an integer from ${MIN_DIGITS} to ${MAX_DIGITS} (got ${String(digits)})`);
  }
  return digits;
}

/** Smallest and largest operand with exactly `digits` digits (0 counts as a 1-digit number). */
export function operandRange(digits: number): [lo: number, hi: number] {
  checkDigits(digits);
  return [digits === 1 ? 0 : 10 ** (digits - 1), 10 ** digits - 1];
}

export function formatPrompt(a: bigint, op: ArithmeticOp, b: bigint): string {
  return `What is ${a} ${op} ${b}?`;
}

const PROMPT_RE = /(-?\d+)\s*([+\-*×x])\s*(-?\d+)/;

/** Reads the operands back from a prompt (`What is 47 + 85?`, also `47+85`, `47 x 85`). */
export function parsePrompt(prompt: string): ParsedArithmetic {
  const m = PROMPT_RE.exec(prompt);
  if (!m) throw new PonderError('BAD_INPUT', `arithmetic: no "a op b" expression in prompt ${JSON.stringify(prompt)}`);
  const op: ArithmeticOp = m[2] === '+' ? '+' : m[2] === '-' ? '-' : '*';
  return { a: BigInt(m[1]!), op, b: BigInt(m[3]!) };
}

export function evaluate({ a, op, b }: ParsedArithmetic): bigint {
  return op === '+' ? a + b : op === '-' ? a - b : a * b;
}

/** Digits of |x|, least significant first. */
function digitsOf(x: bigint): number[] {
  return (x < 0n ? -x : x)
    .toString()
    .split('')
    .reverse()
    .map((c) => c.charCodeAt(0) - 48);
}

function addSteps(a: bigint, b: bigint): string[] {
  const da = digitsOf(a);
  const db = digitsOf(b);
  const lines: string[] = [];
  let carry = 0;
  for (let i = 0; i < Math.max(da.length, db.length); i++) {
    const x = da[i] ?? 0;
    const y = db[i] ?? 0;
    const sum = x + y + carry;
    const lhs = carry ? `${x} + ${y} + ${carry}` : `${x} + ${y}`;
    carry = sum >= 10 ? 1 : 0;
    lines.push(`${lhs} = ${sum}, write ${sum % 10}${carry ? ', carry 1' : ''}`);
  }
  if (carry) lines.push('write 1');
  return lines;
}

/** Column subtraction of a - b for a >= b >= 0. */
function subSteps(a: bigint, b: bigint): string[] {
  const da = digitsOf(a);
  const db = digitsOf(b);
  const lines: string[] = [];
  let borrow = 0;
  for (let i = 0; i < da.length; i++) {
    const x = da[i]!;
    const y = db[i] ?? 0;
    const lhs = borrow ? `${x} - 1 - ${y}` : `${x} - ${y}`;
    if (x - borrow < y) {
      const r = 10 + x - borrow - y;
      lines.push(`${lhs} < 0, borrow: 1${lhs} = ${r}`);
      borrow = 1;
    } else {
      lines.push(`${lhs} = ${x - borrow - y}`);
      borrow = 0;
    }
  }
  return lines;
}

/**
 * One partial product pa * d (d a single digit), digit by digit from the right when pa has several
 * digits: "7 * 6 = 42, write 2, carry 4", then "4 * 6 + 4 = 28, write 28" (the last digit writes its
 * whole value). A one-digit pa, or d = 0, is a single fact and needs no lines of its own.
 */
function digitProductSteps(pa: bigint, d: number): string[] {
  const da = digitsOf(pa);
  if (da.length === 1 || d === 0) return [];
  const lines: string[] = [];
  let carry = 0;
  da.forEach((x, i) => {
    const v = x * d + carry;
    const lhs = carry ? `${x} * ${d} + ${carry}` : `${x} * ${d}`;
    const last = i === da.length - 1;
    carry = Math.floor(v / 10);
    lines.push(last ? `${lhs} = ${v}, write ${v}` : `${lhs} = ${v}, write ${v % 10}${carry ? `, carry ${carry}` : ''}`);
  });
  return lines;
}

/**
 * Long multiplication by the digits of b from the right: each partial product worked digit by digit
 * (digitProductSteps), then stated with its place ("47 * 80 = 3760"); with two or more partials, their
 * sum in columns as addition writes it (partials summed left to right, the running total first).
 * Every line asks for one single-digit fact and a carry, as the + and - columns do: a byte-level
 * model learns those, where "47 * 80 = 3760" or "235 + 3760 = 3995" in one line it barely starts to
 * (bench/RESULTS.md "Working formats, continued").
 */
function mulSteps(a: bigint, b: bigint): string[] {
  const neg = a < 0n !== b < 0n;
  const pa = a < 0n ? -a : a;
  const db = digitsOf(b);
  const lines: string[] = [];
  const partials: bigint[] = [];
  let place = 1n;
  for (const d of db) {
    const m = BigInt(d) * place;
    const p = pa * m;
    partials.push(p);
    lines.push(...digitProductSteps(pa, d), `${pa} * ${m} = ${p}`);
    place *= 10n;
  }
  let total = partials[0]!;
  for (const p of partials.slice(1)) {
    lines.push(...addSteps(total, p));
    total += p;
  }
  if (neg && total !== 0n) lines.push(`negative: -${total}`);
  return lines;
}

function solve(p: ParsedArithmetic, working: ArithmeticWorking = 'columns'): string[] {
  const { a, op, b } = p;
  if (working === 'scratchpad') {
    if (a < 0n || b < 0n) return [];
    if (op === '*') return mulScratchpad(a, b);
    if (op === '+') return addScratchpad(a, b);
    if (a >= b) return subScratchpad(a, b);
    return [`${a} < ${b}, so compute -(${b} - ${a})`, ...subScratchpad(b, a)];
  }
  if (op === '*') return mulSteps(a, b);
  if (a < 0n || b < 0n) return []; // not generated; the answer line alone is still correct
  if (op === '+') return addSteps(a, b);
  if (a >= b) return subSteps(a, b);
  return [`${a} < ${b}, so compute -(${b} - ${a})`, ...subSteps(b, a)];
}

function canonical(int: string): string {
  return BigInt(int).toString(); // BigInt('-0') is 0n: "0"
}

/** A uniform operand with exactly `size` digits. */
function drawOperand(r: U32Stream, size: number): bigint {
  const [lo, hi] = operandRange(size);
  return BigInt(lo + r.below(hi - lo + 1));
}

function generate(n: number, seed: number, raw: ArithmeticOptions = {}): Problem[] {
  checkCount(n, 'arithmetic');
  const opts = parseOptions(raw);
  const ops = opts.ops ?? ARITHMETIC_OPS;
  const out: Problem[] = [];
  for (let i = 0; i < n; i++) {
    const r = new U32Stream(seed, i);
    const op = ops[r.below(ops.length)]!;
    const D = opts.digits ?? DEFAULT_DIGITS[op];
    const longFirst = r.below(2) === 0;
    const otherSize = 1 + r.below(D);
    let a = drawOperand(r, longFirst ? D : otherSize);
    let b = drawOperand(r, longFirst ? otherSize : D);
    if (op === '-' && a < b) [a, b] = [b, a];
    out.push({ id: `arithmetic-${seed}-${i}`, prompt: formatPrompt(a, op, b), answer: evaluate({ a, op, b }).toString() });
  }
  return out;
}

function goldCot(p: Problem, opts: ArithmeticOptions = {}): string {
  const parsed = parsePrompt(p.prompt);
  const value = evaluate(parsed);
  if (!CANONICAL_INT.test(p.answer.trim()) || BigInt(p.answer.trim()) !== value) {
    throw new PonderError('BAD_INPUT', `arithmetic: problem ${p.id} says the answer to ${JSON.stringify(p.prompt)} is ${JSON.stringify(p.answer)}, but it is ${value}`);
  }
  return [...solve(parsed, opts.working), `Answer: ${value}`].join('\n');
}

/** A line of working in the form the step checker compares (spaces collapsed, × and − read as * and -). */
function stepForm(line: string): string {
  return line.replace(/×/g, '*').replace(/−/g, '-').replace(/\s+/g, ' ').trim().toLowerCase();
}

/** The lines of a model's working that claim something (see the header); the Answer line is not a step. */
export function claimLines(text: string): string[] {
  return workingLines(text)
    .map(stepForm)
    .filter((l) => !/^answer\s*:/.test(l) && (l.includes('=') || l.includes('<') || l.startsWith('write') || l.startsWith('negative')));
}

/** A scratchpad working opens by restating the operands alone on a line ("347 + 589"). */
const SCRATCHPAD_HEAD = /^\d+ [+\-*] \d+$/;

function checkSteps(p: Problem, text: string): StepCheck {
  // the style is read off the text: a scratchpad is checked line by line (its restating and "row"
  // lines are steps too), the column working by its claim lines
  const working = workingLines(text).map(stepForm).filter((l) => l !== '' && !/^answer\s*:/.test(l));
  const scratchpad = working.length > 0 && SCRATCHPAD_HEAD.test(working[0]!);
  const gold = solve(parsePrompt(p.prompt), scratchpad ? 'scratchpad' : 'columns').map(stepForm);
  const lines = scratchpad ? working : claimLines(text);
  let correct = 0;
  let firstWrong: number | undefined;
  lines.forEach((l, k) => {
    if (l === gold[k]) correct++;
    else firstWrong ??= k;
  });
  return { steps: lines.length, correct, ...(firstWrong !== undefined ? { firstWrong } : {}) };
}

export interface ArithmeticTask extends VerifiableTask {
  parseOptions(raw: Record<string, unknown>, where?: string): ArithmeticOptions;
  generate(n: number, seed: number, opts?: ArithmeticOptions): Problem[];
  checkSteps(p: Problem, text: string): StepCheck;
}

export const arithmeticTask: ArithmeticTask = {
  name: 'arithmetic',
  describe: 'a + b, a - b, a * b with column working (digits: largest operand size; default 3-digit + and -, 2-digit *)',
  options: ARITHMETIC_OPTIONS,
  parseOptions,
  generate,
  goldCot,
  target(p: Problem, opts: ArithmeticOptions = {}): string {
    return opts.cot ? goldCot(p, opts) : canonical(p.answer.trim());
  },
  /** The last `Answer: <int>`, else the last integer (after `</think>` when present), canonicalised; undefined if none. */
  extractAnswer: extractIntAnswer,
  verify: (p: Problem, answer: string | undefined): boolean => sameInteger(answer, p.answer),
  formatOk: endsWithAnswerLine,
  checkSteps,
};
