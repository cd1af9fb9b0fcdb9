import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IGNORE_INDEX,
  batchIterator,
  epochPermutation,
  generateTaskExamples,
  iteratorFrom,
  loadStageExamples,
  padId,
  toRow,
  tokenizeExample,
  tokenizeExamples,
  type Batch,
  type TokenizedExample,
} from '../../src/data/batches.js';
import { BYTE_SPECIAL_TOKENS, ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import type { Example, SftExample } from '../../src/data/jsonl.js';
import { loadHfTokenizer } from '../../src/data/hf-tokenizer.js';
import { PonderError } from '../../src/errors.js';
import { arithmeticTask } from '../../src/tasks/arithmetic.js';
import { testSeed } from '../helpers/random.js';

const tok = new ByteTokenizer();
const { bos, eos, im_end, pad } = BYTE_SPECIAL_TOKENS;
const seed = testSeed % 1000000;

/** The decoded text of each maximal run of trained targets in a row. */
function trainedSpans(targets: number[]): string[] {
  const spans: string[] = [];
  let cur: number[] = [];
  for (const t of [...targets, IGNORE_INDEX]) {
    if (t !== IGNORE_INDEX) cur.push(t);
    else if (cur.length) {
      spans.push(tok.decode(cur));
      cur = [];
    }
  }
  return spans;
}

function docs(n: number): TokenizedExample[] {
  return tokenizeExamples(tok, Array.from({ length: n }, (_, i): Example => ({ kind: 'pretrain', text: `doc ${i}` })));
}

describe('batches: rows', () => {
  it('pretrain: BOS + text + EOS, next-token targets, padding ignored', () => {
    const ex = tokenizeExample(tok, { kind: 'pretrain', text: 'abc' });
    assert.deepEqual(ex.tokens, [bos, 97, 98, 99, eos]);
    const row = toRow(ex, 8, padId(tok));
    assert.deepEqual(row.inputs, [bos, 97, 98, 99, eos, pad, pad, pad]);
    assert.deepEqual(row.targets, [97, 98, 99, eos, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]);
    assert.equal(row.validTargets, 4);
  });

  it('truncates to T: inputs tokens[0..T-1], targets tokens[1..T]', () => {
    const ex = tokenizeExample(tok, { kind: 'pretrain', text: 'abcdefgh' });
    const row = toRow(ex, 4, pad);
    assert.deepEqual(row.inputs, [bos, 97, 98, 99]);
    assert.deepEqual(row.targets, [97, 98, 99, 100]);
    assert.equal(row.validTargets, 4);
    const exact = toRow(ex, ex.tokens.length - 1, pad); // no padding, no truncation
    assert.deepEqual(exact.inputs, ex.tokens.slice(0, -1));
    assert.deepEqual(exact.targets, ex.tokens.slice(1));
  });

  it('SFT: targets only on assistant tokens (content + <|im_end|>), checked by decoding', () => {
    const ex: SftExample = {
      kind: 'sft',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What is 2 + 2? <|im_end|>' },
        { role: 'assistant', content: 'Answer: 4' },
        { role: 'user', content: 'And 3 + 3?' },
        { role: 'assistant', content: '6, héllo 😀' },
      ],
    };
    const t = tokenizeExample(tok, ex);
    assert.deepEqual(t.tokens, tok.encodeChat(ex.messages), 'same tokens as the chat format');
    const row = toRow(t, t.tokens.length + 5, pad);
    assert.deepEqual(trainedSpans(row.targets), ['Answer: 4<|im_end|>', '6, héllo 😀<|im_end|>']);
    assert.equal(row.validTargets, tok.encode('Answer: 4').length + tok.encode('6, héllo 😀').length + 2);
    // every trained target is the input one position later (the next token)
    for (let j = 0; j + 1 < row.inputs.length; j++) if (row.targets[j] !== IGNORE_INDEX) assert.equal(row.targets[j], row.inputs[j + 1]);
    // the user's forged <|im_end|> stays bytes, and is not trained
    assert.equal(t.tokens.filter((x) => x === im_end).length, 5);
  });

  it('SFT arithmetic: the trained text is the gold CoT (or just the answer) + <|im_end|>', () => {
    for (const cot of [true, false]) {
      const exs = generateTaskExamples({ task: 'arithmetic', n: 20, digits: 2, cot }, 'sft', seed);
      const problems = arithmeticTask.generate(20, seed, { digits: 2 });
      exs.forEach((ex, i) => {
        const row = toRow(tokenizeExample(tok, ex), 512, pad);
        const p = problems[i]!;
        assert.deepEqual(trainedSpans(row.targets), [`${cot ? arithmeticTask.goldCot(p) : p.answer}<|im_end|>`]);
        assert.ok(tok.decode(row.inputs).startsWith(`<|im_start|>user\n${p.prompt}<|im_end|>\n<|im_start|>assistant\n`));
      });
    }
  });
});

