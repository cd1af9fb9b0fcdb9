import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PonderError } from '../../src/errors.js';
import { editDistance, knownKeysAt, nearestKey } from '../../src/recipe/did-you-mean.js';
import { parseRecipe } from '../../src/recipe/load.js';
import { RecipeSchema } from '../../src/recipe/schema.js';

/**
 * Misspelt recipe keys: the error names the key, its line and the known key it is near ("did you
 * mean"), at every level (top, model, a stage of each kind, optimizer, task options); a required key
 * that is missing because it is misspelt is reported as the misspelling, not as "required".
 */
const SFT = fileURLToPath(new URL('../../../recipes/tiny-arithmetic-sft.yaml', import.meta.url));
const text = readFileSync(SFT, 'utf8');

function errorOf(recipeText: string): PonderError {
  try {
    parseRecipe(recipeText, SFT);
  } catch (e) {
    assert.ok(e instanceof PonderError, String(e));
    return e;
  }
  assert.fail('loaded without an error');
}

/** The 1-based line of the first line of `t` containing `needle`. */
const lineOf = (t: string, needle: string) => t.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('editDistance / nearestKey', () => {
  it('counts insertions, deletions, substitutions and neighbour swaps as one edit', () => {
    assert.equal(editDistance('stages', 'stages'), 0);
    assert.equal(editDistance('stagess', 'stages'), 1);
    assert.equal(editDistance('stpes', 'steps'), 1);
    assert.equal(editDistance('lrate', 'lr'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  it('suggests within 2 edits, fewer than the key has characters', () => {
    assert.equal(nearestKey('stagess', ['model', 'stages', 'seed']), 'stages');
    assert.equal(nearestKey('lrate', ['lr', 'warmup']), undefined);
    assert.equal(nearestKey('x', ['n']), undefined);
    assert.equal(nearestKey('Seed', ['seed']), 'seed');
  });
});

describe('knownKeysAt', () => {
  it('walks the schema along the path, picking a stage kind by its kind', () => {
    const raw = { stages: [{ kind: 'sft' }, { kind: 'grpo' }] };
    assert.ok(knownKeysAt(RecipeSchema, raw, []).includes('stages'));
    assert.ok(knownKeysAt(RecipeSchema, raw, ['model']).includes('init'));
    assert.ok(knownKeysAt(RecipeSchema, raw, ['stages', 0, 'optimizer']).includes('lr'));
    assert.ok(knownKeysAt(RecipeSchema, raw, ['stages', 0]).includes('seq_len'));
    assert.ok(!knownKeysAt(RecipeSchema, raw, ['stages', 0]).includes('group_size'));
    assert.ok(knownKeysAt(RecipeSchema, raw, ['stages', 1]).includes('group_size'));
    assert.deepEqual(knownKeysAt(RecipeSchema, raw, ['seed']), []);
  });
});

describe('loadRecipe: misspelt keys', () => {
  const cases: [string, string, string, RegExp][] = [
    // [what the file says, misspelt as, field path, message]
    ['seed: 7', 'seeed: 7', 'seeed', /^unknown key \(did you mean seed\?\)$/],
    ['  init: scratch', '  inti: scratch', 'model.inti', /^unknown key \(did you mean init\?\)$/],
    ['    steps: 600', '    stpes: 600', 'stages[0].stpes', /^unknown key \(did you mean steps\?\)$/],
    ['lr: 3.0e-3', 'lrr: 3.0e-3', 'stages[0].optimizer.lrr', /^unknown key \(did you mean lr\?\)$/],
    ['digits: 1', 'digts: 1', 'stages[0].data.digts', /^unknown key \(did you mean digits\?\) \(task, n, and arithmetic's options: /],
    ['n: 200, every: 200', 'n: 200, evry: 200', 'stages[0].eval.evry', /^unknown key \(did you mean every\?\) \(task, n, every, and arithmetic's options: /],
  ];
  for (const [from, to, field, message] of cases) {
    it(`${to.trim()} -> ${field}`, () => {
      assert.ok(text.includes(from), from);
      const broken = text.replace(from, to);
      const e = errorOf(broken);
      const prefix = `${SFT}:${lineOf(broken, to)}: ${field}: `;
      assert.ok(e.message.startsWith(prefix), `expected ${prefix}...\n     got ${e.message}`);
      assert.match(e.message.slice(prefix.length), message);
    });
  }

  it('a required key missing because it is misspelt is reported as the misspelling', () => {
    for (const [from, to, field, near] of [
      ['stages:', 'stagess:', 'stagess', 'stages'],
      ['    optimizer:', '    optimiser:', 'stages[0].optimiser', 'optimizer'],
      ['    kind: sft', '    knid: sft', 'stages[0].knid', 'kind'],
    ] as const) {
      const broken = text.replace(from, to);
      const e = errorOf(broken);
      assert.equal(e.message, `${SFT}:${lineOf(broken, to)}: ${field}: unknown key (did you mean ${near}?)`);
    }
  });

  it('a key far from every known key gets no suggestion', () => {
    const broken = text.replace('seed: 7', 'epochs: 7');
    assert.equal(errorOf(broken).message, `${SFT}:${lineOf(broken, 'epochs')}: epochs: unknown key`);
  });
});
