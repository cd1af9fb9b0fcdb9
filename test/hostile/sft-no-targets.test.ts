/**
 * An SFT stage whose seq_len cuts the answers off its examples trains nothing: every target of such a
 * row is ignored, the loss reads 0 and nothing warns. `tune --check` and the stage's start refuse a
 * stage where no example keeps a target, and warn when more than a tenth lose theirs.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coverageIssue, targetCoverage, tokenizeExamples } from '../../src/data/batches.js';
import { ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import { runPonder } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ponder-no-targets-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const chat = (q: string, a: string) => ({ kind: 'sft' as const, messages: [{ role: 'user' as const, content: q }, { role: 'assistant' as const, content: a }] });

/** The tiny fixture with its chat stage's seq_len replaced and its output in tmp. */
function recipe(name: string, seqLen: number, data?: string): string {
  let text = readFileSync(join(ROOT, 'test/fixtures/recipes/tiny-train.yaml'), 'utf8').replace(/^output: .*$/m, `output: ${join(tmp, name)}`).replace('seq_len: 40', `seq_len: ${seqLen}`);
  if (data) text = text.replace('data: {task: arithmetic, n: 32, digits: 1}', `data: ${data}`);
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(path, text);
  return path;
}

describe('an SFT stage that cuts off its answers', () => {
  it('targetCoverage counts the examples that keep a trained token within T', () => {
    const ex = tokenizeExamples(new ByteTokenizer(), [chat('hi', 'yo'), chat('a much longer question than the other', 'ok')]);
    const short = ex[0]!.tokens.length;
    assert.deepEqual(targetCoverage(ex, 200), { kept: 2, total: 2 });
    assert.deepEqual(targetCoverage(ex, short - 1), { kept: 1, total: 2 });
    assert.deepEqual(targetCoverage(ex, 4), { kept: 0, total: 2 });
    assert.match(coverageIssue('s', { kept: 0, total: 2 }, 4).error!, /seq_len 4 cuts every one of its 2 examples/);
    assert.match(coverageIssue('s', { kept: 1, total: 2 }, 9).warning!, /cuts 1 of 2 examples \(50\.0%\)/);
    assert.deepEqual(coverageIssue('s', { kept: 19, total: 20 }, 9), {});
  });

  it('tune --check refuses a stage that would train nothing (one line, exit 1)', () => {
    const r = runPonder(['tune', '--check', recipe('none', 12)]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.stderrLines.filter((l) => !l.startsWith('Warning:')), ['ponder: error: stage "chat": seq_len 12 cuts every one of its 32 examples before its answer, so it would train nothing; raise seq_len or shorten the prompts']);
  });

  it('tune refuses it at the stage start, before its first step, without a final model', () => {
    const r = runPonder(['tune', '--plain', recipe('none-run', 12)], { timeoutMs: 120_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /stage "chat": seq_len 12 cuts every one of its 32 examples/);
    assert.ok(!existsSync(join(tmp, 'none-run', 'final')));
  });

  it('tune --check warns when more than a tenth of the examples lose their answers', () => {
    const data = join(tmp, 'mixed.jsonl');
    const lines = [chat('2+2?', '4'), ...Array.from({ length: 3 }, (_, i) => chat(`${'a very long question that does not fit '.repeat(2)}${i}`, 'x'))];
    writeFileSync(data, lines.map((l) => JSON.stringify({ messages: l.messages })).join('\n') + '\n');
    const r = runPonder(['tune', '--check', recipe('mixed', 40, JSON.stringify(data))]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderrLines.some((l) => /^warning: stage "chat": seq_len 40 cuts 3 of 4 examples \(75\.0%\)/.test(l)), r.stderr);
  });
});
