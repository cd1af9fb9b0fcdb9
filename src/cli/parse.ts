import { usageError } from './output.js';

/** Flag value parsers that turn bad values into one-line usage errors naming the flag. */
export function parseIntFlag(flag: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw usageError(`${flag} must be an integer >= ${min}, got "${value}"`);
  return n;
}

export function parseNumberFlag(flag: string, value: string | undefined, lo: number, hi: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < lo || n > hi) throw usageError(`${flag} must be a number in [${lo}, ${hi}], got "${value}"`);
  return n;
}

export function parseIdList(flag: string, value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const ids = parts.map(Number);
  if (parts.length === 0 || parts.some((p) => p === '') || ids.some((n) => !Number.isInteger(n) || n < 0)) {
    throw usageError(`${flag} must be a comma-separated list of token ids, got "${value}"`);
  }
  return ids;
}
