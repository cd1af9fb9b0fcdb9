import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { arithmeticTask } from '../../src/tasks/arithmetic.js';
import { countdownTask } from '../../src/tasks/countdown.js';
import { formatTaskList, knownTaskNames, taskByName } from '../../src/tasks/index.js';
import { jsonlTask } from '../../src/tasks/jsonl.js';
import { linearTask } from '../../src/tasks/linear.js';

function throwsBadInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message));
}

describe('task registry', () => {
  it('finds every task by its name and names the known tasks otherwise', () => {
    assert.deepEqual(knownTaskNames(), ['arithmetic', 'countdown', 'jsonl', 'linear']);
    assert.equal(taskByName('arithmetic'), arithmeticTask);
    assert.equal(taskByName('countdown'), countdownTask);
    assert.equal(taskByName('jsonl'), jsonlTask);
    assert.equal(taskByName('linear'), linearTask);
    throwsBadInput(() => taskByName('algebra'), /unknown task "algebra" \(known tasks: arithmetic, countdown, jsonl, linear\)/);
    throwsBadInput(() => taskByName('toString'), /unknown task/);
  });

  it('every task describes itself and its options, and accepts cot', () => {
    for (const name of knownTaskNames()) {
      const t = taskByName(name);
      assert.equal(t.name, name);
      assert.ok(t.describe.length > 10 && !t.describe.includes('\n'), name);
      for (const o of t.options) {
        assert.ok(o.help.length > 0 && o.name !== 'cot', `${name}.${o.name}`);
        if (o.kind === 'int' && o.default !== undefined) assert.ok(Number.isInteger(o.default) && (o.min === undefined || (o.default as number) >= o.min) && (o.max === undefined || (o.default as number) <= o.max), `${name}.${o.name}`);
      }
      const raw = name === 'jsonl' ? { data: 'x.jsonl' } : {};
      assert.equal(t.parseOptions({ ...raw, cot: true }).cot, true, name);
      throwsBadInput(() => t.parseOptions({ ...raw, bogus: 1 }), new RegExp(`^${name}: unknown option "bogus" \\(known: [a-z_, ]*cot`));
    }
  });

  it('lists every task with its options for --help', () => {
    const lines = formatTaskList();
    for (const name of knownTaskNames()) {
      const at = lines.indexOf(`${name}: ${taskByName(name).describe}`);
      assert.ok(at >= 0, name);
      for (const o of taskByName(name).options) assert.ok(lines.some((l, i) => i > at && l.startsWith(`  ${o.name} (`)), `${name}.${o.name}`);
    }
    assert.ok(lines.includes('  digits (integer 1..9): largest operand size (default: 3 for + and -, 2 for *)'));
    assert.ok(lines.includes('  ops (list of + - *; default + - *): operations to draw from, e.g. "+,-" (default all: + - *)'));
    assert.ok(lines.some((l) => /^ {2}data \(path; required\)/.test(l)));
  });
});
