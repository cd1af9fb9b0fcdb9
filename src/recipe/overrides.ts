/**
 * Command-line overrides of a recipe: `ponder tune recipe.yaml key=value ...`.
 *
 * An override is `path=value`. The path is dotted keys with list indices as numbers
 * (`stages.0.optimizer.lr`; `stages[0].optimizer.lr` means the same); the value is parsed as one YAML
 * value, so `50` is a number, `true` a boolean, `{task: arithmetic, n: 20}` a mapping and `[a, b]` a
 * list, while anything else stays a string.
 *
 * Overrides are applied to the parsed YAML document before it is validated, so a bad value is
 * reported by the same checks as a bad line in the file, naming the field; the recipe's hash is
 * computed from the resolved recipe and so covers them. The loader asks `overriddenBy` whether a
 * failing field was written on the command line, to say so instead of quoting a line of the file.
 */
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { PonderError } from '../errors.js';

export interface RecipeOverride {
  /** the argument as typed */
  text: string;
  /** `stages[0].optimizer.lr` as segments: keys are strings, list indices numbers */
  path: (string | number)[];
  /** the value, parsed as YAML */
  value: unknown;
}

/** Is this command-line argument an override (`key=value`) rather than a file name? */
export function isOverrideArg(arg: string): boolean {
  return /^[A-Za-z_][\w.[\]-]*=/.test(arg);
}

/** `stages.0.lr` / `stages[0].lr` -> ['stages', 0, 'lr']; one PonderError('USAGE') line when malformed. */
function parsePath(key: string, text: string): (string | number)[] {
  const segs = key.replace(/\[(\d+)\]/g, '.$1').split('.');
  if (segs.some((s) => s === '' || /[[\]]/.test(s))) {
    throw new PonderError('USAGE', `override ${JSON.stringify(text)}: malformed key ${JSON.stringify(key)}`, 'write key=value with dotted keys, e.g. stages.0.steps=50');
  }
  return segs.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Parses `key=value` arguments. The value is one YAML value (scalar or flow collection). */
export function parseOverrides(args: readonly string[]): RecipeOverride[] {
  return args.map((text) => {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new PonderError('USAGE', `override ${JSON.stringify(text)}: expected key=value`, 'e.g. stages.0.steps=50 or output=runs/short');
    const path = parsePath(text.slice(0, eq), text);
    const source = text.slice(eq + 1);
    const doc = parseDocument(source, { prettyErrors: false });
    if (doc.errors.length > 0) {
      throw new PonderError('USAGE', `override ${JSON.stringify(text)}: the value is not valid YAML (${doc.errors[0]!.message.split('\n')[0]})`, 'quote the argument for the shell, e.g. \'stages.0.eval={task: arithmetic, n: 20}\'');
    }
    // an empty value means "empty" (null), as `key:` does in the file
    const value: unknown = source.trim() === '' ? null : doc.toJS();
    return { text, path, value };
  });
}

/**
 * Sets each override in the document (in order; a later one wins). Missing mapping keys are created;
 * a list index must name an existing item (an override changes a stage, it does not invent one), and
 * a key cannot be set inside a scalar.
 */
export function applyOverrides(doc: Document, overrides: readonly RecipeOverride[], file: string): void {
  for (const o of overrides) {
    let node: unknown = doc.contents;
    for (let i = 0; i < o.path.length - 1; i++) {
      const seg = o.path[i]!;
      const where = o.path.slice(0, i + 1);
      if (isSeq(node)) {
        if (typeof seg !== 'number') throw bad(o, file, `${fmt(o.path.slice(0, i))} is a list: use an index (e.g. ${fmt([...o.path.slice(0, i), 0])})`);
        if (seg >= node.items.length) throw bad(o, file, `${fmt(where)} does not exist (${fmt(o.path.slice(0, i))} has ${node.items.length} item${node.items.length === 1 ? '' : 's'})`);
        node = node.items[seg];
      } else if (isMap(node)) {
        let next: unknown = node.get(seg, true);
        if (next === undefined || next === null || (isScalar(next) && next.value === null)) {
          next = doc.createNode({});
          node.set(seg, next);
        }
        node = next;
      } else {
        throw bad(o, file, `${fmt(o.path.slice(0, i))} is not a mapping or a list`);
      }
    }
    const last = o.path[o.path.length - 1]!;
    const parentPath = o.path.slice(0, -1);
    if (isSeq(node)) {
      if (typeof last !== 'number') throw bad(o, file, `${fmt(parentPath)} is a list: use an index`);
      if (last >= node.items.length) throw bad(o, file, `${fmt(o.path)} does not exist (${fmt(parentPath)} has ${node.items.length} item${node.items.length === 1 ? '' : 's'})`);
      node.set(last, doc.createNode(o.value));
    } else if (isMap(node)) {
      node.set(last, doc.createNode(o.value));
    } else if (parentPath.length === 0 && (node === null || node === undefined)) {
      // an empty recipe file: the overrides make the whole document
      doc.contents = doc.createNode({ [String(last)]: o.value }) as typeof doc.contents;
    } else {
      throw bad(o, file, `${fmt(parentPath)} is not a mapping or a list`);
    }
  }
}

/**
 * Was the field at `path` (or a mapping above it) written by an override? Returns that override. With
 * `atKey` (a problem with the key itself, such as an unknown key) an override that wrote below the
 * key counts too: it created the key.
 */
export function overriddenBy(overrides: readonly RecipeOverride[], path: readonly (string | number)[], atKey = false): RecipeOverride | undefined {
  const startsWith = (long: readonly (string | number)[], short: readonly (string | number)[]) => short.length <= long.length && short.every((s, i) => String(s) === String(long[i]));
  let found: RecipeOverride | undefined;
  for (const o of overrides) if (startsWith(path, o.path) || (atKey && startsWith(o.path, path))) found = o;
  return found;
}

function fmt(path: readonly (string | number)[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s === '' ? '(top level)' : s;
}

function bad(o: RecipeOverride, file: string, message: string): PonderError {
  return new PonderError('BAD_INPUT', `${file} (from the command line): override ${JSON.stringify(o.text)}: ${message}`);
}
