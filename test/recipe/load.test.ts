import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PonderError } from '../../src/errors.js';
import { loadRecipe, parseRecipe } from '../../src/recipe/load.js';
import { configParameterCount, planRecipe } from '../../src/recipe/plan.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * Recipe loading: every broken recipe in test/fixtures/recipes/ fails with ONE BAD_INPUT line of the
 * form `<file>:<line>: <field path>: <what is wrong>`, where <line> is the fixture's line marked
 * `# <- error`; valid recipes load with their defaults filled, resolve their paths against the
 * recipe's directory, and hash the same wherever they are loaded from.
 */
// Compiled to dist/test/recipe/, the fixtures stay in test/fixtures/ at the repository root.
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/recipes/', import.meta.url));
const RECIPES = fileURLToPath(new URL('../../../recipes/', import.meta.url));

/** The 1-based line marked `# <- error` in a fixture (1 for a fixture without one, e.g. the empty file). */
function markedLine(path: string): number {
  const lines = readFileSync(path, 'utf8').split('\n');
  const i = lines.findIndex((l) => /#\s*<- error\s*$/.test(l));
  return i < 0 ? 1 : i + 1;
}

function loadError(path: string, run: () => unknown = () => loadRecipe(path)): PonderError {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof PonderError, `expected a PonderError, got ${String(e)}`);
    return e;
  }
  assert.fail(`${path}: loaded without an error`);
}

