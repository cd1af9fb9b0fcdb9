import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PonderError } from '../../src/errors.js';
import { loadRecipe, parseRecipe } from '../../src/recipe/load.js';
import { isOverrideArg, parseOverrides } from '../../src/recipe/overrides.js';

/**
 * `key=value` overrides: values parse as YAML, they are applied to the document before validation
 * (so a bad value is named like a bad line, "(from the command line)" in place of the line), and the
 * recipe's hash is the hash of the recipe with the value written in the file.
 */
const RECIPES = fileURLToPath(new URL('../../../recipes/', import.meta.url));
const SFT = `${RECIPES}tiny-arithmetic-sft.yaml`;

function loadError(run: () => unknown): PonderError {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof PonderError, `expected a PonderError, got ${String(e)}`);
    return e;
  }
  assert.fail('loaded without an error');
}

describe('parseOverrides', () => {
  it('parses paths (dots or brackets) and YAML values', () => {
    const [a, b, c, d, e, f] = parseOverrides(['stages.0.optimizer.lr=1e-4', 'stages[1].eval={task: arithmetic, n: 20}', 'output=runs/short', 'stages.0.data.cot=true', 'seed=3', 'stages.0.data.ops=[a, b]']);
    assert.deepEqual(a!.path, ['stages', 0, 'optimizer', 'lr']);
    assert.equal(a!.value, 1e-4);
    assert.deepEqual(b!.path, ['stages', 1, 'eval']);
    assert.deepEqual(b!.value, { task: 'arithmetic', n: 20 });
    assert.equal(c!.value, 'runs/short');
    assert.equal(d!.value, true);
    assert.equal(e!.value, 3);
    assert.deepEqual(f!.value, ['a', 'b']);
  });

  it('tells overrides from file names', () => {
    assert.ok(isOverrideArg('seed=3'));
    assert.ok(isOverrideArg('stages[0].steps=3'));
    assert.ok(!isOverrideArg('recipe.yaml'));
    assert.ok(!isOverrideArg('=3'));
  });

  it('a malformed key or value is one usage line', () => {
    for (const bad of ['stages..steps=1', 'seed', 'stages.0.eval={task: arithmetic']) {
      const e = loadError(() => parseOverrides([bad]));
      assert.equal(e.code, 'USAGE');
      assert.ok(e.message.includes(JSON.stringify(bad)), e.message);
      assert.ok(!e.message.includes('\n'));
    }
  });
});

describe('loadRecipe with overrides', () => {
  const text = readFileSync(SFT, 'utf8');

  it('an override gives the recipe (and the hash) of the file with the value written in', () => {
    const plain = loadRecipe(SFT);
    const over = loadRecipe(SFT, { overrides: parseOverrides(['stages.0.steps=50', 'seed=3']) });
    assert.equal(over.recipe.stages[0]!.steps, 50);
    assert.equal(over.recipe.seed, 3);
    assert.notEqual(over.hash, plain.hash);
    assert.match(text, /^ {4}steps: 600 /m);
    assert.match(text, /^seed: 7$/m);
    const edited = parseRecipe(text.replace(/^( {4}steps:) 600/m, '$1 50').replace(/^seed: 7$/m, 'seed: 3'), SFT);
    assert.equal(over.hash, edited.hash);
    assert.deepEqual(over.recipe.overrides, ['stages.0.steps=50', 'seed=3']);
    assert.equal(plain.recipe.overrides, undefined);
  });

  it('mapping values and new keys: an eval given on the command line, nested keys created', () => {
    const over = loadRecipe(SFT, { overrides: parseOverrides(['stages.0.eval={task: arithmetic, n: 20}', 'stages.0.optimizer.lr=1e-4']) });
    const ev = over.recipe.stages[0]!.eval!;
    assert.equal(ev.n, 20);
    assert.equal(ev.every, 600); // the file's `every: 200` went with the replaced mapping: the default
    assert.equal(over.recipe.stages[0]!.optimizer.lr, 1e-4);
  });

  it('a later override wins; output is relative to the working directory', () => {
    const over = loadRecipe(SFT, { cwd: '/tmp/work', overrides: parseOverrides(['output=runs/a', 'output=runs/short']) });
    assert.equal(over.recipe.output, '/tmp/work/runs/short');
  });

  it('a bad value names the field and says it came from the command line', () => {
    const cases: [string, RegExp][] = [
      ['stages.0.steps=0', /: stages\[0\]\.steps: must be >= 1 \(got 0\)$/],
      ['seed=x', /: seed: must be a number \(got "x"\)$/],
      ['stages.0.optimizer.lrate=1', /: stages\[0\]\.optimizer\.lrate: unknown key/],
      ['stages.0.eval={task: arithmetic, n: 0}', /: stages\[0\]\.eval\.n: must be >= 1 \(got 0\)$/],
      ['checkpoint_every=-1', /: checkpoint_every: must be >= 0 \(got -1\)$/],
    ];
    for (const [arg, rest] of cases) {
      const e = loadError(() => loadRecipe(SFT, { overrides: parseOverrides([arg]) }));
      assert.equal(e.code, 'BAD_INPUT');
      assert.ok(e.message.startsWith(`${SFT} (from the command line): `), e.message);
      assert.match(e.message, rest);
    }
  });

  it('a bad value in the file still names its line when other fields are overridden', () => {
    const e = loadError(() => parseRecipe(text.replace('batch_size: 16', 'batch_size: -1'), SFT, { overrides: parseOverrides(['seed=3']) }));
    const line = text.split('\n').findIndex((l) => l.includes('batch_size: 16')) + 1;
    assert.ok(e.message.startsWith(`${SFT}:${line}: stages[0].batch_size: `), e.message);
  });

  it('an override cannot invent a stage or set a key inside a value', () => {
    let e = loadError(() => loadRecipe(SFT, { overrides: parseOverrides(['stages.3.steps=1']) }));
    assert.match(e.message, /override "stages\.3\.steps=1": stages\[3\] does not exist \(stages has 1 item\)$/);
    e = loadError(() => loadRecipe(SFT, { overrides: parseOverrides(['seed.x=1']) }));
    assert.match(e.message, /override "seed\.x=1": seed is not a mapping or a list$/);
    e = loadError(() => loadRecipe(SFT, { overrides: parseOverrides(['stages.name=x']) }));
    assert.match(e.message, /stages is a list: use an index/);
  });
});
