import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPonder } from '../helpers/cli.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * One MTP vocabulary: chat, generate, eval and serve all take `--mtp [n]` and `--no-mtp`. The
 * default is on for a model with MTP layers where one answer is decoded at a time (chat; generate is
 * covered in generate-flags.test.ts) and off where answers are decoded together (eval, serve);
 * `--mtp` on a model without MTP layers, `--mtp N` past the model's modules and a bad N are one line
 * and exit 2, the same in every command. The bundled model has one MTP module.
 */
let root = '';
let plain = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-mtp-flags-'));
  const config = tinyConfig('qwen2');
  plain = writeHfModel(join(root, 'plain-hf'), config, randomWeights(config, 5));
});
after(() => rmSync(root, { recursive: true, force: true }));

const env = { XDG_RUNTIME_DIR: '/tmp' };

function usage(args: string[], pattern: RegExp): void {
  const r = runPonder(args, { env });
  assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderrLines.length, 1, r.stderr);
  assert.match(r.stderrLines[0]!, pattern);
}

describe('--mtp / --no-mtp across the commands', () => {
  it('every decoding command offers both flags', () => {
    for (const cmd of ['chat', 'generate', 'eval', 'serve']) {
      const r = runPonder([cmd, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /--mtp \[n\]/, cmd);
      assert.match(r.stdout, /--no-mtp/, cmd);
    }
  });

  it('chat: on by default for a model with MTP layers, off with --no-mtp, the same greedy text', () => {
    const base = ['chat', '--prompt', 'What is 2 + 5?', '--json', '--temperature', '0', '--max-tokens', '24'];
    const answer = (extra: string[]) => {
      const r = runPonder([...base, ...extra], { env });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { text: string; stats: { mtp?: { rounds: number } } };
    };
    const dflt = answer([]);
    assert.ok(dflt.stats.mtp && dflt.stats.mtp.rounds > 0, 'drafting by default');
    const off = answer(['--no-mtp']);
    assert.equal(off.stats.mtp, undefined);
    assert.equal(off.text, dflt.text);
    assert.ok(answer(['--mtp=1']).stats.mtp, '--mtp 1');
  });

  it('chat and generate: sampled answers decode plainly by default (sampled drafting is slower), and draft with --mtp', () => {
    for (const cmd of ['chat', 'generate']) {
      const answer = (extra: string[]) => {
        const r = runPonder([cmd, '--prompt', 'What is 2 + 5?', '--json', '--temperature', '0.7', '--max-tokens', '12', ...extra], { env });
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as { stats: { mtp?: { rounds: number } } };
      };
      assert.equal(answer([]).stats.mtp, undefined, `${cmd}: no drafting by default when sampling`);
      assert.ok(answer(['--mtp']).stats.mtp, `${cmd} --mtp drafts a sampled answer`);
    }
  });

  it('eval: off by default (answers are batched); --mtp and --mtp=1 draft with the same answers; --no-mtp is the default', () => {
    const base = ['eval', '-n', '3', '--digits', '1', '--max-tokens', '16', '--json'];
    const run = (extra: string[]) => {
      const r = runPonder([...base, ...extra], { env });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { accuracy: number; mtp?: { drafted: number } };
    };
    const dflt = run([]);
    assert.equal(dflt.mtp, undefined, 'no drafting by default');
    assert.equal(run(['--no-mtp']).mtp, undefined);
    for (const flag of ['--mtp', '--mtp=1']) {
      const drafted = run([flag]);
      assert.ok(drafted.mtp && drafted.mtp.drafted > 0, flag);
      assert.equal(drafted.accuracy, dflt.accuracy, `${flag}: greedy answers are the same`);
    }
  });

  it('the same usage errors in every command', () => {
    for (const cmd of [['chat', '--prompt', 'x'], ['generate', '--prompt', 'x'], ['eval', '-n', '1']]) {
      usage([...cmd, '--model', plain, '--mtp'], /has no MTP layers \(num_nextn_predict_layers is 0\): drop --mtp/);
      usage([...cmd, '--mtp=2'], /--mtp 2: default has 1 MTP layer/);
      usage([...cmd, '--mtp=zero'], /--mtp/);
    }
    usage(['eval', '-n', '1', '--mtp', '-k', '2'], /--mtp drafts greedy answers: use it with one sample and temperature 0/);
    usage(['serve', '--mtp'], /--mtp: serve decodes its requests together .* where MTP drafting does not apply/);
  });
});
