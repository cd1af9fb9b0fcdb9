/**
 * The arithmetic task: `a + b`, `a - b` and `a * b` with operands of exactly `digits` digits (1..9),
 * drawn uniformly, so carries and borrows occur at their natural rate (with 3 digits about 5 in 6
 * additions carry at least once). Subtraction puts the larger operand first: answers are never
 * negative, which keeps the column-subtraction steps the same shape for every problem.
 *
 * Randomness is Philox (src/sample/rng.ts) keyed by the seed, with counter (block, 0, problem index,
 * TASK_DOMAIN): problem i is a pure function of (seed, i, digits, ops), independent of n and of the
 * platform. Values are BigInt because 9-digit products (< 10^18) exceed 2^53.
 *
 * Gold chain of thought (short: tiny byte-level models pay per character):
 *   addition       column by column from the right, "7 + 5 + 1 = 13, write 3, carry 1"
 *   subtraction    column by column, "5 - 7 < 0, borrow: 15 - 7 = 8" / "8 - 1 - 4 = 3"
 *   multiplication one partial product per digit of b, "47 * 80 = 3760", then their sum
 * and always a last line "Answer: N".
 */
import { PonderError } from '../errors.js';
import { drawU32 } from '../sample/rng.js';
import type { Problem, TaskOptions, VerifiableTask } from './types.js';

export type ArithmeticOp = '+' | '-' | '*';
export const ARITHMETIC_OPS: readonly ArithmeticOp[] = ['+', '-', '*'];
export const MIN_DIGITS = 1;
export const MAX_DIGITS = 9;

/** Philox counter word 3 for task generation (ASCII "task"): never shares draws with the sampler's domains. */
export const TASK_DOMAIN = 0x7461736b;

export interface ArithmeticOptions extends TaskOptions {
  /** which operations to draw from (uniformly); default all three */
  ops?: readonly ArithmeticOp[];
}

export interface ParsedArithmetic {
  a: bigint;
  op: ArithmeticOp;
  b: bigint;
}

/** Successive uniform u32s of one problem's Philox stream. */
class U32Stream {
  private block = 0;
  private buf: Uint32Array = new Uint32Array(0);
  private pos = 0;
  constructor(
    private readonly seed: number,
    private readonly stream: number,
  ) {}

  next(): number {
    if (this.pos >= this.buf.length) {
      this.buf = drawU32(this.seed, this.stream, 0, this.block++, TASK_DOMAIN);
      this.pos = 0;
    }
    return this.buf[this.pos++]!;
  }

  /** Uniform integer in [0, range) by rejection (no modulo bias); range <= 2^32. */
  below(range: number): number {
    const limit = Math.floor(4294967296 / range) * range;
    for (;;) {
      const x = this.next();
      if (x < limit) return x % range;
    }
  }
}

function checkDigits(digits: unknown): number {
  if (typeof digits !== 'number' || !Number.isInteger(digits) || digits < MIN_DIGITS || digits > MAX_DIGITS) {
    throw new PonderError('BAD_INPUT', `arithmetic: digits must be an integer from ${MIN_DIGITS} to ${MAX_DIGITS} (got ${String(digits)})`);
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
    lines.push(`${pa} * ${m} = ${p}`);
    place *= 10n;
  }
  const total = partials.reduce((s, p) => s + p, 0n);
  if (partials.length > 1) lines.push(`${partials.join(' + ')} = ${total}`);
  if (neg && total !== 0n) lines.push(`negative: -${total}`);
  return lines;
}

function solve(p: ParsedArithmetic): string[] {
  const { a, op, b } = p;
  if (op === '*') return mulSteps(a, b);
  if (a < 0n || b < 0n) return []; // not generated; the answer line alone is still correct
  if (op === '+') return addSteps(a, b);
  if (a >= b) return subSteps(a, b);
  return [`${a} < ${b}, so compute -(${b} - ${a})`, ...subSteps(b, a)];
}

const ANSWER_RE = /answer\s*:\s*([+-]?\d+)/gi;
const INT_RE = /(?<!\d)-?\d+/g;
const CANONICAL_INT = /^[+-]?\d+$/;

function canonical(int: string): string {
  return BigInt(int).toString(); // BigInt('-0') is 0n: "0"
}

function generate(n: number, seed: number, opts: ArithmeticOptions = {}): Problem[] {
  if (!Number.isInteger(n) || n < 0) throw new PonderError('BAD_INPUT', `arithmetic: n must be a non-negative integer (got ${n})`);
  const digits = checkDigits(opts.digits ?? 1);
  const ops = opts.ops ?? ARITHMETIC_OPS;
  if (ops.length === 0 || ops.some((o) => !ARITHMETIC_OPS.includes(o))) {
    throw new PonderError('BAD_INPUT', `arithmetic: ops must be a non-empty list of ${ARITHMETIC_OPS.join(' ')} (got ${JSON.stringify(ops)})`);
  }
  const [lo, hi] = operandRange(digits);
  const out: Problem[] = [];
  for (let i = 0; i < n; i++) {
    const r = new U32Stream(seed, i);
    const op = ops[r.below(ops.length)]!;
    let a = BigInt(lo + r.below(hi - lo + 1));
    let b = BigInt(lo + r.below(hi - lo + 1));
    if (op === '-' && a < b) [a, b] = [b, a];
    out.push({ id: `arithmetic-${seed}-${i}`, prompt: formatPrompt(a, op, b), answer: evaluate({ a, op, b }).toString() });
  }
  return out;
}

function goldCot(p: Problem): string {
  const parsed = parsePrompt(p.prompt);
  const value = evaluate(parsed);
  if (!CANONICAL_INT.test(p.answer.trim()) || BigInt(p.answer.trim()) !== value) {
    throw new PonderError('BAD_INPUT', `arithmetic: problem ${p.id} says the answer to ${JSON.stringify(p.prompt)} is ${JSON.stringify(p.answer)}, but it is ${value}`);
  }
  return [...solve(parsed), `Answer: ${value}`].join('\n');
}

export interface ArithmeticTask extends VerifiableTask {
  generate(n: number, seed: number, opts?: ArithmeticOptions): Problem[];
}

export const arithmeticTask: ArithmeticTask = {
  name: 'arithmetic',
  generate,
  goldCot,
  target(p: Problem, opts: { cot?: boolean } = {}): string {
    return opts.cot ? goldCot(p) : canonical(p.answer.trim());
  },
  /** The last `Answer: <int>`, else the last integer in the text, canonicalised; undefined if none. */
  extractAnswer(text: string): string | undefined {
    let last: string | undefined;
    for (const m of text.matchAll(ANSWER_RE)) last = m[1];
    if (last === undefined) for (const m of text.matchAll(INT_RE)) last = m[0];
    return last === undefined ? undefined : canonical(last);
  },
  verify(p: Problem, answer: string | undefined): boolean {
    if (answer === undefined) return false;
    const s = answer.trim();
    const gold = p.answer.trim();
    if (!CANONICAL_INT.test(s) || !CANONICAL_INT.test(gold)) return false;
    return BigInt(s) === BigInt(gold);
  },
};
