/**
 * The arithmetic task's "scratchpad" working: a format in which every step reads its inputs from the
 * line just above it, so a small model never has to find "the tens digit of the second operand" by
 * counting positions in the question.
 *
 * Why: a byte-level model that writes the column working ("7 + 5 + 1 = 13, write 3, carry 1") must
 * fetch each column's digits from the prompt by position, and tiny models learn that late and
 * unreliably (the bundled model's typical error is a misread operand digit, "2 + 4 = 5" for 23 + 45).
 * Here each line ends with what is LEFT of the operands ("left 34 + 58"), so the next column's digits
 * are the last digits before " + " and before the line's end, and the answer digits collected so far
 * ("digits 36") are copied forward with one new digit in front. Every step is a local copy plus one
 * single-digit fact (after the scratchpad of Lee et al., "Teaching Arithmetic to Small Transformers").
 *
 *   addition, 347 + 589          subtraction, 832 - 75 (b padded with zeros to a's length)
 *     347 + 589                    832 - 075
 *     7 + 9 = 16; digits 6; carry 1; left 34 + 58
 *     4 + 8 + 1 = 13; digits 36; carry 1; left 3 + 5
 *     3 + 5 + 1 = 9; digits 936    2 - 5 < 0; 12 - 5 = 7; digits 7; borrow 1; left 83 - 07
 *                                  3 - 1 - 7 < 0; 13 - 1 - 7 = 5; digits 57; borrow 1; left 8 - 0
 *                                  8 - 1 - 0 = 7; digits 757
 *
 * The last column writes its whole sum (a final carry becomes the leading digit: 98 + 981 ends
 * "0 + 9 + 1 = 10; digits 1079"); subtraction puts the larger operand first (as the task does), and
 * its leading zeros are dropped only on the Answer line (500 - 499: "digits 001", "Answer: 1").
 *
 * Multiplication a * b: one row per digit d of b from the right, each the scratchpad of a * d
 * ("47 * 6: 7 * 6 = 42; digits 2; carry 4; left 4" then "4 * 6 + 4 = 28; digits 282"), the row's
 * product shifted by its place ("row 3760"), and a running total added with the addition scratchpad
 * ("282 + 3760" ...). A one-digit a needs one line per row. Negative operands (never generated) have
 * no scratchpad: the Answer line alone.
 */

/** Digits of a non-negative bigint as a string, left-padded with zeros to `width`. */
function padded(x: bigint, width: number): string {
  return x.toString().padStart(width, '0');
}

/** Column addition of two equal-width digit strings, each line reading the line above. */
function addColumns(a: string, b: string): { lines: string[]; digits: string } {
  const lines: string[] = [];
  let carry = 0;
  let digits = '';
  for (let k = a.length - 1; k >= 0; k--) {
    const x = a.charCodeAt(k) - 48;
    const y = b.charCodeAt(k) - 48;
    const s = x + y + carry;
    const lhs = carry ? `${x} + ${y} + ${carry}` : `${x} + ${y}`;
    if (k === 0) {
      digits = `${s}${digits}`;
      lines.push(`${lhs} = ${s}; digits ${digits}`);
    } else {
      digits = `${s % 10}${digits}`;
      carry = s >= 10 ? 1 : 0;
      lines.push(`${lhs} = ${s}; digits ${digits}${carry ? '; carry 1' : ''}; left ${a.slice(0, k)} + ${b.slice(0, k)}`);
    }
  }
  return { lines, digits };
}

export function addScratchpad(a: bigint, b: bigint): string[] {
  const w = Math.max(a.toString().length, b.toString().length);
  const pa = padded(a, w);
  const pb = padded(b, w);
  return [`${pa} + ${pb}`, ...addColumns(pa, pb).lines];
}

/** Column subtraction a - b for a >= b >= 0, b padded to a's width. */
export function subScratchpad(a: bigint, b: bigint): string[] {
  const pa = a.toString();
  const pb = padded(b, pa.length);
  const lines = [`${pa} - ${pb}`];
  let borrow = 0;
  let digits = '';
  for (let k = pa.length - 1; k >= 0; k--) {
    const x = pa.charCodeAt(k) - 48;
    const y = pb.charCodeAt(k) - 48;
    const lhs = borrow ? `${x} - 1 - ${y}` : `${x} - ${y}`;
    let step: string;
    if (x - borrow < y) {
      const r = 10 + x - borrow - y;
      step = `${lhs} < 0; 1${lhs} = ${r}`;
      digits = `${r}${digits}`;
      borrow = 1;
    } else {
      const r = x - borrow - y;
      step = `${lhs} = ${r}`;
      digits = `${r}${digits}`;
      borrow = 0;
    }
    lines.push(k === 0 ? `${step}; digits ${digits}` : `${step}; digits ${digits}${borrow ? '; borrow 1' : ''}; left ${pa.slice(0, k)} - ${pb.slice(0, k)}`);
  }
  return lines;
}

/** a * d for one digit d, right to left, each line reading the line above. */
function rowLines(a: string, d: number): { lines: string[]; product: string } {
  const lines: string[] = [];
  let carry = 0;
  let digits = '';
  for (let k = a.length - 1; k >= 0; k--) {
    const x = a.charCodeAt(k) - 48;
    const p = x * d + carry;
    const lhs = carry ? `${x} * ${d} + ${carry}` : `${x} * ${d}`;
    const head = k === a.length - 1 ? `${a} * ${d}: ` : '';
    if (k === 0) {
      digits = `${p}${digits}`;
      lines.push(`${head}${lhs} = ${p}; digits ${digits}`);
    } else {
      digits = `${p % 10}${digits}`;
      carry = Math.floor(p / 10);
      lines.push(`${head}${lhs} = ${p}; digits ${digits}${carry ? `; carry ${carry}` : ''}; left ${a.slice(0, k)}`);
    }
  }
  return { lines, product: digits };
}

export function mulScratchpad(a: bigint, b: bigint): string[] {
  const sa = a.toString();
  const sb = b.toString();
  const lines = [`${sa} * ${sb}`];
  let total: bigint | undefined;
  for (let place = 0; place < sb.length; place++) {
    const d = sb.charCodeAt(sb.length - 1 - place) - 48;
    const row = rowLines(sa, d);
    lines.push(...row.lines);
    const shifted = BigInt(row.product) * 10n ** BigInt(place);
    lines.push(`row ${shifted}`);
    if (total === undefined) {
      total = shifted;
      continue;
    }
    const w = Math.max(total.toString().length, shifted.toString().length);
    const pt = padded(total, w);
    const ps = padded(shifted, w);
    lines.push(`${pt} + ${ps}`, ...addColumns(pt, ps).lines);
    total += shifted;
  }
  return lines;
}
