import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTrainingGrid } from '../../src/cli/tune-preflight.js';
import { PonderError } from '../../src/errors.js';
import { checkInferenceGrid, matmulCover } from '../../src/model/limits.js';
import type { MatmulConfig } from '../../src/ops/matmul-configs.js';
import { parseRecipe } from '../../src/recipe/load.js';
import { runPonder } from '../helpers/cli.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * Limits that used to surface only as a kernel's "a grid of … workgroups exceeds …": a vocabulary of
 * millions over a small hidden size (the lm_head matmul), a batch of 100000 sequences (the attention
 * grid is sequences × kv heads), a server with tens of thousands of slots. Each is refused up front
 * in the config's or the recipe's terms, with the most the adapter takes, before a weight is read
 * or built.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-grid-limits-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const LIMITS = { maxComputeWorkgroupsPerDimension: 65535, maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 32 };
/** Columns a workgroup covers: tiled 64, subgroup 256, gemv 32 and 256, gemvSubgroup 4 (the fewest); rows: tiled 64, subgroup 32. */
const CFG: MatmulConfig = {
  kernel: 'subgroup',
  smallM: 8,
  smallMKernel: 'gemvSubgroup',
  subgroup: { wg: 64, rows: 32, colQuads: 1 },
  tiled: { tx: 16, ty: 16, bk: 16 },
  gemv: { cols: 32, threadsPerCol: 8, wgKN: 64 },
  gemvSubgroup: { wg: 8, cols: 4 },
};

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PonderError && e.code === 'DEVICE_LIMIT' && !e.message.includes('\n') && pattern.test(e.message), String(pattern));
}