describe('batches: SFT with a Hugging Face chat template', () => {
  it('SFT, byte tokenizer: an empty reasoning block opening an answer (thinking off) is context, not a target', () => {
    const tok = new ByteTokenizer();
    const { think, end_think } = BYTE_SPECIAL_TOKENS;
    const off = tokenizeExample(tok, { kind: 'sft', messages: [{ role: 'user', content: '2+2' }, { role: 'assistant', content: '<think>\n\n</think>\n\n4.' }] });
    // the block is encoded as the thinking-off generation prompt ends, and none of it is trained
    const prompt = tok.encodeChat([{ role: 'user', content: '2+2' }], { addGenerationPrompt: true, enableThinking: false });
    assert.deepEqual(off.tokens.slice(0, prompt.length), prompt);
    assert.ok(off.tokens.includes(think) && off.tokens.includes(end_think));
    const trained = off.tokens.filter((_, i) => off.train[i] === 1);
    assert.equal(tok.decode(trained), '4.<|im_end|>');
    // a non-empty block is the model's own reasoning: trained, markers included
    const on = tokenizeExample(tok, { kind: 'sft', messages: [{ role: 'user', content: '2+2' }, { role: 'assistant', content: '<think>\n2 + 2 = 4\n</think>\n4.' }] });
    assert.equal(tok.decode(on.tokens.filter((_, i) => on.train[i] === 1)), '<think>\n2 + 2 = 4\n</think>\n4.<|im_end|>');
  });

  it('trains only on what each assistant turn adds (fixture chatml-bpe)', async () => {
    const hf = await loadHfTokenizer(new URL('../../../test/fixtures/tokenizers/chatml-bpe', import.meta.url).pathname);
    const ex = tokenizeExample(hf, {
      kind: 'sft',
      messages: [
        { role: 'user', content: 'hi there' },
        { role: 'assistant', content: 'Answer: 4' },
        { role: 'user', content: 'more' },
        { role: 'assistant', content: 'ok' },
      ],
    });
    const row = toRow(ex, ex.tokens.length + 3, 0);
    const spans: string[] = [];
    let cur: number[] = [];
    for (const t of [...row.targets, IGNORE_INDEX]) {
      if (t !== IGNORE_INDEX) cur.push(t);
      else if (cur.length) (spans.push(hf.decode(cur)), (cur = []));
    }
    assert.deepEqual(spans, ['Answer: 4<|im_end|>\n', 'ok<|im_end|>\n']);
  });
});

