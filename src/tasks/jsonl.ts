/**
 * The jsonl task: the user's own problems, one JSON object per line as in GSM8K:
 *
 *   {"question": "Tom has 3 apples ...", "answer": 42, "solution": "3 + 39 = 42 ..."}
 *
 * `answer` is a number or a numeric string; `solution` (or `cot`) is an optional worked solution;
 * other keys are ignored. Option `data` (required) is the file's path. The file must be a regular
 * file (not a directory, FIFO or device) of at most 256 MiB of valid UTF-8; blank lines are skipped;
 * every bad line fails with one line `FILE:LINE: what is wrong`.
 *
 * Answers are normalised to a canonical number: spaces, thousands commas ("1,234"), a leading '+' or
 * '$', a trailing '.' and trailing fractional zeros ("72.00" -> "72", "0.50" -> "0.5") go, "-0" is
 * "0", a fraction "6/8" is reduced ("3/4"). Comparison is exact: both sides are read as rationals
 * (rational.ts), so "0.75" and "3/4" agree and no float rounding enters.
 *
 * generate(n, seed): problem i is file[perm_e[i mod N]] with e = floor(i / N) and perm_e a Philox
 * shuffle keyed by (seed, e): n <= N draws without replacement; beyond N the file is cycled, each
 * pass in a fresh seeded order. Problem i depends only on (seed, i, the file), so generate(10) is a
 * prefix of generate(100).
 *
 * Extraction, in priority order (in the text after `</think>` when present, else the whole text):
 * the last \boxed{…}, the last "#### N", the last "The answer is N", the last "Answer: N" line (chatter
 * may follow it), and as a fallback the last number in the text. Gold chain of thought: the solution with a trailing
 * "#### N" line dropped, then "Answer: N"; without a solution just "Answer: N".
 */
import { readFileSync, statSync } from 'node:fs';
import { PonderError } from '../errors.js';
import { answerPart } from './answer-text.js';
import { checkCount, parseTaskOptions } from './options.js';
import { eq, formatRational, parseRational } from './rational.js';
import { TASK_DOMAIN } from './stream.js';
import { drawU32 } from '../sample/rng.js';
import type { Problem, TaskOptions, TaskOptionSpec, VerifiableTask } from './types.js';

export const MAX_JSONL_BYTES = 256 * 1024 * 1024;

export const JSONL_OPTIONS: readonly TaskOptionSpec[] = [
  { name: 'data', kind: 'path', required: true, help: 'path to a .jsonl file of {"question": ..., "answer": ...} lines' },
];

export interface JsonlOptions extends TaskOptions {
  data?: string;
}

export interface JsonlProblem {
  question: string;
  /** canonical (normaliseAnswer) */
  answer: string;
  solution?: string;
  /** 1-based line in the file */
  line: number;
}

function parseOptions(raw: Record<string, unknown>, where = 'jsonl'): JsonlOptions {
  return parseTaskOptions(JSONL_OPTIONS, raw, where) as JsonlOptions;
}

/** The canonical form of a numeric answer (see the header), or undefined if it is not a number. */
export function normaliseAnswer(raw: string): string | undefined {
  let s = raw.trim().replace(/\s+/g, '');
  if (/^[+-]?\$?\d{1,3}(,\d{3})+(\.\d+)?\.?$/.test(s)) s = s.replace(/,/g, '');
  s = s.replace(/^\+/, '').replace(/^(-?)\$/, '$1').replace(/\.$/, '');
  if (!/^-?(\d+(\.\d+)?|\.\d+|\d+\/\d+)$/.test(s)) return undefined;
  if (s.includes('/')) {
    const r = parseRational(s);
    return r === undefined ? undefined : formatRational(r);
  }
  const neg = s.startsWith('-');
  let [int, frac = ''] = s.replace(/^-/, '').split('.') as [string, string?];
  int = int.replace(/^0+(?=\d)/, '') || '0';
  frac = frac.replace(/0+$/, '');
  const body = frac ? `${int}.${frac}` : int;
  return neg && /[1-9]/.test(body) ? `-${body}` : body;
}

function fail(file: string, line: number, what: string): PonderError {
  return new PonderError('BAD_INPUT', `${file}:${line}: ${what}`);
}

