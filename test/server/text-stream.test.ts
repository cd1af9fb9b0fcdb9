import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReasoningRouter, StopMatcher } from '../../src/server/text-stream.js';
import { rng } from '../helpers/random.js';

/**
 * The stream filters on their own: stop strings give the same cut whatever the split of the text
 * into pieces (randomized against the whole-text reference: cut at the earliest occurrence of any
 * stop string), and the reasoning router follows the think ids.
 */

/** The reference: the text up to the earliest occurrence of any stop string, and whether one occurred. */
function cutReference(text: string, stops: string[]): { text: string; stopped: boolean } {
  let cut = -1;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at >= 0 && (cut < 0 || at < cut)) cut = at;
  }
  return cut < 0 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}

function randomPieces(text: string, rand: () => number): string[] {
  const pieces: string[] = [];
  let i = 0;
  while (i < text.length) {
    const n = Math.floor(rand() * 4); // pieces of 0..3 characters, empty ones included
    pieces.push(text.slice(i, i + n));
    i += n;
  }
  return pieces;
}

describe('StopMatcher', () => {
  it('streams the same cut as the whole-text reference for random texts, stops and splits', () => {
    const rand = rng();
    const alphabet = 'ab\n.';
    const word = (n: number) => Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
    for (let trial = 0; trial < 500; trial++) {
      const text = word(Math.floor(rand() * 30));
      const stops = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => word(1 + Math.floor(rand() * 4)));
      const m = new StopMatcher(stops);
      let out = '';
      let stopped = false;
      for (const piece of randomPieces(text, rand)) {
        const r = m.push(piece);
        out += r.text;
        if (r.stopped) {
          stopped = true;
          break;
        }
      }
      if (!stopped) {
        const tail = m.flush();
        out += tail.text;
        stopped = tail.stopped;
      }
      assert.deepEqual({ text: out, stopped }, cutReference(text, stops), `${JSON.stringify(text)} stops ${JSON.stringify(stops)}`);
    }
  });

  it('holds back only a possible stop prefix', () => {
    const m = new StopMatcher(['</s>']);
    assert.deepEqual(m.push('hello <'), { text: 'hello ', stopped: false });
    assert.deepEqual(m.push('/x'), { text: '</x', stopped: false });
    assert.deepEqual(m.push(' </'), { text: ' ', stopped: false });
    assert.deepEqual(m.push('s> tail'), { text: '', stopped: true });
    assert.deepEqual(m.push('more'), { text: '', stopped: true });
  });

  it('with no stop strings passes everything through', () => {
    const m = new StopMatcher([]);
    assert.deepEqual(m.push('abc'), { text: 'abc', stopped: false });
    assert.deepEqual(m.flush(), { text: '', stopped: false });
  });

  it('a longer stop string starting earlier wins over a shorter one completed first', () => {
    const m = new StopMatcher(['b.\n', '.']);
    assert.deepEqual(m.push('ab.'), { text: 'a', stopped: false });
    assert.deepEqual(m.push('\nz'), { text: '', stopped: true });
    const end = new StopMatcher(['b.\n', '.']);
    assert.deepEqual(end.push('ab.'), { text: 'a', stopped: false });
    assert.deepEqual(end.flush(), { text: 'b', stopped: true }, 'at the end only the complete "." remains');
  });
});

describe('ReasoningRouter', () => {
  it('switches channel on the think ids and drops each channel\'s leading whitespace', () => {
    const r = new ReasoningRouter({ open: 900, close: 901 });
    const routed = [
      [900, ''],
      [5, '\n'],
      [5, 'think'],
      [5, ' more\n'],
      [901, ''],
      [5, '\n\n'],
      [5, 'answer'],
      [5, ' \n'],
    ].map(([id, text]) => r.route(id as number, text as string));
    assert.deepEqual(
      routed.map((x) => `${x.channel}:${x.text}`),
      ['reasoning:', 'reasoning:', 'reasoning:think', 'reasoning: more\n', 'content:', 'content:', 'content:answer', 'content: \n'],
    );
  });

  it('starts in reasoning when the prompt opened the block; without think ids everything is content', () => {
    const open = new ReasoningRouter({ open: 900, close: 901 }, true);
    assert.equal(open.route(5, 'x').channel, 'reasoning');
    assert.equal(open.route(901, '').channel, 'content');
    const none = new ReasoningRouter({});
    assert.deepEqual(none.route(5, ' a'), { channel: 'content', text: 'a' });
  });
});
