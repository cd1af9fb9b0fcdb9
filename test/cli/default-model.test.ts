import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelsDir } from '../../src/paths.js';
import { runPonder } from '../helpers/cli.js';

/**
 * The bundled model (models/default, made by `ponder tune recipes/default-model.yaml`): it is found
 * without --model, it loads, it reasons in a <think> block and answers, it can be told not to think,
 * it still does the arithmetic it was trained on, and its MTP module drafts tokens the trunk mostly
 * accepts. The accuracy and acceptance floors sit well under what the
 * model card reports (measured with `ponder eval`), so it fails on a broken model, not on noise:
 * greedy decoding is deterministic.
 */
const dir = join(modelsDir, 'default');

interface Answer {
  text: string;
  stats: { new_tokens: number; stop_reason: string };
}

describe('the bundled default model', () => {
  it('is a ponder model directory with a model card and the byte tokenizer', () => {
    for (const f of ['config.json', 'weights.msgpack', 'README.md']) assert.ok(existsSync(join(dir, f)), `models/default/${f}`);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(config.ponder?.tokenizer, 'bytes');
  });

  it('chat without --model: "What is 23 + 45?" is worked out in a reasoning block and answered 68', () => {
    const r = runPonder(['chat', '--prompt', 'What is 23 + 45?', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const a: Answer = JSON.parse(r.stdout);
    const m = /^<think>\n([\s\S]+)\n<\/think>\n([\s\S]+)$/.exec(a.text);
    assert.ok(m, `a reasoning block, then the answer: ${JSON.stringify(a.text)}`);
    assert.match(m[1]!, /3 \+ 5 = 8[\s\S]*2 \+ 4 = 6/, 'the columns, ones first');
    assert.match(m[2]!, /\b68\b/);
    assert.equal(a.stats.stop_reason, 'stop');
  });

  it('says what it is, and that it only does arithmetic', () => {
    const reply = (prompt: string) => {
      const r = runPonder(['chat', '--prompt', prompt, '--json']);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as Answer).text.replace(/^<think>[\s\S]*?<\/think>\s*/, '');
    };
    const about = reply('who are you?');
    assert.match(about, /ponder|tiny|small/i);
    assert.match(about, /arithmetic|numbers|sums/i);
    assert.match(reply('What is the capital of France?'), /only (know|do) (arithmetic|sums)/i);
  });

  it('--no-think: no reasoning, only the answer', () => {
    const r = runPonder(['chat', '--prompt', 'What is 12 + 7?', '--temperature', '0', '--no-think', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const a: Answer = JSON.parse(r.stdout);
    assert.doesNotMatch(a.text, /<think>|\n.*\n.*\n/, 'one short answer');
    assert.equal(a.stats.stop_reason, 'stop');
  });

  it('its MTP module drafts: generate --mtp gives the plain greedy text, most drafts accepted', () => {
    const args = ['generate', '--prompt', 'What is 47 + 38?', '--max-tokens', '64', '--json'];
    const plain = runPonder([...args, '--temperature', '0']);
    const drafted = runPonder([...args, '--mtp']);
    assert.equal(drafted.code, 0, drafted.stderr);
    const a = JSON.parse(plain.stdout);
    const b = JSON.parse(drafted.stdout);
    assert.equal(b.text, a.text);
    assert.ok(b.stats.mtp.acceptance >= MIN_MTP_ACCEPTANCE, `MTP acceptance ${b.stats.mtp.acceptance} < ${MIN_MTP_ACCEPTANCE}`);
    assert.ok(b.stats.mtp.rounds < b.stats.new_tokens - 1, 'fewer trunk passes than tokens');
  });

  it("does the arithmetic task's default level (ponder eval, greedy, held-out problems)", () => {
    const r = runPonder(['eval', '--n', '30', '--seed', '3', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(s.n, 30);
    assert.ok(s.accuracy >= MIN_DEFAULT_LEVEL, `accuracy ${s.accuracy} < ${MIN_DEFAULT_LEVEL}`);
  });
});

/** Set from the model card's figures with a wide margin (see models/default/README.md). */
const MIN_DEFAULT_LEVEL = 0.9;
const MIN_MTP_ACCEPTANCE = 0.8;
