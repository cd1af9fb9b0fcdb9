import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonderError } from '../../src/errors.js';
import { jsonlTask as task, MAX_JSONL_BYTES, normaliseAnswer, readJsonlProblems } from '../../src/tasks/jsonl.js';
import type { Problem } from '../../src/tasks/types.js';
import { testSeed } from '../helpers/random.js';

const seed = testSeed % 1000000;
const dir = mkdtempSync(join(tmpdir(), 'ponder-jsonl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function throwsBadInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message) && !e.message.includes('\n'));
}

const lines = Array.from({ length: 37 }, (_, i) => JSON.stringify(i % 3 === 0 ? { question: `Q${i}: what is ${i} * 1000?`, answer: (i * 1000).toLocaleString('en-US') } : { question: `Q${i}?`, answer: i - 18, solution: `${i} - 18 = ${i - 18}\n#### ${i - 18}` }));
const good = file('good.jsonl', `${lines.join('\n')}\n\n`);

describe('jsonl: reading the file', () => {
  it('reads questions, normalised answers and solutions, skipping blank lines', () => {
    const ps = readJsonlProblems(good);
    assert.equal(ps.length, 37);
    assert.deepEqual(ps[3], { question: 'Q3: what is 3 * 1000?', answer: '3000', line: 4 });
    assert.deepEqual(ps[1], { question: 'Q1?', answer: '-17', solution: '1 - 18 = -17\n#### -17', line: 2 });
  });

  it('each bad line is one clear error naming the file and the line', () => {
    const ok = '{"question": "q", "answer": 1}';
    const cases: [string, string | Buffer, RegExp][] = [
      ['bad-json.jsonl', `${ok}\n{"question": "q", answer: 1}\n`, /bad-json\.jsonl:2: not JSON/],
      ['no-answer.jsonl', `${ok}\n${ok}\n{"question": "q"}\n`, /no-answer\.jsonl:3: missing "answer"$/],
      ['no-question.jsonl', '{"answer": 3}\n', /no-question\.jsonl:1: missing "question"$/],
      ['empty-question.jsonl', '{"question": " ", "answer": 3}\n', /:1: "question" must be a non-empty string$/],
      ['word-answer.jsonl', `${ok}\n{"question": "q", "answer": "seven"}\n`, /word-answer\.jsonl:2: "answer" "seven" is not a number/],
      ['list.jsonl', '[1, 2]\n', /list\.jsonl:1: expected a JSON object/],
      ['bad-solution.jsonl', '{"question": "q", "answer": 1, "solution": 5}\n', /:1: "solution" must be a string$/],
      ['utf8.jsonl', Buffer.concat([Buffer.from(`${ok}\n${ok}\n{"question": "caf`), Buffer.from([0xc3, 0x28]), Buffer.from('", "answer": 1}\n')]), /utf8\.jsonl:3: invalid UTF-8/],
      ['empty.jsonl', '\n\n', /empty\.jsonl: no problems/],
    ];
    for (const [name, content, re] of cases) throwsBadInput(() => readJsonlProblems(file(name, content)), re);
    throwsBadInput(() => readJsonlProblems(dir), /: is a directory, not a \.jsonl file$/);
    assert.throws(() => readJsonlProblems(join(dir, 'missing.jsonl')), (e: unknown) => e instanceof PonderError && e.code === 'NOT_FOUND' && /missing\.jsonl: no such file/.test(e.message));
  });

  it('refuses a file over the size limit before reading it', () => {
    const big = file('big.jsonl', '');
    truncateSync(big, MAX_JSONL_BYTES + 1); // sparse: no disk used
    throwsBadInput(() => readJsonlProblems(big), /big\.jsonl: \d+ bytes, more than the 256 MiB/);
    rmSync(big);
  });

  it('refuses a FIFO without opening it (it would block)', () => {
    const fifo = join(dir, 'fifo.jsonl');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      return; // no mkfifo on this system: nothing to test
    }
    throwsBadInput(() => readJsonlProblems(fifo), /fifo\.jsonl: not a regular file/);
  });
});

