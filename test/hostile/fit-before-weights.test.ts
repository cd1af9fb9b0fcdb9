import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPonder } from '../helpers/cli.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { checkTrainingGrid } from '../../src/cli/tune-preflight.js';
import { PonderError } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * `ponder tune` checks the fit from the recipe before it builds a weight: a scratch model larger than
 * this machine's memory is refused by --check and by a run (which used to spin building weights), and
 * a batch whose activations exceed the device's buffer limits is refused in the recipe's terms
 * (batch_size, seq_len) instead of a kernel's. Nothing is written to the output directory.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-fit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function recipe(name: string, config: string, stage: string): { path: string; output: string } {
  const output = join(tmp, `${name}-run`);
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(
    path,
    `model:\n  init: scratch\n  config: {vocab: bytes, ${config}, max_position_embeddings: 64}\noutput: ${output}\nstages:\n  - {name: s, kind: pretrain, data: {task: arithmetic, n: 8, digits: 1}, steps: 1, ${stage}, optimizer: {lr: 1.0e-3}}\n`,
  );
  return { path, output };
}

describe('the fit is checked before weights are built', () => {
  it('matmul grids in the recipe\'s terms: a vocabulary of millions, rows beyond the grid', () => {
    const { recipe } = loadRecipe(join(ROOT, 'test/fixtures/recipes/tiny-train.yaml'));
    const limits = { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 2 ** 27, maxComputeWorkgroupsPerDimension: 65535 };
    const cover = { columns: 16, rows: 16, queryRows: 16 };
    checkTrainingGrid(recipe, limits, cover);
    const big = { ...recipe, model: { ...recipe.model, config: { ...recipe.model.config, vocab_size: 5_000_000, hidden_size: 8 } } };
    // hidden_size 8: chunks of 2^27 / 32 = 4,194,304 rows; 16 columns a workgroup: at most 1,048,560
    assert.throws(() => checkTrainingGrid(big, limits, cover), (e: unknown) => e instanceof PonderError && e.code === 'DEVICE_LIMIT' && /the model's vocab_size 5,000,000 is too large for this adapter's matmuls \(at most 1,048,560: with hidden_size 8 the output layer is split into chunks of 4,194,304 rows/.test(e.message));
    // the same vocabulary with a wider hidden size is split into row chunks that fit
    checkTrainingGrid({ ...big, model: { ...big.model, config: { ...big.model.config, hidden_size: 512 } } }, limits, cover);
    const rows = { ...recipe, stages: recipe.stages.map((s) => ({ ...s, batch_size: 20_000, seq_len: 64 })) };
    assert.throws(() => checkTrainingGrid(rows, limits, cover), (e: unknown) => e instanceof PonderError && /stage 1 \(pre\): batch_size 20000 × seq_len 64 = 1,280,000 rows per forward is too large for this adapter's matmuls \(at most 1,048,560 rows: batch_size at most 16,383 at this seq_len\)/.test(e.message));
  });

  it('a scratch model larger than memory: --check and a run refuse it in one line', { timeout: 120_000 }, () => {
    const { path, output } = recipe('huge', 'hidden_size: 65536, num_hidden_layers: 64, num_attention_heads: 64, intermediate_size: 262144', 'batch_size: 1, seq_len: 16');
    for (const args of [['tune', path, '--check'], ['tune', path, '--plain']]) {
      const r = runPonder(args, { timeoutMs: 60_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderrLines.length, 2, r.stderr);
      assert.match(r.stderrLines[0]!, /the model has 4,398,089,437,184 parameters .* more than this machine's .* of memory/);
      assert.match(r.stderrLines[1]!, /^hint: use a smaller model/);
    }
    assert.ok(!existsSync(output));
  });

  it('batch_size 100000: refused naming batch_size and seq_len, before any step', { timeout: 120_000 }, () => {
    const { path, output } = recipe('batch', 'hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64', 'batch_size: 100000, seq_len: 64');
    const r = runPonder(['tune', path, '--plain'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderrLines.length, 2, r.stderr);
    assert.match(r.stderrLines[0]!, /stage 1 \(s\) needs a buffer of .* \(batch_size 100000 × seq_len 64\), over this device's max\w+ of /);
    assert.match(r.stderrLines[1]!, /lower batch_size/);
    assert.ok(!existsSync(output));
  });
});
