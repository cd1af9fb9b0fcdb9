import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatSession, type ChatBackend } from '../../src/engine/chat.js';
import { PonderError } from '../../src/errors.js';

/**
 * chat's `/load FILE` with something that is not a conversation file: /dev/zero used to freeze the
 * app (reading without end, 0.5 GB/s) and a FIFO blocked it for good. Each is refused at once with
 * one line naming the file, and the conversation in progress is left as it was.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-chat-load-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A backend that never decodes: load() only reads the file and replaces the messages. */
const backend: ChatBackend = {
  info: { model: 'none', adapter: 'none', contextLimit: 64, mtpLayers: 0 },
  encode: () => [1],
  async *generate() {},
  dispose() {},
};

describe('chat /load of special files', () => {
  // a hang (reading /dev/zero or waiting on the FIFO) fails the test by its timeout
  it('/dev/zero, a FIFO, a directory and a binary file: one line each, the conversation kept', { timeout: 60_000 }, () => {
    const good = join(tmp, 'good.jsonl');
    writeFileSync(good, JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }) + '\n');
    const fifo = join(tmp, 'pipe.jsonl');
    execFileSync('mkfifo', [fifo]);
    const binary = join(tmp, 'binary.jsonl');
    writeFileSync(binary, Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x0a]));
    const s = new ChatSession(backend);
    assert.equal(s.load(good), 2);
    for (const [file, pattern] of [
      ['/dev/zero', /\/dev\/zero.*character device/],
      [fifo, /FIFO \(named pipe\), not a regular file/],
      [tmp, /is a directory, not a conversation file/],
      [binary, /not valid UTF-8/],
    ] as const) {
      assert.throws(() => s.load(file), (e: unknown) => e instanceof PonderError && !e.message.includes('\n') && pattern.test(e.message), file);
      assert.deepEqual(s.messages.map((m) => m.content), ['hi', 'hello'], `${file}: the conversation is kept`);
    }
  });
});