describe('grid limits in the model\'s and the recipe\'s terms', () => {
  it('the fewest columns and rows any matmul kernel covers', () => {
    assert.deepEqual(matmulCover(CFG), { columns: 4, rows: 32 });
  });

  it('inference: vocab_size, a width, sequences decoded together and the context', () => {
    // hidden 8: chunks of 2^27 / 32 = 4,194,304 rows; 65,535 × 4 columns = 262,140
    const big = tinyConfig('llama', { vocab_size: 5_000_000, hidden_size: 8, num_attention_heads: 1, num_key_value_heads: 1, head_dim: 8 });
    refuses(() => checkInferenceGrid(big, LIMITS, CFG), /^vocab_size 5,000,000 is too large for this adapter's matmuls \(at most 262,140: with hidden_size 8 the output layer is split into chunks of 4,194,304 rows, and a matmul covers 65,535 workgroups \(maxComputeWorkgroupsPerDimension\) of 4 columns\)$/);
    // a hidden size that splits the table into chunks of 262,144 rows: one row too many
    refuses(() => checkInferenceGrid({ ...big, hidden_size: 128 }, LIMITS, CFG), /vocab_size 5,000,000 is too large .*chunks of 262,144 rows/);
    checkInferenceGrid({ ...big, hidden_size: 129 }, LIMITS, CFG); // chunks of 260,111 rows fit
    const small = tinyConfig('llama');
    refuses(() => checkInferenceGrid({ ...small, intermediate_size: 262_141 }, LIMITS, CFG), /^intermediate_size 262,141 is too large for this adapter's matmuls \(at most 262,140/);
    checkInferenceGrid(small, LIMITS, CFG, { sequences: 32_767 });
    refuses(() => checkInferenceGrid(small, LIMITS, CFG, { sequences: 32_768 }), /^32,768 sequences decoded together is too many for this adapter's attention \(at most 32,767: one workgroup per sequence and each of num_key_value_heads 2/);
    refuses(() => checkInferenceGrid(small, LIMITS, CFG, { positions: 65_535 * 32 + 1, queryRows: 64 }), /^a context of 2,097,121 positions is too long for this adapter's matmuls \(at most 2,097,120 prompt tokens/);
    // a long context is held against the grid only when the caller fixes one (serve's --context)
    checkInferenceGrid({ ...small, max_position_embeddings: 10_000_000 }, LIMITS, CFG, { queryRows: 4 });
    // 4 query heads on 2 kv heads, 4 query rows a workgroup: 65,535 × 4 / 2 positions
    checkInferenceGrid(small, LIMITS, CFG, { positions: 131_070, queryRows: 4 });
    refuses(() => checkInferenceGrid(small, LIMITS, CFG, { positions: 131_071, queryRows: 4 }), /^a context of 131,071 positions is too long for this adapter's attention \(at most 131,070 with 2 query heads per key-value head, 4 query rows a workgroup\)$/);
  });

  it('training: sequences per forward by stage kind, in the field that sets them', () => {
    const pairs = join(tmp, 'pairs.jsonl');
    writeFileSync(pairs, '{"prompt": "1+1=", "chosen": "2", "rejected": "3"}\n');
    const model = 'model: {init: scratch, config: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 128}}\n';
    const load = (stage: string) => parseRecipe(`${model}output: ${join(tmp, 'o')}\nstages:\n  - ${stage}\n`, join(tmp, 'r.yaml')).recipe;
    const task = '{task: arithmetic, n: 8, digits: 1}';
    const cover = { ...matmulCover(CFG), queryRows: 16 };
    // 2 kv heads: 32,767 sequences per forward
    refuses(() => checkTrainingGrid(load(`{name: s, kind: pretrain, data: ${task}, steps: 1, batch_size: 100000, seq_len: 2}`), LIMITS, cover), /stage 1 \(s\): batch_size 100000 is too large for this adapter's attention \(at most 32,767: one workgroup per sequence/);
    refuses(() => checkTrainingGrid(load(`{name: g, kind: grpo, data: ${task}, steps: 1, batch_size: 5000, group_size: 8, max_new_tokens: 8}`), LIMITS, cover), /stage 1 \(g\): batch_size 5000 \(8 sequences each\) is too large for this adapter's attention \(at most 4,095/);
    refuses(() => checkTrainingGrid(load(`{name: g, kind: grpo, data: ${task}, steps: 1, batch_size: 5000, group_size: 8, micro_batch: 40000, max_new_tokens: 8}`), LIMITS, cover), /stage 1 \(g\): micro_batch 40000 is too large for this adapter's attention \(at most 32,767/);
    checkTrainingGrid(load(`{name: g, kind: grpo, data: ${task}, steps: 1, batch_size: 5000, group_size: 8, micro_batch: 8, max_new_tokens: 8}`), LIMITS, cover);
    refuses(() => checkTrainingGrid(load(`{name: d, kind: dpo, data: ${pairs}, steps: 1, batch_size: 20000, seq_len: 16}`), LIMITS, cover), /stage 1 \(d\): batch_size 20000 \(2 sequences each\) is too large .*at most 16,383/);
    // rows: 30,000 × 64 = 1,920,000 fit; 32,000 × 70 do not (at most 2,097,120)
    checkTrainingGrid(load(`{name: s, kind: sft, data: ${task}, steps: 1, batch_size: 30000, seq_len: 64}`), LIMITS, cover);
    // seq_len in the attention's query rows: 2 query heads per kv head, 1 query row a workgroup
    const longModel = 'model: {init: scratch, config: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 64, max_position_embeddings: 65536}}\n';
    const long = (seqLen: number) => parseRecipe(`${longModel}output: ${join(tmp, 'o')}\nstages:\n  - {name: s, kind: pretrain, data: ${task}, steps: 1, batch_size: 1, seq_len: ${seqLen}}\n`, join(tmp, 'long.yaml')).recipe;
    checkTrainingGrid(long(32_767), LIMITS, { ...cover, queryRows: 1 });
    refuses(() => checkTrainingGrid(long(32_768), LIMITS, { ...cover, queryRows: 1 }), /stage 1 \(s\): seq_len 32768 is too long for this adapter's attention \(at most 32,767 with 2 query heads per key-value head\)$/);
    refuses(() => checkTrainingGrid(load(`{name: s, kind: sft, data: ${task}, steps: 1, batch_size: 32000, seq_len: 70}`), LIMITS, cover), /stage 1 \(s\): batch_size 32000 × seq_len 70 = 2,240,000 rows per forward is too large for this adapter's matmuls \(at most 2,097,120 rows: batch_size at most 29,958 at this seq_len\)$/);
  });

  it('generate: a config with a 5,000,000-token vocabulary is refused from config.json, before the weights are read', () => {
    const dir = join(tmp, 'huge-vocab');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], vocab_size: 5_000_000, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 16, max_position_embeddings: 64, bos_token_id: 1, eos_token_id: 2, ponder: { tokenizer: 'bytes' } }));
    writeFileSync(join(dir, 'weights.msgpack'), 'not weights: reading them would fail with another line');
    const r = runPonder(['generate', '--model', dir, '--prompt', 'hi'], { env: { XDG_RUNTIME_DIR: '/tmp' } });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderrLines.length, 2, r.stderr);
    assert.match(r.stderrLines[0]!, /^ponder: error: vocab_size 5,000,000 is too large for this adapter's matmuls \(at most [\d,]+: with hidden_size 8 the output layer is split into chunks of 4,194,304 rows/);
    assert.match(r.stderrLines[1]!, /^hint: this model cannot run on this adapter$/);
  });

  it('tune: batch_size 100000 is refused naming batch_size and the most it may be, before any step', { timeout: 120_000 }, () => {
    const output = join(tmp, 'batch-run');
    const path = join(tmp, 'batch.yaml');
    writeFileSync(path, `model: {init: scratch, config: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64}}\noutput: ${output}\nstages:\n  - {name: s, kind: pretrain, data: {task: arithmetic, n: 8, digits: 1}, steps: 1, batch_size: 100000, seq_len: 2}\n`);
    const r = runPonder(['tune', path, '--plain'], { env: { XDG_RUNTIME_DIR: '/tmp' } });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderrLines.length, 2, r.stderr);
    assert.match(r.stderrLines[0]!, /stage 1 \(s\): batch_size 100000 is too large for this adapter's attention \(at most 32,767: one workgroup per sequence and each of num_key_value_heads 2, 65535 per dimension\)$/);
    assert.match(r.stderrLines[1]!, /^hint: lower batch_size \(use grad_accum for the same effective batch\)$/);
    assert.ok(!existsSync(output));
  });

  it('serve: more slots than the attention grid takes is refused before the model loads', () => {
    const config = tinyConfig('llama');
    const model = writeHfModel(join(tmp, 'hf'), config, randomWeights(config, 2));
    const r = runPonder(['serve', '--model', model, '--parallel', '40000', '--context', '8', '--port', '0'], { env: { XDG_RUNTIME_DIR: '/tmp' }, timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderrLines[0]!, /^ponder: error: 40,000 sequences decoded together is too many for this adapter's attention \(at most 32,767/);
    assert.equal(r.stdout, '', 'it never listened');
  });
});