describe('batches: iterator', () => {
  const take = (it: Iterator<Batch>, k: number) => Array.from({ length: k }, () => it.next().value as Batch);

  it(`is deterministic in the seed and visits every example once per epoch (seed ${seed})`, () => {
    const ex = docs(12);
    const a = take(batchIterator(ex, { B: 4, T: 8, seed }), 9);
    const b = take(batchIterator(ex, { B: 4, T: 8, seed }), 9);
    assert.deepEqual(a, b);
    for (let e = 0; e < 3; e++) {
      const seen = a.slice(3 * e, 3 * e + 3).flatMap((x) => x.examples);
      assert.deepEqual([...seen].sort((x, y) => x - y), [...Array(12).keys()], `epoch ${e}`);
    }
    assert.notDeepEqual(a.slice(0, 3).flatMap((x) => x.examples), a.slice(3, 6).flatMap((x) => x.examples), 'epochs are reshuffled');
    const c = take(batchIterator(ex, { B: 4, T: 8, seed: seed + 1 }), 3);
    assert.notDeepEqual(c.flatMap((x) => x.examples), a.slice(0, 3).flatMap((x) => x.examples));
    // a batch is its examples' rows, in order
    const batch = a[0]!;
    assert.equal(batch.inputs.length, 32);
    assert.equal(batch.targets.length, 32);
    batch.examples.forEach((k, r) => {
      const row = toRow(ex[k]!, 8, 0);
      assert.deepEqual(batch.inputs.slice(r * 8, r * 8 + 8), row.inputs);
      assert.deepEqual(batch.targets.slice(r * 8, r * 8 + 8), row.targets);
    });
    assert.equal(batch.validTargets, batch.targets.filter((t) => t !== IGNORE_INDEX).length);
  });

  it('epochPermutation is a permutation, differing by epoch', () => {
    const p0 = epochPermutation(100, seed, 0);
    assert.deepEqual([...p0].sort((x, y) => x - y), [...Array(100).keys()]);
    assert.notDeepEqual(p0, epochPermutation(100, seed, 1));
    assert.deepEqual(p0, epochPermutation(100, seed, 0));
    assert.deepEqual([...epochPermutation(1, seed, 5)], [0]);
  });

  it('resuming from a saved (JSON) cursor continues exactly, across epoch boundaries', () => {
    const ex = docs(7); // B does not divide N: batches straddle epochs
    const opts = { B: 3, T: 6, seed };
    const whole = take(batchIterator(ex, opts), 12);
    for (const stop of [1, 2, 5, 7]) {
      const it = batchIterator(ex, opts);
      const first = take(it, stop);
      const saved = JSON.parse(JSON.stringify(it.cursor));
      assert.deepEqual(saved, first[stop - 1]!.cursor);
      const resumed = take(iteratorFrom(ex, opts, saved), 12 - stop);
      assert.deepEqual([...first, ...resumed], whole, `stopped after ${stop}`);
      assert.deepEqual(take(it.iteratorFrom(saved), 12 - stop), resumed);
    }
    assert.deepEqual(whole[2]!.start, { epoch: 0, index: 6 });
    assert.deepEqual(whole[2]!.cursor, { epoch: 1, index: 2 });
  });

  it('handles B larger than the data set', () => {
    const ex = docs(3);
    const [b] = take(batchIterator(ex, { B: 7, T: 4, seed }), 1);
    assert.equal(b!.examples.length, 7);
    assert.deepEqual(b!.cursor, { epoch: 2, index: 1 });
  });

  it('rejects bad options and cursors', () => {
    const bad = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message));
    const ex = docs(5);
    bad(() => batchIterator([], { B: 1, T: 4, seed }), /no examples/);
    bad(() => batchIterator(ex, { B: 0, T: 4, seed }), /B must be a positive integer/);
    bad(() => batchIterator(ex, { B: 1, T: 2.5, seed }), /T must be/);
    bad(() => batchIterator(ex, { B: 1, T: 4, seed: -1 }), /seed/);
    bad(() => iteratorFrom(ex, { B: 1, T: 4, seed }, { epoch: 0, index: 5 }), /invalid cursor/);
    bad(() => iteratorFrom(ex, { B: 1, T: 4, seed }, { epoch: -1, index: 0 }), /invalid cursor/);
  });
});

describe('batches: stage data', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ponder-batches-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads generated tasks, .jsonl and .txt files', () => {
    const task = loadStageExamples({ type: 'task', task: 'arithmetic', n: 5, digits: 1, cot: false }, 'pretrain', 3);
    const p = arithmeticTask.generate(5, 3, { digits: 1 });
    assert.deepEqual(task[0], { kind: 'pretrain', text: `${p[0]!.prompt}\n${p[0]!.answer}` });
    const jsonl = join(dir, 'a.jsonl');
    writeFileSync(jsonl, '{"text": "x"}\n{"text": "y"}\n');
    assert.equal(loadStageExamples({ type: 'file', path: jsonl, written: 'a.jsonl' }, 'pretrain', 0).length, 2);
    assert.throws(() => loadStageExamples({ type: 'file', path: jsonl, written: 'a.jsonl' }, 'sft', 0), /a\.jsonl:1: expected \{"messages"/);
    const txt = join(dir, 'a.txt');
    writeFileSync(txt, 'para one\nline two\n\n\npara two\n');
    assert.deepEqual(loadStageExamples({ type: 'file', path: txt, written: 'a.txt' }, 'pretrain', 0), [
      { kind: 'pretrain', text: 'para one\nline two' },
      { kind: 'pretrain', text: 'para two' },
    ]);
  });
});
