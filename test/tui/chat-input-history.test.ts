import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileHistory, historyFile, MAX_ENTRIES } from '../../src/tui/chat/input-history.js';

/**
 * The chat's persistent input history: where the file lives ($PONDER_STATE_DIR, $XDG_STATE_HOME,
 * ~/.local/state), that entries (multi-line ones too) survive a new session, that repeats are not
 * stored twice, that the file is trimmed to the newest MAX_ENTRIES, and that junk lines are skipped.
 */
let root: string;
before(() => (root = mkdtempSync(join(tmpdir(), 'ponder-history-'))));
after(() => rmSync(root, { recursive: true, force: true }));

describe('chat input history', () => {
  it('lives in the state directory', () => {
    assert.equal(historyFile({ PONDER_STATE_DIR: '/s', XDG_STATE_HOME: '/x' }), join('/s', 'history'));
    assert.equal(historyFile({ XDG_STATE_HOME: '/x' }), join('/x', 'ponder', 'history'));
    assert.equal(historyFile({}), join(homedir(), '.local', 'state', 'ponder', 'history'));
  });

  it('survives a new session, keeps multi-line entries, skips repeats and junk', () => {
    const file = join(root, 'a', 'history');
    const h = fileHistory(file);
    assert.deepEqual(h.entries, []);
    h.add('first');
    h.add('two\nlines');
    h.add('two\nlines');
    assert.deepEqual(fileHistory(file).entries, ['first', 'two\nlines']);
    writeFileSync(file, readFileSync(file, 'utf8') + 'not json\n42\n');
    assert.deepEqual(fileHistory(file).entries, ['first', 'two\nlines']);
  });

  it('keeps the newest entries only', () => {
    const file = join(root, 'b', 'history');
    const h = fileHistory(file);
    for (let i = 0; i < 2 * MAX_ENTRIES + 5; i++) h.add(`m${i}`);
    const again = fileHistory(file).entries;
    assert.equal(again.length <= MAX_ENTRIES + 5, true, `${again.length} entries`);
    assert.equal(again[again.length - 1], `m${2 * MAX_ENTRIES + 4}`);
    assert.ok(readFileSync(file, 'utf8').split('\n').length <= 2 * MAX_ENTRIES + 1);
  });
});
