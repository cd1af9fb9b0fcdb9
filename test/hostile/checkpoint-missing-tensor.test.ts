import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configToJson } from '../../src/model/config.js';
import { loadLatestCheckpoint, readCheckpoint, writeCheckpoint, type Checkpoint } from '../../src/train/checkpoint.js';
import { PonderError } from '../../src/errors.js';
import { randomWeights, tinyConfig } from '../helpers/tiny-models.js';

/**
 * A checkpoint with a valid checksum whose parameters are not the ones its config describes (a tensor
 * missing) is refused naming the file and the tensor, and a resume falls back to the older checkpoint.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ponder-ckpt-missing-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const config = tinyConfig('llama');
const weights = randomWeights(config, 9);

function ckpt(step: number, drop?: string): Checkpoint {
  return {
    config: configToJson(config) as Checkpoint['config'],
    tensors: [...weights].filter(([name]) => name !== drop).map(([name, t]) => ({ name, shape: [...t.shape], data: t.data })),
    optimizer: { m: [], v: [], step },
    rng: [1, 2],
    data_cursor: null,
    stage: 0,
    step,
    recipe_hash: 'e5'.repeat(32),
  };
}

describe('a checkpoint missing a tensor', () => {
  it('is refused naming the file and the tensor; the newest valid one is used instead', () => {
    const run = join(tmp, 'run');
    writeCheckpoint(run, ckpt(1));
    const bad = writeCheckpoint(run, ckpt(2, 'model.norm.weight'));
    assert.throws(() => readCheckpoint(bad), (e: unknown) => e instanceof PonderError && e.message.startsWith(bad) && /missing tensor "model\.norm\.weight"/.test(e.message) && !e.message.includes('\n'));
    const latest = loadLatestCheckpoint(run);
    assert.equal(latest.ckpt.step, 1);
    assert.equal(latest.warnings.length, 1);
    assert.match(latest.warnings[0]!, /skipping checkpoint .*step-000002\.ckpt: missing tensor "model\.norm\.weight".*falling back to .*step-000001\.ckpt/);
  });
});
