import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJsonl, readJsonl, type JsonlOptions } from '../../src/data/jsonl.js';
import { PonderError } from '../../src/errors.js';

const enc = (s: string) => new TextEncoder().encode(s);

function errorOf(text: string | Uint8Array, opts?: JsonlOptions): PonderError {
  try {
    parseJsonl(typeof text === 'string' ? enc(text) : text, 'd.jsonl', opts);
  } catch (e) {
    assert.ok(e instanceof PonderError, String(e));
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    return e;
  }
  assert.fail('expected an error');
}

const conv = (msgs: unknown) => JSON.stringify({ messages: msgs });
const ok = conv([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }]);

describe('jsonl: valid files', () => {
  it('reads pretraining documents, skipping blank lines, tolerating CRLF and a BOM', () => {
    const ex = parseJsonl(enc('\ufeff{"text": "a"}\r\n\n   \n{"text": "b\\nc", "id": 7}\n'), 'd.jsonl');
    assert.deepEqual(ex, [
      { kind: 'pretrain', text: 'a' },
      { kind: 'pretrain', text: 'b\nc' },
    ]);
  });

  it('reads SFT conversations (other fields ignored) with non-ASCII text', () => {
    const line = conv([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'héllo 你好 😀' }, { role: 'assistant', content: '', name: 'x' }]);
    const ex = parseJsonl(enc(`${line}\n${ok}`), 'd.jsonl', { kind: 'sft' });
    assert.equal(ex.length, 2);
    assert.deepEqual(ex[0], {
      kind: 'sft',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'héllo 你好 😀' },
        { role: 'assistant', content: '' },
      ],
    });
  });
});

describe('jsonl: errors name file:line', () => {
  it('invalid JSON', () => {
    const e = errorOf(`{"text": "a"}\n\n{"text": "b"\n{"text": "c"}`);
    assert.equal(e.code, 'BAD_INPUT');
    assert.match(e.message, /^d\.jsonl:3: invalid JSON \(/);
  });

  it('wrong shapes', () => {
    assert.match(errorOf('[1, 2]').message, /^d\.jsonl:1: expected a JSON object .* got an array$/);
    assert.match(errorOf('"text"').message, /^d\.jsonl:1: expected a JSON object/);
    assert.match(errorOf('{"txt": "a"}').message, /^d\.jsonl:1: expected \{"text": \.\.\.\} or \{"messages": \[\.\.\.\]\}, got keys "txt"$/);
    assert.match(errorOf('{"text": 5}').message, /^d\.jsonl:1: "text" must be a string, got number$/);
    assert.match(errorOf('{"text": ""}').message, /^d\.jsonl:1: "text" is empty$/);
    assert.match(errorOf('{"text": "a", "messages": []}').message, /^d\.jsonl:1: has both/);
    assert.match(errorOf(`${ok}\n{"messages": {}}`).message, /^d\.jsonl:2: "messages" must be an array, got object$/);
    assert.match(errorOf('{"messages": []}').message, /^d\.jsonl:1: "messages" is empty$/);
    assert.match(errorOf(conv(['hi'])).message, /^d\.jsonl:1: messages\[0\] must be an object/);
    assert.match(errorOf(conv([{ role: 'user', content: 1 }])).message, /^d\.jsonl:1: messages\[0\]\.content must be a string, got number$/);
    assert.match(errorOf(conv([{ role: 'user', content: 'q' }])).message, /^d\.jsonl:1: conversation has no assistant message/);
  });

  it('mixed kinds, and the kind the stage asks for', () => {
    assert.match(errorOf(`{"text": "a"}\n${ok}`).message, /^d\.jsonl:2: expected \{"text": \.\.\.\} \(a pretraining document/);
    assert.match(errorOf(`${ok}\n{"text": "a"}`).message, /^d\.jsonl:2: expected \{"messages": \[\.\.\.\]\} \(an SFT conversation/);
    assert.match(errorOf('{"text": "a"}', { kind: 'sft' }).message, /^d\.jsonl:1: expected \{"messages"/);
  });

  it('invalid roles', () => {
    const e = errorOf(`${ok}\n${ok}\n${conv([{ role: 'user', content: 'a' }, { role: 'bot', content: 'b' }])}`);
    assert.equal(e.message, 'd.jsonl:3: messages[1].role "bot" is not one of system, user, assistant');
    assert.match(errorOf(conv([{ role: 3, content: 'a' }])).message, /^d\.jsonl:1: messages\[0\]\.role must be a string, got number$/);
  });

  it('empty files', () => {
    for (const t of ['', '\n\n', '  \r\n\t\n', '\ufeff']) assert.match(errorOf(t).message, /^d\.jsonl: empty \(no examples\)$/);
  });

  it('invalid UTF-8 names the line', () => {
    const bad = Uint8Array.from([...enc('{"text": "ok"}\n{"text": "a'), 0xff, ...enc('"}\n')]);
    assert.match(errorOf(bad).message, /^d\.jsonl:2: invalid UTF-8 \(near byte 12 of the line\)$/);
    const truncated = Uint8Array.from([...enc('{"text": "'), 0xe4, 0xbd]); // a cut-off 3-byte character at the end
    assert.match(errorOf(truncated).message, /^d\.jsonl:1: invalid UTF-8/);
    const surrogate = Uint8Array.from([...enc('{"text": "'), 0xed, 0xa0, 0x80, ...enc('"}')]); // encoded U+D800
    assert.match(errorOf(surrogate).message, /^d\.jsonl:1: invalid UTF-8/);
  });
});

describe('jsonl: readJsonl', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ponder-jsonl-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and names it in errors', () => {
    const good = join(dir, 'good.jsonl');
    writeFileSync(good, `${ok}\n${ok}\n`);
    assert.equal(readJsonl(good, { kind: 'sft' }).length, 2);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, `${ok}\n{oops}\n`);
    assert.throws(() => readJsonl(bad), (e: unknown) => e instanceof PonderError && e.message.startsWith(`${bad}:2: invalid JSON`));
    assert.throws(() => readJsonl(join(dir, 'missing.jsonl')), (e: unknown) => e instanceof PonderError && e.code === 'NOT_FOUND');
  });
});