/** Reads and validates the whole file (see the header for the rules). */
export function readJsonlProblems(file: string): JsonlProblem[] {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PonderError('NOT_FOUND', `${file}: no such file`);
    throw new PonderError('BAD_INPUT', `${file}: cannot read (${code ?? (e as Error).message})`);
  }
  if (st.isDirectory()) throw new PonderError('BAD_INPUT', `${file}: is a directory, not a .jsonl file`);
  if (!st.isFile()) throw new PonderError('BAD_INPUT', `${file}: not a regular file (a FIFO, socket or device); give a .jsonl file`);
  if (st.size > MAX_JSONL_BYTES) throw new PonderError('BAD_INPUT', `${file}: ${st.size} bytes, more than the ${MAX_JSONL_BYTES / 1024 / 1024} MiB a problems file may have`);
  const bytes = readFileSync(file);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const out: JsonlProblem[] = [];
  let start = 0;
  for (let lineNo = 1; start <= bytes.length; lineNo++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    let text: string;
    try {
      text = decoder.decode(bytes.subarray(start, end));
    } catch {
      throw fail(file, lineNo, 'invalid UTF-8 (save the file as UTF-8)');
    }
    start = end + 1;
    if (lineNo === 1) text = text.replace(/^\uFEFF/, '');
    if (text.trim() === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw fail(file, lineNo, `not JSON (${(e as Error).message})`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw fail(file, lineNo, 'expected a JSON object {"question": ..., "answer": ...}');
    const o = obj as Record<string, unknown>;
    if (typeof o.question !== 'string' || o.question.trim() === '') {
      throw fail(file, lineNo, o.question === undefined ? 'missing "question"' : '"question" must be a non-empty string');
    }
    if (o.answer === undefined || o.answer === null) throw fail(file, lineNo, 'missing "answer"');
    if (typeof o.answer !== 'string' && typeof o.answer !== 'number') throw fail(file, lineNo, '"answer" must be a number or a string holding one');
    const rawAnswer = typeof o.answer === 'number' ? String(o.answer) : o.answer;
    const answer = normaliseAnswer(rawAnswer);
    if (answer === undefined) throw fail(file, lineNo, `"answer" ${JSON.stringify(o.answer)} is not a number (after removing commas, '+', '$'; fractions like 3/4 are fine)`);
    const sol = o.solution ?? o.cot;
    if (sol !== undefined && typeof sol !== 'string') throw fail(file, lineNo, `"${o.solution !== undefined ? 'solution' : 'cot'}" must be a string`);
    out.push({ question: o.question, answer, ...(sol && sol.trim() !== '' ? { solution: sol } : {}), line: lineNo });
  }
  if (out.length === 0) throw new PonderError('BAD_INPUT', `${file}: no problems (expected one {"question": ..., "answer": ...} per line)`);
  return out;
}

/** The seeded order of pass `pass` over N items: Fisher-Yates driven by Philox (seed, stream = pass). */
function permutation(N: number, seed: number, pass: number): Uint32Array {
  const perm = new Uint32Array(N);
  for (let i = 0; i < N; i++) perm[i] = i;
  let buf: Uint32Array = new Uint32Array(0);
  let pos = 0;
  let block = 0;
  const next = (): number => {
    if (pos >= buf.length) {
      buf = drawU32(seed, pass, 1, block++, TASK_DOMAIN);
      pos = 0;
    }
    return buf[pos++]!;
  };
  for (let j = N - 1; j > 0; j--) {
    const range = j + 1;
    const limit = Math.floor(4294967296 / range) * range;
    let x = next();
    while (x >= limit) x = next();
    const k = x % range;
    [perm[j], perm[k]] = [perm[k]!, perm[j]!];
  }
  return perm;
}

function generate(n: number, seed: number, raw: JsonlOptions = {}): Problem[] {
  checkCount(n, 'jsonl');
  const opts = parseOptions(raw);
  if (n === 0) return [];
  const all = readJsonlProblems(opts.data!);
  const N = all.length;
  const out: Problem[] = [];
  let perm: Uint32Array | undefined;
  for (let i = 0; i < n; i++) {
    if (i % N === 0) perm = permutation(N, seed, Math.floor(i / N));
    const q = all[perm![i % N]!]!;
    out.push({ id: `jsonl-${seed}-${i}`, prompt: q.question, answer: q.answer, ...(q.solution ? { solution: q.solution } : {}) });
  }
  return out;
}

const NUM = String.raw`[+-]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?`;
const HASH_RE = new RegExp(String.raw`####\s*(${NUM})`, 'g');
const THE_ANSWER_RE = new RegExp(String.raw`the (?:final )?answer is:?\s*(${NUM})`, 'gi');
const ANSWER_LINE_RE = new RegExp(String.raw`^[ \t]*\**answer\**[ \t]*:\**[ \t]*(${NUM})[ \t]*\.?[ \t]*$`, 'gim');
const ANY_NUM_RE = new RegExp(String.raw`(?<![\d.])${NUM}`, 'g');

/** Contents of each \boxed{…} (balanced braces), in order; \frac{a}{b} inside reads as a/b. */
function boxedContents(text: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (;;) {
    const at = text.indexOf('\\boxed{', from);
    if (at < 0) return out;
    let depth = 1;
    let i = at + '\\boxed{'.length;
    const begin = i;
    for (; i < text.length && depth > 0; i++) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}') depth--;
    }
    if (depth !== 0) return out;
    out.push(text.slice(begin, i - 1).replace(/\\d?frac\{([^{}]*)\}\{([^{}]*)\}/g, '$1/$2'));
    from = i;
  }
}

