import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPonder } from '../helpers/cli.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * MTP end to end through the executable: a MiMo-layout HF model with MTP layers imports with them,
 * exports and re-imports them, and `generate --mtp` gives the plain greedy text with drafting stats.
 */
let root: string;
before(() => (root = mkdtempSync(join(tmpdir(), 'ponder-mtp-'))));
after(() => rmSync(root, { recursive: true, force: true }));

function oneLine(r: ReturnType<typeof runPonder>, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderrLines[0] ?? '', pattern);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
}

describe('MTP from the command line', () => {
  it('import keeps MiMo MTP layers; export round-trips them; generate --mtp == plain greedy, with stats', () => {
    const config = tinyConfig('mimo', { num_nextn_predict_layers: 2 });
    const weights = randomWeights(config, 11);
    assert.ok(weights.has('model.mtp_layers.1.input_proj.weight'));
    const hf = writeHfModel(join(root, 'hf'), config, weights);
    const a = join(root, 'a');
    const imp = runPonder(['import', hf, '--out', a]);
    assert.equal(imp.code, 0, imp.stderr);
    assert.equal(JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')).num_nextn_predict_layers, 2);

    const ex = runPonder(['export', a, '--format', 'hf', '--out', join(root, 'exported')]);
    assert.equal(ex.code, 0, ex.stderr);
    const b = join(root, 'b');
    assert.equal(runPonder(['import', join(root, 'exported'), '--out', b]).code, 0);

    const base = ['generate', '--prompt', 'hello there', '--max-tokens', '16', '--json', '--temperature', '0'];
    const plain = runPonder([...base, '--model', a, '--no-mtp']);
    assert.equal(plain.code, 0, plain.stderr);
    for (const [model, flag] of [
      [a, '--temperature=0'], // the default: on for a model with MTP layers
      [a, '--mtp'],
      [b, '--mtp'],
      [a, '--mtp=1'],
    ] as const) {
      const r = runPonder([...base, '--model', model, flag]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.equal(j.text, JSON.parse(plain.stdout).text, `${flag} on ${model}: same text as plain greedy decoding`);
      assert.equal(typeof j.stats.mtp.acceptance, 'number');
      assert.ok(j.stats.mtp.rounds >= 1 && j.stats.mtp.drafted >= j.stats.mtp.accepted);
    }
    assert.equal(JSON.parse(plain.stdout).stats.mtp, undefined);
    // sampling with drafts: seeded, so the same text twice
    const sampled = ['generate', '--prompt', 'hi', '--max-tokens', '12', '--json', '--model', a, '--mtp', '--temperature', '1', '--top-k', '20', '--seed', '7'];
    const s1 = runPonder(sampled);
    assert.equal(s1.code, 0, s1.stderr);
    assert.equal(JSON.parse(runPonder(sampled).stdout).text, JSON.parse(s1.stdout).text);
    assert.ok(JSON.parse(s1.stdout).stats.mtp.rounds >= 1);
  });

  it('bad --mtp uses are one line and exit 2', () => {
    const noMtp = tinyConfig('qwen2');
    const hf = writeHfModel(join(root, 'plain-hf'), noMtp, randomWeights(noMtp, 3));
    const plain = join(root, 'plain');
    assert.equal(runPonder(['import', hf, '--out', plain]).code, 0);
    oneLine(runPonder(['generate', '--model', plain, '--prompt', 'x', '--mtp']), 2, /has no MTP layers/);

    const config = tinyConfig('mimo', { num_nextn_predict_layers: 1 });
    const hf2 = writeHfModel(join(root, 'mtp-hf'), config, randomWeights(config, 4));
    const m = join(root, 'mtp');
    assert.equal(runPonder(['import', hf2, '--out', m]).code, 0);
    oneLine(runPonder(['generate', '--model', m, '--prompt', 'x', '--mtp=2']), 2, /has 1 MTP layer/);
    oneLine(runPonder(['generate', '--model', m, '--prompt', 'x', '--mtp=zero']), 2, /--mtp/);
  });

  it('a config that declares MTP layers without their tensors imports as a trunk, with a note', () => {
    const config = tinyConfig('mimo', { num_nextn_predict_layers: 1 });
    const trunkOnly = new Map([...randomWeights(config, 5)].filter(([n]) => !n.startsWith('model.mtp_layers.')));
    const hf = writeHfModel(join(root, 'trunk-hf'), config, trunkOnly);
    const out = join(root, 'trunk');
    const r = runPonder(['import', hf, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /declares 1 MTP layers but the weights have none/);
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).num_nextn_predict_layers, undefined);
  });
});