/** [fixture, field path ('' when the error names none), pattern the rest of the message must match] */
const BROKEN: [string, string, RegExp][] = [
  ['unknown-key.yaml', 'stages[0].optimizer.lrate', /^unknown key$/],
  ['unknown-top-key.yaml', 'epochs', /^unknown key$/],
  ['wrong-type.yaml', 'stages[0].batch_size', /^must be a number \(got "four"\)$/],
  ['wrong-type-bool.yaml', 'stages[0].data.cot', /^must be true or false \(got "no"\)$/],
  ['negative-lr.yaml', 'stages[0].optimizer.lr', /^must be > 0 \(got -1\)$/],
  ['steps-not-number.yaml', 'stages[0].steps', /^must be a number \(got "20k"\)$/],
  ['steps-fraction.yaml', 'stages[0].steps', /^must be an integer \(got 2\.5\)$/],
  ['steps-zero.yaml', 'stages[0].steps', /^must be >= 1 \(got 0\)$/],
  ['missing-data-file.yaml', 'stages[0].data', /^no such file "data\/no-such-file\.jsonl" \(looked at .*test\/fixtures\/recipes\/data\/no-such-file\.jsonl; paths are relative to the recipe's directory\)$/],
  ['heads-not-divide.yaml', 'model.config.num_attention_heads', /^must divide hidden_size \(64\) \(got 6\)/],
  ['kv-heads-not-multiple.yaml', 'model.config.num_key_value_heads', /^num_attention_heads \(4\) must be a multiple of num_key_value_heads \(got 3\)$/],
  ['unknown-kind.yaml', 'stages[0].kind', /^unknown stage kind "ppo" \(known: pretrain, sft[^)]*\)$/],
  ['duplicate-stage-names.yaml', 'stages[1].name', /^duplicate stage name "sft" \(also stages\[0\]\.name\)$/],
  ['init-missing.yaml', 'model.init', /^no such directory "\.\/no-such-model" \(looked at .*no-such-model; paths are relative to the recipe's directory\)$/],
  ['missing-batch-size.yaml', 'stages[0].batch_size', /^required, but missing/],
  ['seq-len-too-long.yaml', 'stages[0].seq_len', /^must be <= the model's max_position_embeddings \(64\) \(got 128\)$/],
  ['yaml-syntax.yaml', '', /^YAML syntax error: Flow map .*end with a \}$/],
  ['yaml-duplicate-key.yaml', '', /^YAML syntax error: Map keys must be unique$/],
  ['empty.yaml', '', /^the recipe is empty/],
  ['grad-accum-zero.yaml', 'stages[0].grad_accum', /^must be >= 1 \(got 0\)$/],
  ['grad-accum-fraction.yaml', 'stages[0].grad_accum', /^must be an integer \(got 1\.5\)$/],
];

describe('loadRecipe: broken recipes fail with one line naming the file, line and field', () => {
  for (const [name, field, rest] of BROKEN) {
    it(name, () => {
      const path = join(FIXTURES, name);
      const e = loadError(path);
      assert.equal(e.code, 'BAD_INPUT', e.message);
      assert.ok(!e.message.includes('\n'), `one line: ${JSON.stringify(e.message)}`);
      const prefix = `${path}:${markedLine(path)}: ${field ? `${field}: ` : ''}`;
      assert.ok(e.message.startsWith(prefix), `expected ${JSON.stringify(prefix)}...\n     got ${JSON.stringify(e.message)}`);
      assert.match(e.message.slice(prefix.length), rest);
    });
  }

  it('an unknown key lists the other unknown keys in the same mapping', () => {
    const e = loadError('x.yaml', () => parseRecipe('model: {init: scratch, config: {hidden_size: 64, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 8, max_position_embeddings: 8, foo: 1, bar: 2}}\nstages: []\n', 'x.yaml'));
    assert.match(e.message, /^x\.yaml:1: model\.config\.foo: unknown key \(also: bar\)$/);
  });

  it('of several problems, the one earliest in the file is reported', () => {
    const text = readFileSync(join(FIXTURES, 'negative-lr.yaml'), 'utf8').replace('    steps: 20', '    steps: -3');
    const e = loadError('two.yaml', () => parseRecipe(text, join(FIXTURES, 'two.yaml')));
    assert.match(e.message, /:18: stages\[0\]\.steps: must be >= 1 \(got -3\)$/);
  });

  it('a recipe that is not a mapping, an unknown task, an empty stage list and a missing recipe file', () => {
    assert.match(loadError('', () => parseRecipe('- a\n- b\n', 'list.yaml')).message, /^list\.yaml:1: the recipe must be a mapping/);
    const base = readFileSync(join(FIXTURES, 'negative-lr.yaml'), 'utf8').replace('lr: -1', 'lr: 1.0e-3');
    const task = loadError('', () => parseRecipe(base.replace('task: arithmetic, n: 100', 'task: poetry, n: 100'), join(FIXTURES, 't.yaml')));
    assert.match(task.message, /t\.yaml:17: stages\[0\]\.data\.task: unknown task "poetry" \(known: arithmetic, countdown, jsonl, linear\)$/);
    const noStages = loadError('', () => parseRecipe('model: {init: scratch}\nstages: []\n', 's.yaml'));
    assert.match(noStages.message, /^s\.yaml:2: stages: must have at least 1 item \(got 0\)$/);
    const missing = loadError('', () => loadRecipe(join(FIXTURES, 'no-such-recipe.yaml')));
    assert.equal(missing.code, 'NOT_FOUND');
    assert.match(missing.message, /no-such-recipe\.yaml: no such recipe file$/);
  });

  it('scratch needs a config, and only scratch may have one', () => {
    const e = loadError('', () => parseRecipe('model:\n  init: scratch\nstages:\n  - {name: a, kind: sft, data: {task: arithmetic, n: 1}, steps: 1, batch_size: 1, seq_len: 8, optimizer: {lr: 1}}\n', 'nc.yaml'));
    assert.match(e.message, /^nc\.yaml:2: model\.init: init: scratch needs a model\.config/);
  });

  it('warmup longer than the stage is an error', () => {
    const text = readFileSync(join(FIXTURES, 'negative-lr.yaml'), 'utf8').replace('lr: -1', 'lr: 1.0e-3').replace('warmup: 2', 'warmup: 50');
    assert.match(loadError('', () => parseRecipe(text, 'w.yaml')).message, /^w\.yaml:23: stages\[0\]\.optimizer\.warmup: must be <= the stage's steps \(20\) \(got 50\)$/);
  });
});

describe('loadRecipe: valid recipes', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'ponder-recipe-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('the example recipes load, with defaults filled and a plan', () => {
    for (const name of ['tiny-arithmetic-sft.yaml', 'tiny-pretrain-sft.yaml']) {
      const { recipe, hash } = loadRecipe(join(RECIPES, name));
      assert.match(hash, /^[0-9a-f]{64}$/);
      assert.equal(recipe.model.source, 'scratch');
      assert.equal(recipe.model.tokenizer, 'bytes');
      assert.equal(recipe.model.config.vocab_size, 263);
      const plan = planRecipe(recipe);
      assert.ok(plan.total_steps > 0 && plan.model.parameters > 0, name);
    }
  });

  it('fills defaults: eval.every, eval digits/cot from the stage data, optimizer settings, output', () => {
    const { recipe } = loadRecipe(join(FIXTURES, 'ok-file-data.yaml'), { cwd: root });
    const text = readFileSync(join(FIXTURES, 'negative-lr.yaml'), 'utf8')
      .replace('lr: -1', 'lr: 1.0e-3')
      .replace('output: runs/fixture\n', '')
      .replace('{task: arithmetic, n: 100}', '{task: arithmetic, n: 100, digits: 3, cot: true}')
      .replace(', every: 10}', '}');
    const r2 = parseRecipe(text, join(root, 'defaults.yaml'), { cwd: root }).recipe;
    const s = r2.stages[0]!;
    assert.deepEqual(s.eval, { task: 'arithmetic', n: 20, every: 20, digits: 3, cot: true });
    assert.deepEqual(s.optimizer, { lr: 1e-3, warmup: 2, schedule: 'cosine', weight_decay: 0, grad_clip: 1, beta1: 0.9, beta2: 0.95, eps: 1e-8 });
    assert.equal(r2.output, join(root, 'runs', 'defaults'));
    assert.equal(r2.checkpoint_every, 0);
    assert.equal(r2.model.config.num_key_value_heads, 2);
    assert.equal(r2.model.config.head_dim, 16);
    assert.equal(r2.model.config.architecture, 'LlamaForCausalLM');
    assert.equal(recipe.output, join(root, 'runs', 'fixture'));
  });

  it('eval.every larger than steps is fine (one evaluation at the end)', () => {
    const { recipe } = loadRecipe(join(FIXTURES, 'ok-file-data.yaml'));
    assert.equal(recipe.stages[0]!.eval!.every, 1000);
    assert.deepEqual(planRecipe(recipe).stages[0]!.eval_steps, [20]);
  });

  it("data paths are relative to the recipe's directory, whatever the working directory", () => {
    const { recipe } = loadRecipe(join(FIXTURES, 'ok-file-data.yaml'), { cwd: root });
    assert.deepEqual(recipe.stages[0]!.data, { type: 'file', path: join(FIXTURES, 'data', 'tiny.jsonl'), written: 'data/tiny.jsonl' });
  });

  it('the hash ignores where the recipe lives and changes with what it says', () => {
    const text = readFileSync(join(FIXTURES, 'ok-file-data.yaml'), 'utf8');
    const a = loadRecipe(join(FIXTURES, 'ok-file-data.yaml')).hash;
    mkdirSync(join(root, 'copy', 'data'), { recursive: true });
    writeFileSync(join(root, 'copy', 'r.yaml'), '# another comment\n' + text.replace('seed: 7', 'seed:    7'));
    writeFileSync(join(root, 'copy', 'data', 'tiny.jsonl'), '{}\n');
    assert.equal(parseRecipe(text, join(root, 'copy', 'ok-file-data.yaml')).hash, a, 'same text elsewhere');
    assert.equal(loadRecipe(join(root, 'copy', 'r.yaml'), { cwd: '/' }).hash, parseRecipe(text, join(root, 'copy', 'r.yaml')).hash, 'comments, spacing, cwd');
    assert.notEqual(parseRecipe(text.replace('seed: 7', 'seed: 8'), join(FIXTURES, 'x.yaml')).hash, parseRecipe(text, join(FIXTURES, 'x.yaml')).hash);
  });

  it('grad_accum defaults to 1 and leaves the hash of recipes without it unchanged; other values change it', () => {
    const text = readFileSync(join(FIXTURES, 'ok-file-data.yaml'), 'utf8');
    const path = join(FIXTURES, 'ok-file-data.yaml');
    const base = parseRecipe(text, path);
    assert.equal(base.recipe.stages[0]!.grad_accum, 1);
    const withAccum = (n: number) => parseRecipe(text.replace(/^( +)batch_size: (\d+)$/m, `$1batch_size: $2\n$1grad_accum: ${n}`), path);
    assert.equal(withAccum(1).hash, base.hash, 'an explicit grad_accum: 1 is the default');
    const four = withAccum(4);
    assert.equal(four.recipe.stages[0]!.grad_accum, 4);
    assert.notEqual(four.hash, base.hash);
    const plan = planRecipe(four.recipe).stages[0]!;
    assert.equal(plan.effective_batch, 4 * plan.batch_size);
    assert.equal(plan.tokens_per_step, 4 * plan.batch_size * plan.seq_len);
    assert.equal(plan.tokens, plan.tokens_per_step * plan.steps);
  });

  it('ops (arithmetic operations) in data and eval: eval inherits the data\'s, absent ops keep the hash, a bad op names its field', () => {
    const text = readFileSync(join(FIXTURES, 'negative-lr.yaml'), 'utf8').replace('lr: -1', 'lr: 1.0e-3');
    const path = join(root, 'ops.yaml');
    const base = parseRecipe(text, path);
    assert.equal(base.recipe.stages[0]!.eval!.ops, undefined);
    assert.equal('ops' in base.recipe.stages[0]!.eval!, false, 'no ops key when none is written (hash unchanged)');
    const withOps = parseRecipe(text.replace('{task: arithmetic, n: 100}', "{task: arithmetic, n: 100, ops: ['+', '-']}"), path);
    assert.deepEqual((withOps.recipe.stages[0]!.data as { ops?: string[] }).ops, ['+', '-']);
    assert.deepEqual(withOps.recipe.stages[0]!.eval!.ops, ['+', '-']);
    assert.notEqual(withOps.hash, base.hash);
    const bad = loadError(path, () => parseRecipe(text.replace('{task: arithmetic, n: 100}', "{task: arithmetic, n: 100, ops: ['+', '/']}"), path));
    assert.match(bad.message, /stages\[0\]\.data\.ops\[1\]|stages\.0\.data\.ops/);
  });

  it('model.init may name an HF directory (relative to the recipe); its config.json is the config', () => {
    const config = tinyConfig('qwen2');
    writeHfModel(join(root, 'hf-tiny'), config, randomWeights(config, 1));
    const text = 'model: {init: hf-tiny}\nstages:\n  - {name: a, kind: sft, data: {task: arithmetic, n: 10}, steps: 5, batch_size: 2, seq_len: 16, optimizer: {lr: 1.0e-4}}\n';
    const { recipe } = parseRecipe(text, join(root, 'ft.yaml'));
    assert.equal(recipe.model.source, 'hf');
    assert.equal(recipe.model.dir, join(root, 'hf-tiny'));
    assert.equal(recipe.model.tokenizer, 'model');
    assert.equal(recipe.model.config.hidden_size, config.hidden_size);
    // a config block beside a directory init is refused, on the config key's line
    const e = loadError('', () => parseRecipe(text.replace('{init: hf-tiny}', '\n  init: hf-tiny\n  config: {hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 8, max_position_embeddings: 8}'), join(root, 'ft2.yaml')));
    assert.match(e.message, /ft2\.yaml:3: model\.config: only allowed with init: scratch/);
    // a directory that exists but holds no model
    mkdirSync(join(root, 'empty-dir'));
    const e2 = loadError('', () => parseRecipe(text.replace('hf-tiny', './empty-dir'), join(root, 'ft3.yaml')));
    assert.match(e2.message, /ft3\.yaml:1: model\.init: "\.\/empty-dir" is not scratch, a ponder model directory, an HF directory or a model name under models\//);
  });
});

describe('planRecipe', () => {
  it('counts steps, tokens and parameters', () => {
    const { recipe } = loadRecipe(join(RECIPES, 'tiny-pretrain-sft.yaml'));
    const plan = planRecipe(recipe);
    assert.deepEqual(
      plan.stages.map((s) => [s.name, s.kind, s.first_step, s.steps, s.tokens_per_step]),
      [
        ['pretrain', 'pretrain', 0, 400, 32 * 96],
        ['sft', 'sft', 400, 200, 16 * 96],
      ],
    );
    assert.equal(plan.total_steps, 600);
    assert.equal(plan.total_tokens, 400 * 32 * 96 + 200 * 16 * 96);
    assert.deepEqual(plan.stages[1]!.eval_steps, [100, 200]);
    assert.equal(plan.stages[1]!.optimizer.schedule, 'linear');
    // Qwen2, hidden 128, 4 layers, 4 heads of 32 (2 KV), intermediate 352, vocab 263, tied embeddings
    const h = 128, kv = 2 * 32, inter = 352, v = 263;
    const perLayer = 2 * h + (h * h + h) + 2 * (kv * h + kv) + h * h + 3 * h * inter;
    assert.equal(plan.model.parameters, v * h + 4 * perLayer + h);
    assert.equal(configParameterCount(recipe.model.config), plan.model.parameters);
  });
});