describe('jsonl: generate', () => {
  it(`draws without replacement, then cycles in fresh seeded orders; deterministic and prefix-stable (seed ${seed})`, () => {
    const a = task.generate(100, seed, { data: good });
    assert.deepEqual(task.generate(100, seed, { data: good }), a);
    assert.deepEqual(task.generate(10, seed, { data: good }), a.slice(0, 10));
    assert.notDeepEqual(task.generate(37, seed + 1, { data: good }).map((p) => p.prompt), a.slice(0, 37).map((p) => p.prompt));
    const all = readJsonlProblems(good).map((q) => q.question).sort();
    assert.deepEqual(a.slice(0, 37).map((p) => p.prompt).sort(), all, 'the first pass is a permutation of the file');
    assert.deepEqual(a.slice(37, 74).map((p) => p.prompt).sort(), all, 'so is the second');
    assert.notDeepEqual(a.slice(37, 74).map((p) => p.prompt), a.slice(0, 37).map((p) => p.prompt), 'in another order');
    assert.deepEqual(task.generate(0, seed, { data: join(dir, 'missing.jsonl') }), []);
  });

  it('needs its data option', () => {
    throwsBadInput(() => task.parseOptions({}), /^jsonl: data is required/);
    throwsBadInput(() => task.generate(3, seed), /^jsonl: data is required/);
  });
});

describe('jsonl: answers', () => {
  it('normalises numbers to one canonical form', () => {
    const table: [string, string | undefined][] = [
      ['1,234', '1234'], ['+7', '7'], ['72.00', '72'], ['3.0', '3'], ['-0', '0'], ['-0.0', '0'], ['0.50', '0.5'], ['$1,000.50', '1000.5'],
      ['007', '7'], ['.5', '0.5'], ['6/8', '3/4'], ['-4/2', '-2'], [' 42. ', '42'], ['12,34', undefined], ['seven', undefined], ['1e3', undefined], ['', undefined], ['1/0', undefined],
    ];
    for (const [raw, want] of table) assert.equal(normaliseAnswer(raw), want, raw);
  });

  it('verifies exactly: decimals, fractions, no float rounding', () => {
    const p = (answer: string): Problem => ({ id: 'j', prompt: 'q', answer });
    assert.ok(task.verify(p('1234'), '1,234'));
    assert.ok(task.verify(p('0.75'), '3/4'));
    assert.ok(task.verify(p('-3'), '-3.00'));
    assert.equal(task.verify(p('0.3'), '0.30000000000000004'), false);
    assert.equal(task.verify(p('100000000000000001'), '100000000000000000'), false);
    for (const bad of [undefined, '1235', '1233', '-1234', 'abc']) assert.equal(task.verify(p('1234'), bad), false, String(bad));
  });

  it('extracts by priority from real-looking outputs', () => {
    const table: [string, string | undefined][] = [
      ['<think>\nShe has 3 + 4 = 7, so \\boxed{6}? no.\n</think>\nSo she has \\boxed{7} apples. 12 more later.', '7'],
      ['Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72', '72'],
      ['#### 5\nThe answer is 9.', '5'],
      ['So the answer is 1,234.', '1234'],
      ['The final answer is $18.', '18'],
      ['work...\nAnswer: 1,234\n', '1234'],
      ['Answer: 12\nThat is all, thanks for 2 questions', '12'],
      ['\\boxed{\\frac{3}{4}}', '3/4'],
      ['I think it is 41, or maybe 42', '42'],
      ['<think>the answer is 5</think>', '5'],
      ['no numbers here', undefined],
      ['', undefined],
    ];
    for (const [text, want] of table) assert.equal(task.extractAnswer(text), want, text);
  });

  it('formatOk: one of the answer formats gives a number after the reasoning', () => {
    for (const ok of ['\\boxed{7}', 'blah\n#### 7', 'The answer is 7.', '<think>..</think>\nAnswer: 7']) assert.ok(task.formatOk(ok), ok);
    for (const bad of ['7', 'it is 7', '<think>Answer: 7</think>\nseven', '\\boxed{x}']) assert.equal(task.formatOk(bad), false, bad);
  });

  it(`round trip: goldCot (solution or not) -> extract -> verify; target without cot is the Answer line (seed ${seed})`, () => {
    for (const p of task.generate(74, seed, { data: good })) {
      const cot = task.goldCot(p);
      assert.ok(cot.endsWith(`Answer: ${p.answer}`), cot);
      assert.ok(!cot.includes('####'), 'the GSM8K marker is replaced by the Answer line');
      assert.ok(task.verify(p, task.extractAnswer(cot)), cot);
      assert.ok(task.formatOk(cot));
      assert.equal(task.target(p, { cot: false }), `Answer: ${p.answer}`);
      assert.equal(task.target(p, { cot: true }), cot);
      assert.equal(task.verify(p, task.extractAnswer(`Answer: ${BigInt(p.answer) + 1n}`)), false);
    }
  });
});
