/**
 * "Did you mean" for recipe keys: the known keys of the mapping at a field path, and the nearest one
 * to a misspelt key.
 *
 * The known keys come from the recipe schema itself (zod), walked along the path together with the
 * recipe's values: wrappers (optional, default, pipe) are looked through, a list leads to its item
 * schema, and a union of stage kinds to the option whose discriminator (`kind`) accepts the value the
 * recipe wrote, so a stage's suggestions are its own kind's keys. Nearness is the optimal-string-
 * alignment distance (insertions, deletions, substitutions and swaps of neighbours cost 1): a key is
 * suggested when it is at most 2 edits away and fewer edits than its length (so `n` is never
 * "corrected" to `x`).
 */
import type { z } from 'zod';

type Path = readonly (string | number)[];

/** Internal zod definition fields the walk reads (zod 4's `_zod.def`). */
interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
}

function defOf(s: z.ZodType): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'catch', 'readonly', 'nonoptional']);

/** The schemas a value may match (after its wrappers), a union picked by its discriminator when it can be. */
function candidates(s: z.ZodType, value: unknown): z.ZodType[] {
  let def = defOf(s);
  while (WRAPPERS.has(def.type) || def.type === 'pipe') {
    s = (def.type === 'pipe' ? def.in : def.innerType)!;
    def = defOf(s);
  }
  if (def.type !== 'union') return [s];
  const options = def.options ?? [];
  const disc = def.discriminator;
  if (disc && value && typeof value === 'object' && disc in value) {
    const picked = options.filter((o) => {
      const field = defOf(o).shape?.[disc];
      return field !== undefined && field.safeParse((value as Record<string, unknown>)[disc]).success;
    });
    if (picked.length > 0) return picked.flatMap((o) => candidates(o, value));
  }
  return options.flatMap((o) => candidates(o, value));
}

/** The keys the schema knows for the mapping at `path` of `root` (empty when it is not a mapping). */
export function knownKeysAt(schema: z.ZodType, root: unknown, path: Path): string[] {
  let schemas = [schema];
  let value = root;
  for (const seg of path) {
    const next: z.ZodType[] = [];
    for (const s of schemas.flatMap((x) => candidates(x, value))) {
      const def = defOf(s);
      if (def.type === 'object' && typeof seg === 'string' && def.shape?.[seg]) next.push(def.shape[seg]!);
      if (def.type === 'array' && typeof seg === 'number' && def.element) next.push(def.element);
    }
    schemas = next;
    value = value && typeof value === 'object' ? (value as Record<string | number, unknown>)[seg] : undefined;
  }
  const keys = new Set<string>();
  for (const s of schemas.flatMap((x) => candidates(x, value))) {
    const def = defOf(s);
    if (def.type === 'object') for (const k of Object.keys(def.shape ?? {})) keys.add(k);
  }
  return [...keys];
}

/** Optimal string alignment distance between a and b. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key nearest to `key` (at most 2 edits, fewer than its length), or undefined. Ties: the first in `known`. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const dist = editDistance(key.toLowerCase(), k.toLowerCase());
    if (dist <= 2 && dist < k.length && dist < bestDistance) {
      best = k;
      bestDistance = dist;
    }
  }
  return best;
}
