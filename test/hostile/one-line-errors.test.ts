import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDevice } from '../../src/gpu/device.js';
import { PonderError } from '../../src/errors.js';
import { runPonder, type CliResult } from '../helpers/cli.js';
import { randomWeights, tinyConfig, writeHfModel } from '../helpers/tiny-models.js';

/**
 * Inputs that used to end in an "internal error" line (which ponder counts as a bug), a flood, or
 * nothing at all: each now gives one `ponder: error:` line (plus at most a hint), the right exit code,
 * and no escape sequence reaches the terminal. None of these opens the GPU.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ponder-one-line-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const RECIPE = readFileSync(join(ROOT, 'test/fixtures/recipes/tiny-train.yaml'), 'utf8');

function oneLine(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.ok(r.stderrLines.length >= 1 && r.stderrLines.length <= 2, `one error line (+ a hint): ${r.stderr}`);
  assert.match(r.stderrLines[0]!, /^ponder: error: /);
  assert.ok(!r.stderr.includes('internal error'), r.stderr);
  assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(r.stderr), `no control characters: ${JSON.stringify(r.stderr)}`);
  assert.ok(r.stderrLines[0]!.length <= 500, `a short line: ${r.stderrLines[0]!.length} characters`);
  assert.match(r.stderrLines[0]!, pattern);
}

function file(name: string, content: string | Buffer): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

describe('one clear line instead of an internal error', () => {
  it('binary and non-UTF-8 recipes: a short line, not the bytes', () => {
    const bytes = Buffer.alloc(10_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
    oneLine(runPonder(['tune', file('binary.yaml', bytes), '--check']), 1, /is a binary file \(it holds NUL bytes\), not a recipe/);
    oneLine(runPonder(['tune', file('latin1.yaml', Buffer.from('model: caf\xe9\n', 'latin1')), '--check']), 1, /is not UTF-8 text/);
    // a long line of text quoted by an error is cut, not printed whole
    oneLine(runPonder(['tune', file('long.yaml', `${'x'.repeat(20_000)}: [\n`), '--check']), 1, /long\.yaml/);
  });

  it('a YAML alias bomb names the file and the line', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    const path = file('bomb.yaml', lines.join('\n') + '\n');
    oneLine(runPonder(['tune', path, '--check'], { timeoutMs: 30_000 }), 1, /bomb\.yaml:\d+: YAML aliases expand to too many values/);
  });

  it('an invalid --filter regex is a usage error', () => {
    oneLine(runPonder(['bench', 'kernels', '--filter', '/[/', '--list']), 2, /--filter \/\[\/: not a valid regular expression/);
  });

  it('run/checkpoints a file; an output under a file', () => {
    const out = join(tmp, 'run-ckfile');
    mkdirSync(out);
    writeFileSync(join(out, 'checkpoints'), 'mine');
    const recipe = file('ckfile.yaml', RECIPE.replace(/^output: .*$/m, `output: ${out}`));
    oneLine(runPonder(['tune', recipe, '--check']), 1, /checkpoints: exists and is not a directory/);
    oneLine(runPonder(['tune', recipe, '--resume', '--check']), 1, /checkpoints: exists and is not a directory/);
    assert.equal(readFileSync(join(out, 'checkpoints'), 'utf8'), 'mine');
    const under = file('ckfile2.yaml', RECIPE.replace(/^output: .*$/m, `output: ${join(tmp, 'binary.yaml', 'run')}`));
    oneLine(runPonder(['tune', under, '--check']), 1, /a parent of it is a file/);
    const config = tinyConfig('llama');
    const hf = writeHfModel(join(tmp, 'hf'), config, randomWeights(config, 3));
    oneLine(runPonder(['import', hf, '--out', join(tmp, 'binary.yaml', 'model')]), 1, /a parent of it is a file/);
  });

  it('escape sequences in a config.json are not printed', () => {
    const config = tinyConfig('llama');
    const hf = writeHfModel(join(tmp, 'hf-escape'), config, randomWeights(config, 3));
    const json = JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')) as Record<string, unknown>;
    json.architectures = ['\u001b]0;pwned\u0007\u001b[2J\u009b31mEvilForCausalLM\r'];
    writeFileSync(join(hf, 'config.json'), JSON.stringify(json));
    const r = runPonder(['import', hf, '--out', join(tmp, 'escape-out')]);
    oneLine(r, 1, /EvilForCausalLM/);
    assert.ok(!r.stderr.includes('pwned\u0007'));
  });

  it('--backend null is not offered, from the flag or the environment, nor accepted by openDevice', async () => {
    oneLine(runPonder(['info', '--backend', 'null']), 2, /'null' is invalid/);
    oneLine(runPonder(['info'], { env: { PONDER_BACKEND: 'null' } }), 2, /'null' from env 'PONDER_BACKEND' is invalid/);
    await assert.rejects(openDevice({ backend: 'null' }), (e: unknown) => e instanceof PonderError && e.code === 'USAGE' && /cannot compute/.test(e.message));
  });

  it('a full stdout: one line, exit 1', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/ponder.js'), '--help'], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr.trim(), 'ponder: error: cannot write to standard output: ENOSPC (disk full)');
    } finally {
      closeSync(full);
    }
  });
});
