/**
 * The linear task: solve a·x + b = c for an integer x, with the working written as the two moves a
 * pupil makes. Generation (problem i a pure function of (seed, i, options); stream.ts): a uniform in
 * ±1..coef (never 0), x and b uniform in -range..range, c = a·x + b; with `negative: false`, a in
 * 1..coef and x, b in 0..range. The prompt is "Solve for x: 3x + 5 = 20".
 *
 * Gold chain of thought (lines skipped when they would say nothing: no b, or a = 1):
 *   3x + 5 = 20
 *   3x = 20 - 5 = 15
 *   x = 15 / 3 = 5
 *   Answer: 5
 * (a negative a is divided by in parentheses: "x = 15 / (-3) = -5").
 *
 * Step checker: every line with "=" (the Answer line aside) is a chain of expressions that must all
 * have the same value when x is this problem's solution: "3x = 20 - 5 = 15" checks 3·5 = 15 = 15.
 * Expressions are read by expression.ts (exact rationals; "3x" is 3 * x); a leading "Step 2:" or a
 * word like "so" is skipped, and a line that still does not parse is wrong.
 */
import { PonderError } from '../errors.js';
import { endsWithAnswerLine, extractIntAnswer, sameInteger, workingLines } from './answer-text.js';
import { evaluateExpression } from './expression.js';
import { checkCount, parseTaskOptions } from './options.js';
import { eq } from './rational.js';
import { U32Stream } from './stream.js';
import type { Problem, StepCheck, TaskOptions, TaskOptionSpec, VerifiableTask } from './types.js';

export const LINEAR_OPTIONS: readonly TaskOptionSpec[] = [
  { name: 'coef', kind: 'int', min: 1, max: 100, default: 9, help: 'largest |a| (the coefficient of x)' },
  { name: 'range', kind: 'int', min: 1, max: 1000, default: 20, help: 'largest |x| and |b|' },
  { name: 'negative', kind: 'bool', default: true, help: 'allow negative a, b and x' },
];

export interface LinearOptions extends TaskOptions {
  coef?: number;
  range?: number;
  negative?: boolean;
}

export interface LinearEquation {
  a: bigint;
  b: bigint;
  c: bigint;
}

function parseOptions(raw: Record<string, unknown>, where = 'linear'): LinearOptions {
  return parseTaskOptions(LINEAR_OPTIONS, raw, where) as LinearOptions;
}

/** "3x", "x", "-x", "-12x" */
function xTerm(a: bigint): string {
  return a === 1n ? 'x' : a === -1n ? '-x' : `${a}x`;
}

export function formatLinearPrompt({ a, b, c }: LinearEquation): string {
  const bs = b > 0n ? ` + ${b}` : b < 0n ? ` - ${-b}` : '';
  return `Solve for x: ${xTerm(a)}${bs} = ${c}`;
}

const PROMPT_RE = /solve for x:\s*(-?\d*)x\s*(?:([+-])\s*(\d+))?\s*=\s*(-?\d+)/i;

export function parseLinearPrompt(prompt: string): LinearEquation {
  const m = PROMPT_RE.exec(prompt);
  if (!m) throw new PonderError('BAD_INPUT', `linear: no "Solve for x: ax + b = c" in prompt ${JSON.stringify(prompt)}`);
  const a = m[1] === '' ? 1n : m[1] === '-' ? -1n : BigInt(m[1]!);
  const b = m[2] === undefined ? 0n : m[2] === '-' ? -BigInt(m[3]!) : BigInt(m[3]!);
  if (a === 0n) throw new PonderError('BAD_INPUT', `linear: the coefficient of x is 0 in ${JSON.stringify(prompt)}`);
  return { a, b, c: BigInt(m[4]!) };
}

