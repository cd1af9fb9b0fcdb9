import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import { loadStageExamples, tokenizeExamples } from '../../src/data/batches.js';
import { loadHfTokenizer } from '../../src/data/hf-tokenizer.js';
import { parseRecipe } from '../../src/recipe/load.js';
import { fillDerivedSeqLens, formatDerivedSeqLen, SEQ_LEN_MULTIPLE, seqLenFor } from '../../src/recipe/seq-len.js';
import { randomWeights, TINY_TOKENIZER_DIR, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';
import { runPonder } from '../helpers/cli.js';

/**
 * A pretrain, sft or dpo stage without `seq_len` gets it from its data: the longest example's tokens
 * minus one (a row of T tokens trains targets 1..T), rounded up to a multiple of 8, at most the
 * model's context. Checked as properties of the tokenized data: every example fits whole (unless the
 * context cuts it), and a multiple of 8 less would not hold the longest one.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-seq-len-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

const scratch = (context: number) => `model: {init: scratch, config: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: ${context}}}\n`;
function recipe(model: string, stage: string) {
  return parseRecipe(`${model}output: ${join(tmp, 'out')}\nstages:\n  - ${stage}\n`, join(tmp, `r-${n++}.yaml`));
}

/** The derived seq_len holds the longest example whole and is the smallest multiple of 8 that does. */
function assertTight(seqLen: number, lengths: number[]): void {
  const longest = Math.max(...lengths);
  assert.equal(seqLen % SEQ_LEN_MULTIPLE, 0, `seq_len ${seqLen}`);
  for (const L of lengths) assert.ok(L - 1 <= seqLen, `an example of ${L} tokens fits in ${seqLen}`);
  assert.ok(longest - 1 > seqLen - SEQ_LEN_MULTIPLE, `${seqLen - SEQ_LEN_MULTIPLE} would hold the longest (${longest}) too`);
}

describe('seq_len from the data', () => {
  it('seqLenFor: the longest row rounded up to a multiple of 8, within the context', () => {
    assert.equal(seqLenFor(20, 64), 24); // 19 tokens of row
    assert.equal(seqLenFor(25, 64), 24); // exactly 24
    assert.equal(seqLenFor(26, 64), 32);
    assert.equal(seqLenFor(2, 64), 8);
    assert.equal(seqLenFor(500, 64), 64);
    assert.equal(seqLenFor(60, 60), 60); // 59 rounds to 64, over the context
  });

  it('a pretrain text file: its longest document decides, and the mark stays for the hash', async () => {
    const docs = ['a short one', 'x'.repeat(37) + ' the longest of the three documents', 'mid length text here'];
    const path = join(tmp, 'docs.txt');
    writeFileSync(path, docs.join('\n\n') + '\n');
    const { recipe: r, hash } = recipe(scratch(128), `{name: pre, kind: pretrain, data: ${path}, steps: 2, batch_size: 2}`);
    assert.equal(r.stages[0]!.seq_len, 128, 'the context until the data are read');
    const derived = await fillDerivedSeqLens(r);
    const lengths = tokenizeExamples(new ByteTokenizer(), loadStageExamples(r.stages[0]!.data, 'pretrain', 0)).map((e) => e.tokens.length);
    assert.equal(lengths.length, 3);
    assertTight(r.stages[0]!.seq_len, lengths);
    assert.deepEqual(derived, [{ stage: 'pre', seq_len: r.stages[0]!.seq_len, longest: Math.max(...lengths), capped: false }]);
    assert.equal(r.stages[0]!.seq_len_auto, true);
    assert.match(formatDerivedSeqLen(derived[0]!), /^stage "pre": seq_len \d+ from the data \(the longest example has \d+ tokens\)$/);
    // the hash says 'auto': not the hash of the same recipe with the context (or the derived value) written
    const written = recipe(scratch(128), `{name: pre, kind: pretrain, data: ${path}, steps: 2, batch_size: 2, seq_len: 128}`);
    assert.notEqual(hash, written.hash);
  });

  it('sft task data longer than the context: seq_len is the context, marked as cut', async () => {
    const { recipe: r } = recipe(scratch(40), '{name: chat, kind: sft, data: {task: arithmetic, n: 16, digits: 3, cot: true}, steps: 2, batch_size: 2}');
    const [d] = await fillDerivedSeqLens(r);
    assert.equal(d!.seq_len, 40);
    assert.equal(d!.capped, true);
    assert.ok(d!.longest > 41);
    assert.match(formatDerivedSeqLen(d!), /seq_len 40 from the data \(the model's context; the longest example has \d+ tokens and is cut\)$/);
  });

  it('a written seq_len is kept and not marked', async () => {
    const { recipe: r } = recipe(scratch(64), '{name: chat, kind: sft, data: {task: arithmetic, n: 16, digits: 1}, steps: 2, batch_size: 2, seq_len: 48}');
    assert.deepEqual(await fillDerivedSeqLens(r), []);
    assert.equal(r.stages[0]!.seq_len, 48);
    assert.equal(r.stages[0]!.seq_len_auto, undefined);
  });

  it('a dpo pairs file: the longer side of the longest pair, prompt included', async () => {
    const path = join(tmp, 'pairs.jsonl');
    writeFileSync(path, ['{"prompt": "12+30=", "chosen": "42", "rejected": "41 and then a long tail of text"}', '{"prompt": "1+1=", "chosen": "2", "rejected": "3"}'].join('\n') + '\n');
    const { recipe: r } = recipe(scratch(256), `{name: pref, kind: dpo, data: ${path}, steps: 2, batch_size: 1}`);
    const [d] = await fillDerivedSeqLens(r);
    // with the byte tokenizer the long rejected side is the longest row; a short pair fits easily
    assert.ok(d!.longest > '12+30=41 and then a long tail of text'.length, `${d!.longest}`);
    assertTight(d!.seq_len, [d!.longest, 10]);
  });

  it("an HF model's sft data are measured with its own tokenizer", async () => {
    const config = tinyConfig('llama', { max_position_embeddings: 256 });
    const model = writeHfModel(join(tmp, 'hf'), config, randomWeights(config, 1));
    const data = join(tmp, 'chat.jsonl');
    writeFileSync(data, ['{"messages":[{"role":"user","content":"2+3="},{"role":"assistant","content":"5"}]}', '{"messages":[{"role":"user","content":"what is 17 plus 25? answer with the number"},{"role":"assistant","content":"42"}]}'].join('\n') + '\n');
    const { recipe: r } = recipe(`model: {init: ${model}}\n`, `{name: chat, kind: sft, data: ${data}, steps: 2, batch_size: 2}`);
    const [d] = await fillDerivedSeqLens(r);
    const tok = await loadHfTokenizer(TINY_TOKENIZER_DIR);
    const lengths = tokenizeExamples(tok, loadStageExamples(r.stages[0]!.data, 'sft', 0)).map((e) => e.tokens.length);
    assert.equal(d!.longest, Math.max(...lengths));
    assertTight(d!.seq_len, lengths);
  });

  it('tune --check prints the derived seq_len and plans with it (no GPU)', () => {
    const path = join(tmp, 'check.yaml');
    writeFileSync(path, `${scratch(64)}output: ${join(tmp, 'check-out')}\nstages:\n  - {name: pre, kind: pretrain, data: {task: arithmetic, n: 16, digits: 1}, steps: 2, batch_size: 4}\n`);
    const r = runPonder(['tune', path, '--check'], { env: { VK_ICD_FILENAMES: '/nonexistent/icd.json' } });
    assert.equal(r.code, 0, r.stderr);
    const m = /^stage "pre": seq_len (\d+) from the data \(the longest example has \d+ tokens\)$/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.match(r.stdout, new RegExp(`^stage 1 pre \\(pretrain\\): .* 2 steps x 4x${m[1]} = `, 'm'));
    const j = runPonder(['tune', path, '--check', '--json'], { env: { VK_ICD_FILENAMES: '/nonexistent/icd.json' } });
    assert.equal(j.code, 0, j.stderr);
    const stage = JSON.parse(j.stdout).plan.stages[0];
    assert.equal(stage.seq_len, Number(m[1]));
    assert.equal(stage.seq_len_auto, true);
  });
});
