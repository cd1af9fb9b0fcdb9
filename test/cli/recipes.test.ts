import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyRecipe } from '../../src/recipe/copy.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder recipes ls` lists every bundled recipe with its first comment line; `ponder recipes cp`
 * copies one so that it loads to the same data elsewhere: relative paths rewritten to the originals,
 * or (--with-data) the data copied beside it, which keeps the hash. Nothing is overwritten.
 */
const RECIPES = fileURLToPath(new URL('../../../recipes/', import.meta.url));

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ponder-recipes-'));
}

/** Every stage's data file (absolute), or its task. */
const dataOf = (file: string) => loadRecipe(file).recipe.stages.map((s) => (s.data.type === 'file' ? s.data.path : s.data.task));

describe('ponder recipes ls', () => {
  it('lists each bundled recipe with the first line of its opening comment', () => {
    const r = runPonder(['recipes', 'ls']);
    assert.equal(r.code, 0, r.stderr);
    const files = readdirSync(RECIPES).filter((f) => f.endsWith('.yaml')).sort();
    assert.ok(files.length > 0);
    for (const f of files) {
      const first = readFileSync(join(RECIPES, f), 'utf8').split('\n')[0]!.replace(/^#\s*/, '');
      const name = f.replace(/\.yaml$/, '');
      assert.ok(r.stdout.split('\n').some((l) => l.startsWith(`${name} `) && l.trimEnd().endsWith(first.trimEnd())), `${name}: ${first}\n${r.stdout}`);
    }
    const json = JSON.parse(runPonder(['recipes', 'ls', '--json']).stdout) as { name: string; file: string; summary: string }[];
    assert.deepEqual(json.map((j) => j.name), files.map((f) => f.replace(/\.yaml$/, '')));
  });
});

describe('ponder recipes cp', () => {
  it('rewrites relative data paths to the originals: the copy loads the same data', () => {
    const dir = tempDir();
    try {
      const r = runPonder(['recipes', 'cp', 'exaone-style', dir]);
      assert.equal(r.code, 0, r.stderr);
      const copy = join(dir, 'exaone-style.yaml');
      assert.match(r.stdout, /stages\[0\]\.data: \/.*recipes\/data\/default-chat\.jsonl/);
      assert.deepEqual(dataOf(copy), dataOf(join(RECIPES, 'exaone-style.yaml')));
      // comments and layout are kept: only the path scalars changed
      const before = readFileSync(join(RECIPES, 'exaone-style.yaml'), 'utf8').split('\n');
      const after = readFileSync(copy, 'utf8').split('\n');
      assert.equal(after.length, before.length);
      assert.equal(after.filter((l, i) => l !== before[i]).length, 2);
      // not overwritten a second time
      const again = runPonder(['recipes', 'cp', 'exaone-style', dir]);
      assert.equal(again.code, 1);
      assert.match(again.stderrLines[0]!, /already exists \(not overwritten\)$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--with-data copies the data beside it and keeps the hash', () => {
    const dir = tempDir();
    try {
      const r = runPonder(['recipes', 'cp', 'exaone-style.yaml', join(dir, 'mine.yaml'), '--with-data']);
      assert.equal(r.code, 0, r.stderr);
      const copy = join(dir, 'mine.yaml');
      assert.ok(existsSync(join(dir, 'data', 'arithmetic-pairs.jsonl')));
      assert.deepEqual(readFileSync(join(dir, 'data', 'arithmetic-pairs.jsonl')), readFileSync(join(RECIPES, 'data', 'arithmetic-pairs.jsonl')));
      assert.equal(readFileSync(copy, 'utf8'), readFileSync(join(RECIPES, 'exaone-style.yaml'), 'utf8'));
      const orig = loadRecipe(join(RECIPES, 'exaone-style.yaml'), { cwd: dir });
      const mine = loadRecipe(copy, { cwd: dir });
      assert.equal(mine.hash, orig.hash);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('task path options (jsonl data) are found, outside files go to data/, and quoting survives', () => {
    const dir = tempDir();
    try {
      mkdirSync(join(dir, 'src', 'sub'), { recursive: true });
      mkdirSync(join(dir, 'out'));
      writeFileSync(join(dir, 'qa set.jsonl'), '{"question": "1+1?", "answer": 2}\n{"question": "2+2?", "answer": 4}\n');
      const sft = readFileSync(join(RECIPES, 'tiny-arithmetic-sft.yaml'), 'utf8').replace(/data: \{task: arithmetic[^}]*\}/, 'data: {task: jsonl, n: 2, data: "../../qa set.jsonl"}');
      assert.ok(sft.includes('task: jsonl'));
      const src = join(dir, 'src', 'sub', 'r.yaml');
      writeFileSync(src, sft);
      const plain = copyRecipe(src, join(dir, 'out', 'a.yaml'));
      assert.deepEqual(plain.rewritten, [['stages[0].data.data', join(dir, 'qa set.jsonl')]]);
      const loadedA = loadRecipe(join(dir, 'out', 'a.yaml')).recipe.stages[0]!.data;
      assert.equal((loadedA as { data?: unknown }).data, join(dir, 'qa set.jsonl'));
      const withData = copyRecipe(src, join(dir, 'out', 'b.yaml'), { withData: true });
      assert.deepEqual(withData.copied, [[join(dir, 'qa set.jsonl'), join(dir, 'out', 'data', 'qa set.jsonl')]]);
      const loadedB = loadRecipe(join(dir, 'out', 'b.yaml')).recipe.stages[0]!.data;
      assert.equal((loadedB as { data?: unknown }).data, join(dir, 'out', 'data', 'qa set.jsonl'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown name: one line and exit 1', () => {
    const r = runPonder(['recipes', 'cp', 'no-such-recipe', join(tmpdir(), 'x.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderrLines[0]!, /no bundled recipe or file named "no-such-recipe"/);
  });
});
