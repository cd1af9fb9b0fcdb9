/**
 * A small recursive-descent parser and exact evaluator for arithmetic expressions: non-negative
 * integer literals, + - * /, parentheses and (when allowed) unary minus. It replaces eval() for
 * model-written text: nothing but this grammar is accepted, and its size is bounded.
 *
 *   expr   := term (('+' | '-') term)*
 *   term   := factor (('*' | '/') factor)*
 *   factor := NUMBER | '(' expr ')' | '-' factor   (unary minus only with allowUnaryMinus)
 *
 * `×` and `÷` read as * and /. Values are exact rationals (rational.ts); a division by zero makes
 * the whole expression invalid.
 */
import { add, div, mul, rational, sub, type Rational } from './rational.js';

/** Longest expression text accepted (a countdown answer is ~20 characters). */
export const MAX_EXPRESSION_CHARS = 400;
const MAX_DEPTH = 50;

export interface Evaluated {
  value: Rational;
  /** the integer literals, in order of appearance */
  literals: bigint[];
}

type Token = { kind: 'num'; value: bigint } | { kind: 'op'; op: string };

function tokenize(text: string): Token[] | undefined {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') i++;
    else if (c >= '0' && c <= '9') {
      let j = i;
      while (j < text.length && text[j]! >= '0' && text[j]! <= '9') j++;
      out.push({ kind: 'num', value: BigInt(text.slice(i, j)) });
      i = j;
    } else if ('+-*/()×÷'.includes(c)) {
      out.push({ kind: 'op', op: c === '×' ? '*' : c === '÷' ? '/' : c });
      i++;
    } else return undefined;
  }
  return out;
}

/** The value and literals of `text`, or undefined if it is not a valid expression (or divides by zero). */
export function evaluateExpression(text: string, opts: { allowUnaryMinus?: boolean } = {}): Evaluated | undefined {
  if (text.length > MAX_EXPRESSION_CHARS) return undefined;
  const toks = tokenize(text);
  if (!toks || toks.length === 0) return undefined;
  const literals: bigint[] = [];
  let pos = 0;
  let failed = false;
  const peekOp = (): string | undefined => {
    const t = toks[pos];
    return t && t.kind === 'op' ? t.op : undefined;
  };
  const fail = (): undefined => {
    failed = true;
    return undefined;
  };

  function factor(depth: number): Rational | undefined {
    if (depth > MAX_DEPTH) return fail();
    const t = toks![pos];
    if (!t) return fail();
    if (t.kind === 'num') {
      pos++;
      literals.push(t.value);
      return rational(t.value);
    }
    if (t.op === '(') {
      pos++;
      const v = expr(depth + 1);
      if (failed || peekOp() !== ')') return fail();
      pos++;
      return v;
    }
    if (t.op === '-' && opts.allowUnaryMinus) {
      pos++;
      const v = factor(depth + 1);
      return v === undefined ? fail() : rational(-v.n, v.d);
    }
    return fail();
  }

  function term(depth: number): Rational | undefined {
    let v = factor(depth);
    while (!failed && v !== undefined && (peekOp() === '*' || peekOp() === '/')) {
      const op = peekOp();
      pos++;
      const r = factor(depth);
      if (r === undefined) return fail();
      v = op === '*' ? mul(v, r) : div(v, r);
      if (v === undefined) return fail();
    }
    return v;
  }

  function expr(depth: number): Rational | undefined {
    let v = term(depth);
    while (!failed && v !== undefined && (peekOp() === '+' || peekOp() === '-')) {
      const op = peekOp();
      pos++;
      const r = term(depth);
      if (r === undefined) return fail();
      v = op === '+' ? add(v, r) : sub(v, r);
    }
    return v;
  }

  const value = expr(0);
  if (failed || value === undefined || pos !== toks.length) return undefined;
  return { value, literals };
}
