import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ERROR_LINE, sanitizeForTerminal, terminalLine } from '../../src/terminal-text.js';
import { reportError } from '../../src/cli/output.js';
import { PonderError } from '../../src/errors.js';
import { rng } from '../helpers/random.js';

/**
 * Text from files and models reaches the terminal without control sequences: ESC sequences (CSI,
 * OSC, DCS and two-byte ones), C0 controls other than newline and tab, DEL and C1 controls are
 * removed; printable text, newlines and tabs are kept. The CLI's error printer applies it to every
 * message and cuts a message to one line.
 */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('terminal text', () => {
  it('removes escape sequences whole and control characters, keeps text', () => {
    assert.equal(sanitizeForTerminal('a\u001b[2Jb\u001b[1;31mc\u001b[0m'), 'abc');
    assert.equal(sanitizeForTerminal('x\u001b]0;pwned\u0007y\u001b]8;;http://e\u001b\\z'), 'xyz');
    assert.equal(sanitizeForTerminal('p\u001bPq#0;2;0;0;0\u001b\\r'), 'pr');
    assert.equal(sanitizeForTerminal('1\u001bc2\u001b(B3'), '123');
    assert.equal(sanitizeForTerminal('over\rwrite\u0008\u0007\u007f\u009b31m'), 'overwrite31m');
    assert.equal(sanitizeForTerminal('line 1\r\nline 2\n\tindented — ünïcödé 数学 🙂'), 'line 1\nline 2\n\tindented — ünïcödé 数学 🙂');
  });

  it('random strings: no control character survives, and nothing is added', () => {
    const r = rng(7);
    for (let k = 0; k < 200; k++) {
      let s = '';
      for (let i = 0; i < 40; i++) {
        const roll = r();
        const c = roll < 0.3 ? String.fromCharCode(Math.floor(r() * 0xa0)) : roll < 0.4 ? '\u001b' : String.fromCharCode(0x20 + Math.floor(r() * 0x5f));
        s += c;
      }
      const out = sanitizeForTerminal(s);
      assert.ok(!CONTROL.test(out), JSON.stringify(out));
      // nothing is added: the output is a subsequence of the input
      let j = 0;
      for (const ch of out) {
        j = s.indexOf(ch, j);
        assert.ok(j >= 0, `${JSON.stringify(out)} is not drawn from ${JSON.stringify(s)}`);
        j++;
      }
    }
  });

  it('the error printer: one sanitised line of bounded length, the hint too', () => {
    const lines: string[] = [];
    const long = 'y'.repeat(10_000);
    const code = reportError(new PonderError('BAD_INPUT', `bad \u001b]0;t\u0007config\nsecond line ${long}`, 'hint\u001b[2J'), { debug: false, program: 'ponder', writeErr: (l) => lines.push(l) });
    assert.equal(code, 1);
    assert.equal(lines.length, 2);
    assert.ok(lines[0]!.startsWith('ponder: error: bad config second line yyy'));
    assert.ok(lines[0]!.length <= 'ponder: error: '.length + MAX_ERROR_LINE);
    assert.ok(lines[0]!.endsWith('…'));
    assert.equal(lines[1], 'hint: hint');
    assert.equal(terminalLine('a\n\nb\tc'), 'a b c');
  });
});
