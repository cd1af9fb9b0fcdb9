/**
 * Task options in recipes: `data: {task, n, cot, ...options}` and `eval: {task, n, ...options}` accept
 * every registered task, validate through the task's parseOptions (one line naming the file, line and
 * field), and generate SFT examples for every task.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStageExamples } from '../../src/data/batches.js';
import { PonderError } from '../../src/errors.js';
import { parseRecipe, taskOptionsOf, type TaskDataSpec } from '../../src/recipe/load.js';
import { taskByName } from '../../src/tasks/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ponder-recipe-tasks-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'problems.jsonl'), '{"question": "What is 6 * 7?", "answer": 42, "solution": "6 * 7 = 42"}\n{"question": "What is 1,000 + 1?", "answer": "1,001"}\n');

/** A recipe whose one stage has the given data and eval mappings (flow YAML); data on line 5, eval on line 6. */
function recipe(data: string, ev?: string): string {
  return [
    'model:',
    '  init: scratch',
    '  config: {hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128, max_position_embeddings: 64}',
    'stages:',
    `  - {name: a, kind: sft, steps: 10, batch_size: 2, seq_len: 48, optimizer: {lr: 1.0e-3}, data: ${data}${ev ? `,\n     eval: ${ev}` : ''}}`,
    '',
  ].join('\n');
}

function loadError(text: string): PonderError {
  try {
    parseRecipe(text, join(dir, 'r.yaml'));
  } catch (e) {
    assert.ok(e instanceof PonderError, String(e));
    assert.ok(!e.message.includes('\n'), e.message);
    return e;
  }
  assert.fail('expected the recipe to fail');
}

describe('recipes: task data and eval options', () => {
  it('accepts every task with its options; eval inherits the stage data options of the same task', () => {
    const r = parseRecipe(recipe('{task: countdown, n: 50, numbers: 4, cot: true}', '{task: countdown, n: 5, max_target: 100}'), join(dir, 'r.yaml')).recipe;
    const s = r.stages[0]!;
    assert.deepEqual(s.data, { type: 'task', task: 'countdown', n: 50, cot: true, numbers: 4 });
    assert.deepEqual(s.eval, { task: 'countdown', n: 5, every: 10, cot: true, numbers: 4, max_target: 100 });
    assert.deepEqual(taskOptionsOf(s.eval!), { cot: true, numbers: 4, max_target: 100 });
    const lin = parseRecipe(recipe('{task: linear, n: 5, coef: "3"}', '{task: arithmetic, n: 5, ops: "+,-"}'), join(dir, 'r.yaml')).recipe.stages[0]!;
    assert.deepEqual(lin.data, { type: 'task', task: 'linear', n: 5, cot: false, coef: 3 });
    assert.deepEqual(lin.eval, { task: 'arithmetic', n: 5, every: 10, cot: false, ops: ['+', '-'] }, 'another task inherits nothing');
  });

  it('jsonl data paths are relative to the recipe directory; the hash sees them as written', () => {
    const text = recipe('{task: jsonl, n: 4, data: problems.jsonl, cot: true}');
    const a = parseRecipe(text, join(dir, 'r.yaml'));
    assert.equal((a.recipe.stages[0]!.data as TaskDataSpec).data, join(dir, 'problems.jsonl'));
    const elsewhere = mkdtempSync(join(tmpdir(), 'ponder-recipe-tasks-b-'));
    try {
      writeFileSync(join(elsewhere, 'problems.jsonl'), 'x');
      assert.equal(parseRecipe(text, join(elsewhere, 'r.yaml')).hash, a.hash);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
    const e = loadError(recipe('{task: jsonl, n: 4, data: nope.jsonl}'));
    assert.match(e.message, /r\.yaml:5: stages\[0\]\.data\.data: no such file "nope\.jsonl"/);
  });

  it('a bad option names the recipe field and line, with the task\'s own message', () => {
    assert.match(loadError(recipe('{task: arithmetic, n: 5, digits: 12}')).message, /r\.yaml:5: stages\[0\]\.data\.digits: arithmetic: digits must be an integer from 1 to 9 \(got 12\)$/);
    assert.match(loadError(recipe('{task: arithmetic, n: 5}', '{task: countdown, n: 5, digits: 2}')).message, /r\.yaml:6: stages\[0\]\.eval\.digits: unknown key \(task, n, every, and countdown's options: cot, max_number, max_target, numbers\)$/);
    assert.match(loadError(recipe('{task: linear, n: 5, range: 3, coeff: 2}')).message, /r\.yaml:5: stages\[0\]\.data\.coeff: unknown key \(did you mean coef\?\) \(task, n, and linear's options: coef, cot, negative, range\)$/);
    assert.match(loadError(recipe('{task: jsonl, n: 5}')).message, /r\.yaml:5: stages\[0\]\.data: jsonl: data is required/);
    assert.match(loadError(recipe("{task: arithmetic, n: 5, ops: ['+', '/']}")).message, /r\.yaml:5: stages\[0\]\.data\.ops\[1\]: arithmetic: ops must be/);
    assert.match(loadError(recipe('{task: arithmetic, n: 5, cot: maybe}')).message, /r\.yaml:5: stages\[0\]\.data\.cot: must be true or false/);
  });

  it('loadStageExamples makes SFT examples from every task: prompt as the user turn, target as the assistant turn', () => {
    for (const [task, opts] of [['arithmetic', {}], ['countdown', { numbers: 3 }], ['linear', {}], ['jsonl', { data: join(dir, 'problems.jsonl') }]] as const) {
      for (const cot of [false, true]) {
        const spec = { type: 'task', task, n: 6, cot, ...opts } as TaskDataSpec;
        const exs = loadStageExamples(spec, 'sft', 11);
        const problems = taskByName(task).generate(6, 11, { cot, ...opts });
        assert.equal(exs.length, 6);
        exs.forEach((ex, i) => {
          assert.equal(ex.kind, 'sft');
          const msgs = (ex as { messages: { role: string; content: string }[] }).messages;
          assert.deepEqual(msgs, [
            { role: 'user', content: problems[i]!.prompt },
            { role: 'assistant', content: taskByName(task).target(problems[i]!, { cot }) },
          ]);
          assert.ok(taskByName(task).verify(problems[i]!, taskByName(task).extractAnswer(msgs[1]!.content)), `${task}: ${msgs[1]!.content}`);
        });
      }
    }
  });
});
