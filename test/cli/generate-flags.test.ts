import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder generate` on the bundled model (byte tokenizer, a reasoning block, one MTP module): --json
 * gives the reasoning and the content apart (and `text`, all of it, as before); --think/--no-think
 * reach the chat template; --mtp is on by default for a model with MTP layers and --no-mtp turns it
 * off, with the same greedy text; the default answer budget is half the context; a cut answer says so.
 */
interface Answer {
  text: string;
  reasoning?: string;
  content: string;
  cut?: string;
  stats: { new_tokens: number; prompt_tokens: number; stop_reason: string; mtp?: { rounds: number } };
}

function json(args: string[]): Answer {
  const r = runPonder(['generate', '--prompt', 'What is 3 + 4?', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('generate flags', () => {
  it('--json: reasoning and content apart; --no-think: no reasoning; --mtp default on, --no-mtp the same text', () => {
    const a = json([]);
    assert.equal(typeof a.reasoning, 'string');
    assert.ok(a.reasoning!.length > 0 && a.content.length > 0, JSON.stringify(a));
    assert.ok(!a.content.includes('think>') && !a.reasoning!.includes('think>'));
    assert.ok(a.text.includes(a.reasoning!) && a.text.trimEnd().endsWith(a.content.trimEnd()), JSON.stringify(a));
    assert.ok(a.stats.mtp && a.stats.mtp.rounds > 0, 'MTP drafting is on by default for a model with MTP layers');
    assert.ok(a.stats.new_tokens <= 256, 'default budget: half of the 512-token context');
    const plain = json(['--no-mtp']);
    assert.equal(plain.stats.mtp, undefined);
    assert.equal(plain.text, a.text, 'greedy: drafting changes nothing but speed');
    const noThink = json(['--no-think']);
    assert.equal(noThink.reasoning, undefined);
    assert.equal(noThink.content, noThink.text);
    assert.ok(noThink.stats.prompt_tokens > a.stats.prompt_tokens, 'the empty reasoning block is in the prompt');
    assert.deepEqual(json(['--think']).text, a.text);
  });

  it('a cut answer is marked: [max tokens] in --json and on stderr', () => {
    const a = json(['--max-tokens', '3']);
    assert.equal(a.stats.stop_reason, 'length');
    assert.equal(a.cut, '[max tokens]');
    assert.equal(a.reasoning !== undefined, true, 'cut inside the reasoning block');
    const r = runPonder(['generate', '--prompt', 'What is 3 + 4?', '--max-tokens', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[max tokens\] the answer was cut after 3 tokens/);
    const whole = json(['--max-tokens', '120']);
    assert.equal(whole.cut, undefined);
    assert.equal(whole.stats.stop_reason, 'stop');
  });
});