function lastMatch(re: RegExp, text: string): string | undefined {
  let last: string | undefined;
  for (const m of text.matchAll(re)) last = m[1] ?? m[0];
  return last;
}

function extractFrom(text: string): string | undefined {
  const candidates = [
    boxedContents(text).at(-1),
    lastMatch(HASH_RE, text),
    lastMatch(THE_ANSWER_RE, text),
    lastMatch(ANSWER_LINE_RE, text),
  ];
  for (const c of candidates) {
    const v = c === undefined ? undefined : normaliseAnswer(c.replace(/\s+/g, ''));
    if (v !== undefined) return v;
  }
  const last = lastMatch(ANY_NUM_RE, text);
  return last === undefined ? undefined : normaliseAnswer(last.replace(/\s+/g, ''));
}

function extractAnswer(text: string): string | undefined {
  return extractFrom(answerPart(text)) ?? extractFrom(text);
}

/** An answer format (boxed, ####, "the answer is", a final Answer line) gives a number after `</think>`. */
function formatOk(text: string): boolean {
  const part = answerPart(text);
  const found = [boxedContents(part).at(-1), lastMatch(HASH_RE, part), lastMatch(THE_ANSWER_RE, part), lastMatch(ANSWER_LINE_RE, part)];
  return found.some((c) => c !== undefined && normaliseAnswer(c.replace(/\s+/g, '')) !== undefined);
}

function verify(p: Problem, answer: string | undefined): boolean {
  if (answer === undefined) return false;
  const a = normaliseAnswer(answer);
  const g = normaliseAnswer(p.answer);
  if (a === undefined || g === undefined) return false;
  const ra = parseRational(a);
  const rg = parseRational(g);
  return ra !== undefined && rg !== undefined && eq(ra, rg);
}

function goldCot(p: Problem): string {
  const answer = normaliseAnswer(p.answer);
  if (answer === undefined) throw new PonderError('BAD_INPUT', `jsonl: problem ${p.id} has a non-numeric answer ${JSON.stringify(p.answer)}`);
  const solution = (p.solution ?? '').replace(/\n?[ \t]*####[^\n]*\s*$/, '').trimEnd();
  return solution === '' ? `Answer: ${answer}` : `${solution}\nAnswer: ${answer}`;
}

export const jsonlTask: VerifiableTask & { parseOptions(raw: Record<string, unknown>, where?: string): JsonlOptions } = {
  name: 'jsonl',
  describe: 'your own problems: a .jsonl file of {"question", "answer"[, "solution"]} lines (data: PATH), answers checked as exact numbers',
  options: JSONL_OPTIONS,
  parseOptions,
  generate,
  goldCot,
  target(p: Problem, opts: { cot?: boolean } = {}): string {
    return opts.cot ? goldCot(p) : `Answer: ${normaliseAnswer(p.answer) ?? p.answer}`;
  },
  extractAnswer,
  verify,
  formatOk,
};

