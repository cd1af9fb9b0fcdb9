import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IGNORE_INDEX, toRow } from '../../src/data/batches.js';
import { ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import { parsePairs, readPairs, tokenizePair } from '../../src/data/pairs.js';
import { isPonderError } from '../../src/errors.js';

/**
 * The pairs file (TRL's prompt/chosen/rejected JSONL): both shapes parse, each bad line is ONE error
 * line naming the file and the line, and tokenized pairs train on the completion tokens only.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-pairs-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string) => new TextEncoder().encode(s);
const ok = '{"prompt": "1+1=", "chosen": "2", "rejected": "3"}';

function rejects(bytes: Uint8Array, re: RegExp): void {
  assert.throws(
    () => parsePairs(bytes, 'p.jsonl'),
    (e: unknown) => isPonderError(e) && re.test(e.message) && !e.message.includes('\n'),
  );
}

describe('pairs files', () => {
  it('parses plain-text and conversational pairs, skipping blank lines', () => {
    const conv = JSON.stringify({ prompt: [{ role: 'user', content: 'hi' }], chosen: [{ role: 'assistant', content: 'a' }], rejected: [{ role: 'assistant', content: 'b' }] });
    const pairs = parsePairs(enc(`${ok}\n\n${conv}\n`), 'p.jsonl');
    assert.equal(pairs.length, 2);
    assert.equal(pairs[0]!.chosen, '2');
    assert.equal(pairs[1]!.line, 3);
    assert.deepEqual(pairs[1]!.rejected, [{ role: 'assistant', content: 'b' }]);
  });

  it('missing fields, empty chosen, invalid UTF-8, mixed shapes and bad JSON: one line naming file:line', () => {
    rejects(enc(`${ok}\n{"prompt": "x", "chosen": "y"}\n`), /^p\.jsonl:2: missing "rejected"/);
    rejects(enc(`${ok}\n${ok}\n{"prompt": "x", "chosen": "", "rejected": "z"}\n`), /^p\.jsonl:3: "chosen" is empty/);
    rejects(enc('{"prompt": [{"role": "user", "content": "x"}], "chosen": [], "rejected": [{"role": "assistant", "content": "n"}]}'), /^p\.jsonl:1: "chosen" is empty/);
    rejects(enc('{"prompt": "x", "chosen": [{"role": "assistant", "content": "y"}], "rejected": "z"}'), /^p\.jsonl:1: "chosen" must be a string/);
    rejects(enc('{"prompt": [{"role": "user", "content": "x"}], "chosen": [{"role": "user", "content": "y"}], "rejected": [{"role": "assistant", "content": "n"}]}'), /^p\.jsonl:1: chosen\[0\] is a user message/);
    rejects(enc('{"prompt": 1'), /^p\.jsonl:1: invalid JSON/);
    const bad = new Uint8Array([...enc(`${ok}\n{"prompt": "`), 0xff, ...enc('", "chosen": "a", "rejected": "b"}\n')]);
    rejects(bad, /^p\.jsonl:2: invalid UTF-8/);
    rejects(enc('\n\n'), /^p\.jsonl: empty/);
  });

  it('reads regular files only', () => {
    const dir = join(tmp, 'a-dir.jsonl');
    mkdirSync(dir);
    assert.throws(() => readPairs(dir), (e: unknown) => isPonderError(e) && /is a directory, not a pairs file/.test(e.message));
    assert.throws(() => readPairs(join(tmp, 'none.jsonl')), (e: unknown) => isPonderError(e) && /no such pairs file/.test(e.message));
    const f = join(tmp, 'ok.jsonl');
    writeFileSync(f, ok);
    assert.equal(readPairs(f).length, 1);
  });

  it('tokenized pairs train on the completion only; a prompt that fills the row is refused naming the line', () => {
    const tok = new ByteTokenizer();
    const [plain] = parsePairs(enc(ok), 'p.jsonl');
    const t = tokenizePair(tok, plain!, 16, 'p.jsonl');
    const row = toRow(t.chosen, 16, 0);
    const trained = row.targets.map((x, i) => [x, i] as const).filter(([x]) => x !== IGNORE_INDEX);
    // "2" then EOS, predicted from the last prompt token on
    assert.deepEqual(trained.map(([x]) => x), [...tok.encode('2'), tok.specialTokens.eos]);
    assert.equal(trained[0]![1], t.promptTokens - 1);
    const [conv] = parsePairs(enc(JSON.stringify({ prompt: [{ role: 'user', content: 'hi' }], chosen: [{ role: 'assistant', content: 'yes' }], rejected: [{ role: 'assistant', content: 'no' }] })), 'c.jsonl');
    const c = tokenizePair(tok, conv!, 40, 'c.jsonl');
    const crow = toRow(c.rejected, 40, 0);
    const ctargets = crow.targets.filter((x) => x !== IGNORE_INDEX);
    assert.deepEqual(ctargets, [...tok.encode('no'), tok.specialTokens.im_end]);
    assert.throws(() => tokenizePair(tok, conv!, c.promptTokens, 'c.jsonl'), (e: unknown) => isPonderError(e) && /^c\.jsonl:1: the prompt is \d+ tokens/.test(e.message));
  });
});