function generate(n: number, seed: number, raw: LinearOptions = {}): Problem[] {
  checkCount(n, 'linear');
  const opts = parseOptions(raw);
  const coef = opts.coef ?? 9;
  const range = opts.range ?? 20;
  const neg = opts.negative ?? true;
  const out: Problem[] = [];
  for (let i = 0; i < n; i++) {
    const r = new U32Stream(seed, i);
    let a = BigInt(r.between(1, coef));
    if (neg && r.below(2) === 1) a = -a;
    const x = BigInt(neg ? r.between(-range, range) : r.between(0, range));
    const b = BigInt(neg ? r.between(-range, range) : r.between(0, range));
    out.push({ id: `linear-${seed}-${i}`, prompt: formatLinearPrompt({ a, b, c: a * x + b }), answer: x.toString() });
  }
  return out;
}

/** The worked lines (without the Answer line); throws when the equation has no integer solution. */
function solveSteps(p: Problem): { lines: string[]; x: bigint } {
  const { a, b, c } = parseLinearPrompt(p.prompt);
  const rhs = c - b;
  if (rhs % a !== 0n) throw new PonderError('BAD_INPUT', `linear: ${JSON.stringify(p.prompt)} has no integer solution`);
  const x = rhs / a;
  const lines = [formatLinearPrompt({ a, b, c }).replace(/^Solve for x: /, '')];
  if (b !== 0n) lines.push(`${xTerm(a)} = ${c} ${b > 0n ? '-' : '+'} ${b > 0n ? b : -b} = ${rhs}`);
  if (a !== 1n) lines.push(`x = ${rhs} / ${a < 0n ? `(${a})` : a} = ${x}`);
  return { lines, x };
}

function goldCot(p: Problem): string {
  const { lines, x } = solveSteps(p);
  if (!sameInteger(x.toString(), p.answer)) {
    throw new PonderError('BAD_INPUT', `linear: problem ${p.id} says the answer to ${JSON.stringify(p.prompt)} is ${JSON.stringify(p.answer)}, but it is ${x}`);
  }
  return [...lines, `Answer: ${x}`].join('\n');
}

/** One side of a claimed equality at x = value: "3x" -> 3 * (value); undefined if it does not parse. */
function sideValue(side: string, x: bigint) {
  const sub = side.replace(/(\d|\))\s*x/g, '$1 * x').replace(/x/g, `(${x})`);
  return evaluateExpression(sub.trim(), { allowUnaryMinus: true })?.value;
}

function checkSteps(p: Problem, text: string): StepCheck {
  const { a, b, c } = parseLinearPrompt(p.prompt);
  // the truth: the equation's own solution (checked lines of an equation without one are all wrong)
  const x = (c - b) % a === 0n ? (c - b) / a : undefined;
  const lines = workingLines(text).filter((l) => l.includes('=') && !/^answer\s*:/i.test(l));
  let correct = 0;
  let firstWrong: number | undefined;
  lines.forEach((line, k) => {
    const math = line
      .replace(/^.*:\s*/, '')
      .replace(/^(?:[a-wyz][a-z]*[,]?\s+)+/i, '')
      .replace(/[.]$/, '')
      .replace(/−/g, '-');
    const values = x === undefined ? [] : math.split('=').map((s) => sideValue(s, x));
    const ok = values.length >= 2 && values.every((v) => v !== undefined && eq(v, values[0]!));
    if (ok) correct++;
    else firstWrong ??= k;
  });
  return { steps: lines.length, correct, ...(firstWrong !== undefined ? { firstWrong } : {}) };
}

export const linearTask: VerifiableTask & { parseOptions(raw: Record<string, unknown>, where?: string): LinearOptions; checkSteps(p: Problem, text: string): StepCheck } = {
  name: 'linear',
  describe: 'solve a·x + b = c for an integer x, worked in two moves (coef, range, negative)',
  options: LINEAR_OPTIONS,
  parseOptions,
  generate,
  goldCot,
  target(p: Problem, opts: { cot?: boolean } = {}): string {
    return opts.cot ? goldCot(p) : BigInt(p.answer.trim()).toString();
  },
  extractAnswer: extractIntAnswer,
  verify: (p: Problem, answer: string | undefined): boolean => sameInteger(answer, p.answer),
  formatOk: endsWithAnswerLine,
  checkSteps,
};
