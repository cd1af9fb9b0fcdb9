import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessages } from '../../src/data/prompt.js';
import { evaluateTask, problemsFor, resolveTaskOptions } from '../../src/engine/evaluate.js';
import { generate } from '../../src/engine/generate.js';
import { openModel, type OpenedModel } from '../../src/engine/open-model.js';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { arithmeticTask } from '../../src/tasks/arithmetic.js';
import { testGpu } from '../helpers/gpu.js';

/**
 * evaluateTask on the bundled model (models/default, a chat model with one MTP module): greedy
 * answers are exactly what `generate` gives for the problem's chat prompt, scored by the task's own
 * extractor and verifier; sampled answers default to temperature 1 and a problem's samples do not
 * depend on how many problems are asked; an abort scores only the problems whose samples all
 * finished; MTP drafting gives the greedy answers and counts its drafts.
 */
let gpu: Gpu;
let opened: OpenedModel;
before(async () => {
  gpu = await testGpu();
  opened = await openModel(gpu, 'default');
});
after(() => opened.model.dispose());

const MAX_TOKENS = 40;
const base = { task: 'arithmetic', seed: 11, taskOptions: { digits: 1 }, chat: true, think: false, maxTokens: MAX_TOKENS };

async function greedyText(prompt: string): Promise<string> {
  const ids = encodeMessages(opened.tokenizer, [{ role: 'user', content: prompt }], { enableThinking: false });
  let text = '';
  for await (const ev of generate(gpu, opened.model, opened.tokenizer, ids, { maxTokens: MAX_TOKENS, temperature: 0 })) if (ev.type === 'done') text = ev.text;
  return text;
}

describe('evaluateTask', () => {
  it('greedy, one sample: the task\'s problems, generate\'s greedy text, the task\'s verdicts', async () => {
    const { items, summary } = await evaluateTask(gpu, opened.model, opened.tokenizer, { ...base, n: 3 });
    const problems = arithmeticTask.generate(3, 11, { digits: 1 });
    assert.deepEqual(items.map((i) => [i.prompt, i.answer]), problems.map((p) => [p.prompt, p.answer]));
    for (const [k, item] of items.entries()) {
      assert.equal(item.samples.length, 1);
      const s = item.samples[0]!;
      assert.equal(s.text, await greedyText(problems[k]!.prompt));
      assert.equal(s.predicted, arithmeticTask.extractAnswer(s.text));
      assert.equal(s.correct, arithmeticTask.verify(problems[k]!, s.predicted));
    }
    const correct = items.filter((i) => i.samples[0]!.correct).length;
    assert.equal(summary.temperature, 0);
    assert.equal(summary.n, 3);
    assert.equal(summary.accuracy, correct / 3);
    assert.equal(summary.pass_at_k, correct / 3);
    assert.equal(summary.maj_at_k, correct / 3);
    assert.equal(summary.best_of_n, correct / 3);
  });

  it('several samples: temperature 1 by default, and problem i\'s samples do not depend on n', async () => {
    const three = await evaluateTask(gpu, opened.model, opened.tokenizer, { ...base, n: 3, samples: 3, curve: true });
    const two = await evaluateTask(gpu, opened.model, opened.tokenizer, { ...base, n: 2, samples: 3 });
    assert.equal(three.summary.temperature, 1);
    assert.equal(three.summary.samples, 3);
    assert.deepEqual(three.summary.curve!.map((p) => p.samples), [1, 2, 3]);
    assert.equal(two.summary.curve, undefined);
    assert.deepEqual(
      two.items.map((i) => i.samples.map((s) => s.text)),
      three.items.slice(0, 2).map((i) => i.samples.map((s) => s.text)),
    );
    for (const item of three.items) assert.equal(item.samples.length, 3);
  });

  it('an abort scores only the problems whose samples all finished', async () => {
    const abort = new AbortController();
    const { items, summary } = await evaluateTask(gpu, opened.model, opened.tokenizer, {
      ...base,
      n: 4,
      samples: 2,
      signal: abort.signal,
      onProgress: (done) => {
        if (done === 2) abort.abort();
      },
    });
    assert.ok(summary.n < 4, `${summary.n} problems scored after the abort`);
    assert.equal(summary.n, items.length);
    for (const item of items) for (const s of item.samples) assert.notEqual(s.finish, 'aborted');
  });

  it('--mtp: the greedy answers, with the drafts counted; refused with several samples', async () => {
    const plain = await evaluateTask(gpu, opened.model, opened.tokenizer, { ...base, n: 2 });
    const drafted = await evaluateTask(gpu, opened.model, opened.tokenizer, { ...base, n: 2, mtp: true });
    assert.deepEqual(drafted.items.map((i) => i.samples[0]!.text), plain.items.map((i) => i.samples[0]!.text));
    assert.ok(drafted.summary.mtp && drafted.summary.mtp.drafted > 0);
    assert.equal(plain.summary.mtp, undefined);
    await assert.rejects(evaluateTask(gpu, opened.model, opened.tokenizer, { ...base, n: 2, samples: 2, mtp: true }), (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT');
  });
});

describe('task options', () => {
  it('take a recipe\'s typed values or the command line\'s strings alike', () => {
    assert.deepEqual(resolveTaskOptions('arithmetic', { digits: '2', ops: '+,-,+', cot: 'true' }, 'x'), { digits: 2, ops: ['+', '-'], cot: true });
    assert.deepEqual(resolveTaskOptions('arithmetic', { digits: 3, ops: ['*'], cot: false }, 'x'), { digits: 3, ops: ['*'], cot: false });
    assert.deepEqual(resolveTaskOptions('arithmetic', {}, 'x'), { cot: false, ops: ['+', '-', '*'] }, "the task's defaults (its default level: no digits)");
    assert.deepEqual(problemsFor('arithmetic', 4, 2, { digits: '2' }).problems, arithmeticTask.generate(4, 2, { digits: 2 }));
  });
  for (const [raw, pattern] of [
    [{ digits: 'two' }, /x: digits must be an integer from 1 to 9/],
    [{ ops: '+,/' }, /x: ops must be a non-empty list of \+ - \*/],
    [{ cot: 'maybe' }, /x: cot must be true or false/],
    [{ data: 'f.jsonl' }, /x: unknown option "data"/],
  ] as [Record<string, unknown>, RegExp][]) {
    it(`${JSON.stringify(raw)}: one clear error`, () => {
      assert.throws(() => resolveTaskOptions('arithmetic', raw, 'x'), (e: unknown) => e instanceof PonderError && pattern.test(e.message));
    });
  }
});
