/**
 * Exact rationals over BigInt (numerator, positive denominator, reduced), for the checks that must
 * not round: a countdown expression's value, a linear equation's steps, a jsonl answer like "3/4" or
 * "0.75". Doubles would call 0.1 + 0.2 and 0.3 different and 10^17 + 1 and 10^17 the same.
 */
export interface Rational {
  readonly n: bigint;
  /** > 0 */
  readonly d: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** n/d reduced; undefined for d = 0. */
export function rational(n: bigint, d = 1n): Rational | undefined {
  if (d === 0n) return undefined;
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d);
  return g > 1n ? { n: n / g, d: d / g } : { n, d };
}

export const add = (a: Rational, b: Rational): Rational => rational(a.n * b.d + b.n * a.d, a.d * b.d)!;
export const sub = (a: Rational, b: Rational): Rational => rational(a.n * b.d - b.n * a.d, a.d * b.d)!;
export const mul = (a: Rational, b: Rational): Rational => rational(a.n * b.n, a.d * b.d)!;
/** undefined when dividing by zero */
export const div = (a: Rational, b: Rational): Rational | undefined => rational(a.n * b.d, a.d * b.n);
export const eq = (a: Rational, b: Rational): boolean => a.n === b.n && a.d === b.d;

/** "5", "-3/4" */
export function formatRational(r: Rational): string {
  return r.d === 1n ? r.n.toString() : `${r.n}/${r.d}`;
}

/**
 * Reads "12", "-0.50", "3/4", "-7/2" exactly (no exponents, no commas: callers normalise first);
 * undefined for anything else or a zero denominator.
 */
export function parseRational(s: string): Rational | undefined {
  const m = /^([+-]?)(\d+)(?:\.(\d+))?(?:\/(\d+))?$/.exec(s.trim()) ?? /^([+-]?)()\.(\d+)$/.exec(s.trim());
  if (!m) return undefined;
  const [, sign, int, frac, den] = m;
  if (frac !== undefined && den !== undefined) return undefined;
  const scale = 10n ** BigInt(frac?.length ?? 0);
  const num = BigInt((int || '0') + (frac ?? '')) * (sign === '-' ? -1n : 1n);
  return rational(num, scale * BigInt(den ?? '1'));
}
