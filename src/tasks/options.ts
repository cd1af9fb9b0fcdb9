/**
 * Task options from their declarations: one parser for every task's `options` table, so the CLI
 * (strings: "3", "+,-", "true") and recipes (YAML values: 3, ['+', '-'], true) are validated by the
 * same rules and fail with the same one-line messages, each naming the option:
 *
 *   arithmetic: digits must be an integer from 1 to 9 (got 12)
 *   arithmetic: unknown option "digit" (known: cot, digits, ops, working)
 *
 * `cot` is generic (every task accepts it). Undefined values count as absent, and parsed values parse
 * to themselves, so parseOptions may be applied twice (generate re-validates what it is given).
 */
import { PonderError } from '../errors.js';
import type { TaskOptions, TaskOptionSpec } from './types.js';

/** A bad task option: a PonderError that also names the option (recipe/load.ts points at its line). */
export class TaskOptionError extends PonderError {
  readonly option: string;
  /** for a list option: the offending item's index */
  readonly index?: number;
  constructor(option: string, message: string, index?: number) {
    super('BAD_INPUT', message);
    this.option = option;
    this.index = index;
  }
}

/** The option every task accepts. */
export const COT_OPTION: TaskOptionSpec = { name: 'cot', kind: 'bool', help: 'train/evaluate with the worked steps before the answer', default: false };

function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return JSON.stringify(v);
  if (v !== null && typeof v === 'object') return 'a mapping';
  return String(v);
}

function parseInt_(spec: TaskOptionSpec, v: unknown, where: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : NaN;
  const lo = spec.min ?? Number.MIN_SAFE_INTEGER;
  const hi = spec.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(n) || n < lo || n > hi) {
    const range = spec.min !== undefined && spec.max !== undefined ? ` from ${spec.min} to ${spec.max}` : spec.min !== undefined ? ` >= ${spec.min}` : spec.max !== undefined ? ` <= ${spec.max}` : '';
    throw new TaskOptionError(spec.name, `${where}: ${spec.name} must be an integer${range} (got ${shown(v)})`);
  }
  return n;
}

function parseList(spec: TaskOptionSpec, v: unknown, where: string): string[] {
  const what = spec.choices ? `a non-empty list of ${spec.choices.join(' ')}` : 'a non-empty list';
  let items: unknown[];
  if (Array.isArray(v)) items = v;
  else if (typeof v === 'string') items = v.split(/[\s,]+/).filter((s) => s !== '');
  else throw new TaskOptionError(spec.name, `${where}: ${spec.name} must be ${what}, e.g. "${(spec.choices ?? ['a', 'b']).slice(0, 2).join(',')}" (got ${shown(v)})`);
  const out: string[] = [];
  for (const [i, item] of items.entries()) {
    const s = typeof item === 'number' ? String(item) : item;
    if (typeof s !== 'string' || s === '' || (spec.choices && !spec.choices.includes(s))) {
      throw new TaskOptionError(spec.name, `${where}: ${spec.name} must be ${what} (got ${shown(v)}; ${shown(item)} is not allowed)`, Array.isArray(v) ? i : undefined);
    }
    if (!out.includes(s)) out.push(s);
  }
  if (out.length === 0) throw new TaskOptionError(spec.name, `${where}: ${spec.name} must be ${what} (got an empty list)`);
  return out;
}

function parseBool(spec: TaskOptionSpec, v: unknown, where: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'on' || v === 'yes') return true;
  if (v === 'false' || v === 'off' || v === 'no') return false;
  throw new TaskOptionError(spec.name, `${where}: ${spec.name} must be true or false (got ${shown(v)})`);
}

function parseString(spec: TaskOptionSpec, v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') throw new TaskOptionError(spec.name, `${where}: ${spec.name} must be a non-empty string (got ${shown(v)})`);
  if (spec.choices && !spec.choices.includes(v)) throw new TaskOptionError(spec.name, `${where}: ${spec.name} must be one of ${spec.choices.join(', ')} (got ${shown(v)})`);
  return v;
}

/** Validates `raw` against `specs` (+ cot) and fills defaults; see the header for the rules. */
export function parseTaskOptions(specs: readonly TaskOptionSpec[], raw: Record<string, unknown>, where: string): TaskOptions {
  const all = [COT_OPTION, ...specs];
  const out: TaskOptions = {};
  for (const key of Object.keys(raw)) {
    if (raw[key] === undefined) continue;
    if (!all.some((s) => s.name === key)) {
      throw new TaskOptionError(key, `${where}: unknown option ${JSON.stringify(key)} (known: ${all.map((s) => s.name).sort().join(', ')})`);
    }
  }
  for (const spec of all) {
    const v = Object.hasOwn(raw, spec.name) ? raw[spec.name] : undefined;
    if (v === undefined) {
      if (spec.required) throw new TaskOptionError(spec.name, `${where}: ${spec.name} is required (${spec.help})`);
      if (spec.default !== undefined) out[spec.name] = Array.isArray(spec.default) ? [...(spec.default as unknown[])] : spec.default;
      continue;
    }
    switch (spec.kind) {
      case 'int':
        out[spec.name] = parseInt_(spec, v, where);
        break;
      case 'list':
        out[spec.name] = parseList(spec, v, where);
        break;
      case 'bool':
        out[spec.name] = parseBool(spec, v, where);
        break;
      case 'string':
      case 'path':
        out[spec.name] = parseString(spec, v, where);
        break;
    }
  }
  return out;
}

/** `n` for generate: a non-negative integer. */
export function checkCount(n: number, where: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new PonderError('BAD_INPUT', `${where}: n must be a non-negative integer (got ${n})`);
  return n;
}
