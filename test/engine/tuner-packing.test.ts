import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TuneEvent } from '../../src/engine/tuner-events.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import type { Weights } from '../../src/model/config.js';
import { runPonder } from '../helpers/cli.js';
import { assertSameBits, tuneEvents } from '../helpers/tune-run.js';

/**
 * `packing: true` in pretrain and SFT stages: the packed batches reach the model (the run differs
 * from the padded one), and a packed run killed with SIGKILL after its first checkpoint and resumed
 * with --resume ends with weights bit-identical to an uninterrupted run's (the data cursor in the
 * checkpoint is all packing needs).
 */
const BIN = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ponder-tuner-packing-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function recipe(name: string, packing: boolean): string {
  const path = join(tmp, `${name}.yaml`);
  const stage = (s: string) => `  - {${s}, packing: ${packing}}`;
  writeFileSync(
    path,
    [
      'model: {init: scratch, config: {vocab: bytes, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64}}',
      `output: ${join(tmp, name)}`,
      'seed: 5',
      'checkpoint_every: 3',
      'stages:',
      stage('name: pre, kind: pretrain, data: {task: arithmetic, n: 48, digits: 1}, steps: 6, batch_size: 2, seq_len: 40, optimizer: {lr: 1.0e-2}'),
      stage('name: chat, kind: sft, data: {task: arithmetic, n: 24, digits: 1}, steps: 3, batch_size: 2, seq_len: 48, optimizer: {lr: 5.0e-3}'),
      '',
    ].join('\n'),
  );
  return path;
}

function finalWeights(name: string): Weights {
  return loadModelDir(join(tmp, name, 'final')).weights;
}

describe('tune with packing', () => {
  let full: Weights | undefined;

  it('trains packed stages to the end; the weights differ from the padded run of the same recipe', async () => {
    const packed = await tuneEvents(recipe('packed', true));
    assert.equal(packed.at(-1)!.type, 'done');
    for (const s of packed.filter((e) => e.type === 'step')) assert.ok(s.type === 'step' && Number.isFinite(s.loss) && s.loss > 0);
    full = finalWeights('packed');
    const padded = await tuneEvents(recipe('padded', false));
    assert.equal(padded.at(-1)!.type, 'done');
    const a = full.get('model.embed_tokens.weight')!.data;
    const b = finalWeights('padded').get('model.embed_tokens.weight')!.data;
    assert.ok(a.some((x, i) => x !== b[i]), 'packing changed nothing');
  });

  it('kill -9 after the first checkpoint, then --resume: bit-identical final weights', async () => {
    assert.ok(full, 'needs the uninterrupted run');
    const path = recipe('killed', true);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'tune', path, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      let killed = false;
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (!killed && buf.split('\n').some((l) => l.startsWith('{') && (JSON.parse(l) as TuneEvent).type === 'checkpoint')) {
          killed = true;
          child.kill('SIGKILL');
        }
      });
      child.on('exit', (code, signal) => (killed && signal === 'SIGKILL' ? resolve() : reject(new Error(`tune exited ${code} ${signal} before a checkpoint: ${buf}`))));
    });
    assert.ok(!existsSync(join(tmp, 'killed', 'final')));
    const r = runPonder(['tune', path, '--resume', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assertSameBits(full!, finalWeights('killed'), 'killed+resumed vs uninterrupted');
  });
});
