import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import { App } from '../../src/tui/chat/app.js';
import { FakeSession } from './fake-session.js';
import type { InputHistory } from '../../src/tui/chat/input-history.js';

/**
 * The chat app against a fake session (no GPU): what the user types reaches the session, tokens
 * appear as they stream, Esc stops without leaving, slash commands change settings, reasoning folds.
 */
afterEach(() => cleanup());

const ESC = '\u001b';
const CTRL_T = '\u0014';
const CTRL_D = '\u0004';
const UP = '\u001b[A';

async function waitFor(what: string, frame: () => string | undefined, ok: (f: string) => boolean, ms = 3000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const f = frame() ?? '';
    if (ok(f)) return f;
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}; last frame:\n${f}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The frame from the last occurrence of `marker` on (printed lines stay above it, as in a terminal). */
function since(frame: string, marker: string): string {
  const at = frame.lastIndexOf(marker);
  return at < 0 ? '' : frame.slice(at);
}

async function setup(opts: { history?: InputHistory; card?: FakeSession['info']['card'] } = {}) {
  const session = new FakeSession();
  if (opts.card) session.info = { ...session.info, card: opts.card };
  let exited = 0;
  const ui = render(<App session={session} history={opts.history} onExit={() => exited++} />);
  // like keys on a terminal: a line and its Enter arrive as separate reads
  const type = async (text: string) => {
    for (const part of text.split(/(\r)/)) {
      if (part === '') continue;
      ui.stdin.write(part);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  // Ink attaches its stdin listener in an effect after the first frame; keys written before are lost
  await new Promise((r) => setTimeout(r, 50));
  const frame = () => ui.lastFrame() ?? '';
  const until = (what: string, ok: (f: string) => boolean) => waitFor(what, ui.lastFrame, ok);
  return { session, ui, type, frame, until, exited: () => exited };
}

describe('chat app', () => {
  it('shows the model in the status bar and sends a typed message; tokens appear as they stream', async () => {
    const t = await setup();
    await t.until('status bar', (f) => f.includes('fake-model') && f.includes('fake adapter') && f.includes('ctx 0/128'));
    await t.type('hello there');
    await t.until('typed text', (f) => f.includes('hello there'));
    await t.type('\r');
    await t.until('send', () => t.session.sent.length === 1);
    assert.deepEqual(t.session.sent, ['hello there']);
    t.session.token('Hi');
    await t.until('first token', (f) => f.includes('Hi') && f.includes('generating'));
    t.session.token(' friend');
    await t.until('second token', (f) => f.includes('Hi friend'));
    t.session.finish();
    await t.until('done', (f) => !f.includes('generating') && f.includes('Hi friend') && f.includes('42.0 tok/s') && f.includes('ctx 19/128'));
  });

  it('ignores empty input', async () => {
    const t = await setup();
    await t.type('   ');
    await t.type('\r');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(t.session.sent.length, 0);
  });

  it('Esc stops the answer without leaving; the input keeps working while generating', async () => {
    const t = await setup();
    await t.type('count to ten');
    await t.type('\r');
    t.session.token('one two');
    await t.until('token', (f) => f.includes('one two'));
    await t.type('/temp 0.2'); // typing while the answer streams
    await t.until('typed while generating', (f) => f.includes('/temp 0.2'));
    await t.type('\r');
    await t.until('temperature changed during generation', () => t.session.settings.temperature === 0.2);
    await t.type(ESC);
    await t.until('stopped', (f) => f.includes('(stopped)') && !f.includes('generating'));
    assert.equal(t.session.stopCalls, 1);
    assert.equal(t.exited(), 0);
    assert.match(t.frame(), /one two/);
  });

  it('slash commands change the settings; /mtp needs MTP layers; unknown commands get a notice', async () => {
    const t = await setup();
    for (const cmd of ['/temp 0', '/top-p 0.9', '/max-tokens 64', '/think off', '/system be brief']) {
      await t.type(cmd);
      await t.type('\r');
    }
    await t.until('settings', () => t.session.settings.system === 'be brief');
    assert.equal(t.session.settings.temperature, 0);
    assert.equal(t.session.settings.topP, 0.9);
    assert.equal(t.session.settings.maxTokens, 64);
    assert.equal(t.session.settings.think, false);
    await t.until('status bar shows settings', (f) => f.includes('temp 0') && f.includes('think off'));
    await t.type('/mtp off');
    await t.type('\r');
    await t.until('mtp off notice', (f) => /MTP drafting off/.test(f));
    assert.equal(t.session.settings.mtp, false);
    await t.type('/mtp on');
    await t.type('\r');
    await t.until('mtp notice', (f) => /this model has no MTP layers/.test(f));
    assert.equal(t.session.settings.mtp, false);
    await t.type('/mtp greedy');
    await t.type('\r');
    await t.until('mtp greedy refused', (f) => (f.match(/this model has no MTP layers/g) ?? []).length === 2);
    assert.equal(t.session.settings.mtp, false);
    t.session.info = { ...t.session.info, mtpLayers: 2 };
    await t.type('/mtp on');
    await t.type('\r');
    await t.until('mtp on notice', (f) => /MTP drafting on with 2 modules/.test(f));
    assert.equal(t.session.settings.mtp, true);
    await t.until('status bar shows mtp', (f) => f.includes('mtp on'));
    // a number of modules, as --mtp N: the first N; more than the model has is refused
    await t.type('/mtp 1');
    await t.type('\r');
    await t.until('mtp 1 notice', (f) => /MTP drafting on with the first 1 module of 2/.test(f));
    assert.equal(t.session.settings.mtp, 1);
    await t.type('/mtp');
    await t.type('\r');
    await t.until('mtp shown', (f) => /mtp on \(the first 1 of 2 modules\)/.test(f));
    await t.type('/mtp 3');
    await t.type('\r');
    await t.until('mtp 3 refused', (f) => /the model has 2 MTP modules/.test(f));
    assert.equal(t.session.settings.mtp, 1);
    await t.type('/mtp 2');
    await t.type('\r');
    await t.until('mtp 2 notice', (f) => /MTP drafting on with 2 modules/.test(f));
    assert.equal(t.session.settings.mtp, true);
    // the default: drafting for greedy answers only (the temperature is 0 here: the bar says on)
    await t.type('/mtp greedy');
    await t.type('\r');
    await t.until('mtp greedy notice', (f) => /MTP drafting for greedy answers/.test(f));
    assert.equal(t.session.settings.mtp, 'greedy');
    await t.type('/mtp');
    await t.type('\r');
    await t.until('mtp greedy shown', (f) => /mtp greedy \(2 modules: drafts when the temperature is 0\)/.test(f));
    await t.type('/frobnicate');
    await t.type('\r');
    await t.until('unknown command notice', (f) => f.includes('unknown command /frobnicate'));
    await t.type('/temp hot');
    await t.type('\r');
    await t.until('bad value notice', (f) => f.includes('/temp needs a number'));
    assert.equal(t.session.sent.length, 0, 'slash commands are never sent to the model');
  });

  it('/save, /load, /reset, /model, /stats and /help', async () => {
    const t = await setup();
    await t.type('/save conv.jsonl\r');
    await t.until('nothing to save', (f) => f.includes('/save: nothing to save'));
    assert.equal(t.session.saved.length, 0);
    await t.type('/load conv.jsonl\r');
    await t.until('loaded', (f) => f.includes('loaded question') && f.includes('loaded answer'));
    await t.type('/reset\r');
    // finished lines stay in the scrollback; the new conversation starts under a marker
    await t.until('reset', (f) => f.includes('new conversation') && !since(f, 'new conversation').includes('loaded question'));
    await t.type('/model other\r');
    await t.until('model switched', (f) => f.includes('model other loaded') && f.includes('│ fake adapter'));
    await t.type('/stats\r');
    await t.until('stats', (f) => f.includes('no answer yet'));
    await t.type('/help\r');
    await t.until('help', (f) => f.includes('/max-tokens [N]') && f.includes('/set NAME VALUE') && f.includes('Ctrl-T'));
  });

  it('/reset while an answer streams: the answer stops, nothing of it stays, the next turn starts clean', async () => {
    const t = await setup();
    await t.type('first question\r');
    t.session.token('partial answ');
    await t.until('streaming', (f) => f.includes('partial answ') && f.includes('generating'));
    await t.type('queued message\r');
    await t.until('queued', (f) => f.includes('1 queued'));
    await t.type('/reset\r');
    await t.until('reset', (f) => f.includes('new conversation') && !f.includes('generating'));
    assert.ok(!t.frame().includes('partial answ'), 'the discarded answer was never printed:\n' + t.frame());
    assert.ok(t.frame().indexOf('first question') < t.frame().indexOf('new conversation'));
    assert.deepEqual(t.session.messages, [], 'a reset conversation is empty');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(t.session.sent, ['first question'], 'the queued message belonged to the old conversation');
    await t.type('second question\r');
    await t.until('second sent', () => t.session.sent.length === 2);
    t.session.token('fresh');
    t.session.finish();
    await t.until('second answer', (f) => f.includes('fresh') && !f.includes('generating'));
    assert.deepEqual(t.session.messages, [
      { role: 'user', content: 'second question' },
      { role: 'assistant', content: 'fresh' },
    ]);
    assert.ok(!t.frame().includes('partial answ'));
    await t.type('/save out.jsonl\r');
    await t.until('saved', (f) => f.includes('saved 2 messages'));
    assert.deepEqual(t.session.saved, [t.session.messages]);
  });

  it('/save and /model typed while an answer streams wait for it; /temp acts at once', async () => {
    const t = await setup();
    await t.type('hello\r');
    t.session.token('hi the');
    await t.until('streaming', (f) => f.includes('hi the'));
    await t.type('/save conv.jsonl\r');
    await t.type('/model other\r');
    await t.type('/temp 0.3\r');
    await t.until('temp now', () => t.session.settings.temperature === 0.3);
    await t.until('two queued', (f) => f.includes('2 queued'));
    assert.equal(t.session.saved.length, 0);
    assert.equal(t.session.info.model, 'fake-model');
    t.session.token('re');
    t.session.finish();
    await t.until('saved after the answer', (f) => f.includes('saved 2 messages to conv.jsonl') && f.includes('model other loaded'));
    assert.deepEqual(t.session.saved, [
      [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: 'hi there' },
      ],
    ]);
  });

  it('slash-command hints and Tab completion; ↑ recalls history', async () => {
    const t = await setup();
    await t.type('/th');
    await t.until('hint', (f) => f.includes('/think [on|off]'));
    await t.type('\t');
    await t.type('off\r');
    await t.until('completed command ran', () => t.session.settings.think === false);
    await t.type(UP);
    await t.until('history', (f) => f.includes('/think off'));
  });

  it('reasoning is shown dimmed and folds with Ctrl-T (the live answer and what is printed from then on)', async () => {
    const t = await setup();
    await t.type('why?\r');
    t.session.token('<think>');
    t.session.token('let me see\nstep two');
    await t.until('thinking', (f) => f.includes('thinking…') && f.includes('let me see'));
    t.session.token('</think>');
    t.session.token('Because **reasons**.');
    t.session.finish();
    await t.until('answer', (f) => f.includes('reasoning (2 lines)') && f.includes('Because reasons.') && !f.includes('generating'));
    assert.ok(t.frame().includes('let me see'));
    await t.type(CTRL_T);
    await t.type('again?\r');
    t.session.token('<think>');
    t.session.token('hidden thought');
    await t.until('folded while streaming', (f) => f.includes('▸ thinking…') && !f.includes('hidden thought'));
    t.session.token('</think>Fine.');
    t.session.finish();
    await t.until('printed folded', (f) => since(f, 'again?').includes('▸ reasoning (1 line)') && f.includes('Fine.') && !f.includes('hidden thought'));
    await t.type(CTRL_T);
    await t.type('more?\r');
    t.session.token('<think>shown thought</think>Ok.');
    t.session.finish();
    await t.until('unfolded', (f) => f.includes('shown thought') && f.includes('Ok.'));
  });

  it('markdown: code blocks, lists; control characters never reach the screen', async () => {
    const t = await setup();
    await t.type('show\r');
    t.session.token('Steps:\n- first\n- second\n1. one\n```js\nconst x = 1;\n```\nbad\u001b[2Jchar\u0007s');
    t.session.finish();
    const f = await t.until('markdown', (f) => f.includes('• first'));
    assert.ok(f.includes('• second') && f.includes('1. one') && f.includes('const x = 1;'));
    assert.ok(!f.includes('```'));
    assert.ok(f.includes('badchars'));
    assert.ok(!f.includes('\u0007') && !f.includes('[2J'));
  });

  it('keys that arrive in one read (text, Tab, Enter) are replayed in order', async () => {
    const t = await setup();
    t.ui.stdin.write('/sta\t\r');
    await t.until('stats from one chunk', (f) => f.includes('no answer yet'));
  });

  it('the layout follows a terminal resize', async () => {
    const t = await setup();
    const inputTop = () => t.frame().split('\n').find((l) => l.startsWith('╭')) ?? '';
    await t.until('first frame', () => inputTop().length === 100);
    Object.defineProperty(t.ui.stdout, 'columns', { get: () => 60, configurable: true });
    t.ui.stdout.emit('resize');
    await t.until('narrower frame', () => inputTop().length === 60);
  });

  it('the first screen says what the model is for, from its card, with an example', async () => {
    const t = await setup({ card: { summary: 'Adds small numbers in its head.', example: 'What is 2 + 3?' } });
    await t.until('welcome', (f) => f.includes('ponder chat · fake-model') && f.includes('Adds small numbers in its head.') && f.includes('Try: What is 2 + 3?'));
  });

  it('a cut answer is marked [max tokens] or [context full]; one that ended by itself is not', async () => {
    const t = await setup();
    await t.type('long one\r');
    t.session.token('and so on');
    t.session.finish('length');
    await t.until('max tokens mark', (f) => f.includes('and so on') && f.includes('[max tokens]'));
    await t.type('longer\r');
    await t.until('sent', () => t.session.sent.length === 2);
    t.session.token('forever');
    t.session.finish('context');
    await t.until('context mark', (f) => since(f, 'forever').includes('[context full]'));
    await t.type('short\r');
    await t.until('sent', () => t.session.sent.length === 3);
    t.session.token('done.');
    t.session.finish();
    await t.until('no mark', (f) => f.includes('done.') && !f.includes('generating'));
    assert.ok(!since(t.frame(), 'done.').includes('['), since(t.frame(), 'done.'));
  });

  it('finished turns are printed once, in order, and stay (scrollback), however many there are', async () => {
    const t = await setup();
    for (let i = 1; i <= 14; i++) {
      await t.type(`question ${i}\r`);
      await t.until(`sent ${i}`, () => t.session.sent.length === i);
      t.session.token(`answer number ${i}`);
      t.session.finish();
      await t.until(`answer ${i}`, (f) => f.includes(`answer number ${i}`) && !f.includes('generating'));
    }
    const f = t.frame();
    for (let i = 1; i <= 14; i++) assert.equal(f.split(`answer number ${i}\n`).length - 1, 1, `answer ${i} printed once`);
    assert.ok(f.indexOf('question 1\n') < f.indexOf('answer number 1\n') && f.indexOf('answer number 13') < f.indexOf('question 14'));
  });

  it('a long streamed answer shows only its newest lines (the live frame fits the terminal); all of it is printed at the end', async () => {
    const t = await setup();
    await t.type('many lines\r');
    const rows = Array.from({ length: 60 }, (_, i) => `row-${String(i + 1).padStart(3, '0')}`);
    t.session.token(rows.join('\n'));
    const live = await t.until('tail', (f) => f.includes('row-060') && f.includes('earlier lines'));
    assert.ok(!live.includes('row-001'), 'the oldest rows are not in the live frame');
    assert.ok(live.split('\n').length < 24, `live frame of ${live.split('\n').length} rows`);
    t.session.finish();
    const done = await t.until('printed', (f) => !f.includes('generating') && f.includes('row-001'));
    for (const r of rows) assert.ok(done.includes(r), r);
  });

  it('the status bar counts the context live while streaming; /stats gives the time to first token', async () => {
    const t = await setup();
    await t.type('count\r');
    t.session.token('a');
    t.session.token('b');
    t.session.token('c');
    await t.until('live ctx', (f) => f.includes('ctx 13/128') && f.includes('generating'));
    t.session.finish();
    await t.until('done', (f) => !f.includes('generating'));
    await t.type('/stats\r');
    await t.until('ttft', (f) => f.includes('first token after 12 ms'));
  });

  it('a bracketed paste stays one message (its newlines kept); Ctrl-J adds a new line', async () => {
    const t = await setup();
    t.ui.stdin.write('\u001b[200~first line\rsecond line\nthird\u001b[201~');
    await t.until('pasted', (f) => f.includes('second line') && f.includes('third'));
    assert.equal(t.session.sent.length, 0, 'the paste itself sends nothing');
    await t.type('\r');
    await t.until('sent', () => t.session.sent.length === 1);
    assert.deepEqual(t.session.sent, ['first line\nsecond line\nthird']);
    t.session.finish();
    await t.until('idle', (f) => !f.includes('generating'));
    await t.type('one');
    t.ui.stdin.write('\n'); // Ctrl-J
    await new Promise((r) => setTimeout(r, 20));
    await t.type('two\r');
    await t.until('sent two lines', () => t.session.sent.length === 2);
    assert.equal(t.session.sent[1], 'one\ntwo');
  });

  it('/set and /show cover every sampling setting; a command without a value shows it', async () => {
    const t = await setup();
    await t.type('/temp\r');
    await t.until('temp shown', (f) => f.includes('· temperature 0.7'));
    for (const cmd of ['/set top-k 5', '/set min-p 0.05', '/set seed 9', '/set temperature 0', '/set max-tokens 32', '/set think off', '/set system be terse', '/set top-p 0.8']) {
      await t.type(cmd + '\r');
    }
    await t.until('all set', () => t.session.settings.topP === 0.8);
    const s = t.session.settings;
    assert.deepEqual([s.topK, s.minP, s.seed, s.temperature, s.maxTokens, s.think, s.system], [5, 0.05, 9, 0, 32, false, 'be terse']);
    await t.type('/show\r');
    const shown = ['temperature 0 (greedy)', 'top-p 0.8', 'top-k 5', 'min-p 0.05', 'max-tokens 32', 'seed 9', 'think off', 'mtp off (the model has no MTP layers)', 'system "be terse"'];
    await t.until('show', (f) => since(f, '· temperature 0 (greedy)').includes(shown.join('\n')));
    await t.type('/set top-k off\r');
    await t.type('/max-tokens auto\r');
    await t.until('unset', () => t.session.settings.topK === undefined && t.session.settings.maxTokens === undefined);
    await t.type('/top-k\r');
    await t.until('top-k shown', (f) => f.includes('· top-k off'));
    await t.type('/set warmth 3\r');
    await t.until('unknown setting', (f) => f.includes('/set: unknown setting "warmth"'));
    await t.type('/set seed -1\r');
    await t.until('bad seed', (f) => f.includes('/set seed needs a non-negative integer'));
    assert.equal(t.session.sent.length, 0);
  });

  it('a line longer than the input shows the part around the cursor', async () => {
    const t = await setup();
    const long = 'start-' + 'x'.repeat(150) + '-end';
    await t.type(long);
    await t.until('end visible', (f) => f.includes('-end') && !f.includes('start-'));
    await t.type('\u001b[H'); // Home
    await t.until('start visible', (f) => f.includes('start-') && !f.includes('-end'));
    const inputLines = t.frame().split('\n').filter((l) => l.startsWith('│'));
    assert.equal(inputLines.length, 1, 'one row');
  });

  it('input history comes from and goes to the given store (persistent across sessions in the CLI)', async () => {
    const saved: string[] = [];
    const history: InputHistory = { entries: ['from last time'], add: (l) => saved.push(l) };
    const t = await setup({ history });
    await t.type(UP);
    await t.until('old entry', (f) => f.includes('from last time'));
    await t.type(' again\r');
    await t.until('sent', () => t.session.sent.length === 1);
    assert.deepEqual(saved, ['from last time again']);
  });

  it('Ctrl-D and /exit leave', async () => {
    const a = await setup();
    await a.type(CTRL_D);
    assert.equal(a.exited(), 1);
    cleanup();
    const b = await setup();
    await b.type('/exit\r');
    await b.until('exit', () => b.exited() === 1);
  });
});
