/**
 * Reading a model's text, shared by the tasks: where its answer part is (chat models may reason inside
 * <think>…</think>; the answer is what follows the last `</think>`), the "Answer: N" integer format
 * of the generated tasks, and the lines of its working for the step checkers.
 */

/**
 * The part of `text` that carries the answer: after the last `</think>`; the whole text when there is
 * no think block; '' when a `<think>` is never closed (the model gave no answer outside its reasoning).
 */
export function answerPart(text: string): string {
  const close = text.lastIndexOf('</think>');
  if (close >= 0) return text.slice(close + '</think>'.length);
  return text.includes('<think>') ? '' : text;
}

/** An integer as models write it: optional sign, digits, optionally grouped in thousands ("1,234"). */
const INT = String.raw`[+-]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)`;
const ANSWER_RE = new RegExp(String.raw`answer\s*:\s*\**\s*(${INT})`, 'gi');
const BOXED_RE = new RegExp(String.raw`\\boxed\{\s*(${INT})\s*\}`, 'g');
const HASH_RE = new RegExp(String.raw`####\s*(${INT})`, 'g');
const LAST_INT_RE = /(?<!\d)-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)/g;

function lastOf(re: RegExp, text: string): string | undefined {
  let last: string | undefined;
  for (const m of text.matchAll(re)) last = m[1] ?? m[0];
  return last;
}

function lastIntIn(text: string): string | undefined {
  const found = lastOf(ANSWER_RE, text) ?? lastOf(BOXED_RE, text) ?? lastOf(HASH_RE, text) ?? lastOf(LAST_INT_RE, text);
  return found === undefined ? undefined : BigInt(found.replace(/,/g, '')).toString(); // BigInt('-0') is 0n: "0"
}

/**
 * The integer answer, in priority order: the last `Answer: <int>`, the last `\boxed{<int>}`, the last
 * `#### <int>`, else the last integer; thousands commas allowed ("Answer: 1,234"). Looked for in the
 * answer part; if that has none, in the whole text (a model that answered inside its reasoning is
 * still scored on it; the format reward is where an unclosed think block costs). Canonical (no
 * leading zeros, no commas, "-0" -> "0").
 */
export function extractIntAnswer(text: string): string | undefined {
  return lastIntIn(answerPart(text)) ?? lastIntIn(text);
}

const FINAL_ANSWER_LINE = new RegExp(String.raw`(?:^|\n)[ \t]*Answer:[ \t]*${INT}[ \t]*\.?\s*$`);
const BARE_INT = new RegExp(String.raw`^\s*${INT}\s*$`);

/**
 * The integer-answer format: the answer part ends with the line `Answer: <int>` (nothing but
 * whitespace after it), or is just the integer (the short target a task trains without cot).
 */
export function endsWithAnswerLine(text: string): boolean {
  const part = answerPart(text);
  return FINAL_ANSWER_LINE.test(part) || BARE_INT.test(part);
}

/** Non-empty lines of the text with the think tags removed and spaces collapsed. */
export function workingLines(text: string): string[] {
  return text
    .replace(/<\/?think>/g, '\n')
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '');
}

/** A canonical integer string: optional sign then digits. */
export const CANONICAL_INT = /^[+-]?\d+$/;

/** Exact integer comparison of an extracted answer with the gold one; false for anything not an integer. */
export function sameInteger(answer: string | undefined, gold: string): boolean {
  if (answer === undefined) return false;
  const s = answer.trim();
  const g = gold.trim();
  if (!CANONICAL_INT.test(s) || !CANONICAL_INT.test(g)) return false;
  return BigInt(s) === BigInt(g);
}
