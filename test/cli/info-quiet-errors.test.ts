import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { applyNoColor } from '../../src/cli/no-color.js';
import { dropKnownWarnings, formatAdapterList, parseAdapterList } from '../../src/gpu/device.js';

/**
 * Quiet errors: Dawn's known start-up warnings (lavapipe's "artificially reduced" limits) never reach
 * the user's stderr (PONDER_DAWN_WARNINGS=1 lets them through, which shows the check can fail); a bad
 * --model is ponder's one line with no GPU output before it; Dawn's list of adapters is parsed from
 * its message. These read the raw stderr, not the test helper's filtered one.
 */
const BIN = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));
const ponder = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp', ...env } });

const WARNING = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';

describe('quiet, helpful errors', () => {
  it('drops the known Dawn warning lines and keeps every other line', () => {
    const text = [WARNING, 'Warning: something new from Dawn', WARNING.replace('Uniform', 'Storage'), 'ponder: error: x', ''].join('\n');
    assert.equal(dropKnownWarnings(text), ['Warning: something new from Dawn', 'ponder: error: x', ''].join('\n'));
    assert.equal(dropKnownWarnings('Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced somewhere else'), 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced somewhere else');
  });

  it('NO_COLOR (non-empty) turns chalk off through FORCE_COLOR=0; empty or unset changes nothing', () => {
    const env: NodeJS.ProcessEnv = { NO_COLOR: '1', FORCE_COLOR: '3' };
    assert.equal(applyNoColor(env), true);
    assert.equal(env.FORCE_COLOR, '0');
    const empty: NodeJS.ProcessEnv = { NO_COLOR: '' };
    assert.equal(applyNoColor(empty), false);
    assert.equal(empty.FORCE_COLOR, undefined);
    assert.equal(applyNoColor({}), false);
  });

  it("parses Dawn's list of available adapters", () => {
    const msg = "no suitable backends found\nAvailable adapters:\n * backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)'\n * backend: 'null', name: 'Null backend'\n";
    const list = parseAdapterList(msg);
    assert.deepEqual(list, [
      { backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
      { backend: 'null', name: 'Null backend' },
    ]);
    assert.equal(formatAdapterList(list), 'llvmpipe (LLVM 15.0.6, 256 bits) (vulkan), Null backend (null)');
    assert.deepEqual(parseAdapterList('no suitable backends found'), []);
  });

  it("opening the GPU prints nothing of Dawn's on a piped stderr (and does with PONDER_DAWN_WARNINGS=1 on lavapipe)", () => {
    // stderr through a shell pipe, as a user's `ponder ... 2>&1 | less` (Node's own child pipes are
    // sockets, which the filter leaves alone); stdout is dropped, so what comes back is stderr alone
    const piped = (env: Record<string, string> = {}) =>
      spawnSync('sh', ['-c', `'${process.execPath}' '${BIN}' info --json 2>&1 >/dev/null | cat`], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp', ...env } });
    const r = piped();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '', "Dawn's lines reached stderr");
    const info = JSON.parse(ponder(['info', '--json']).stdout) as { adapter: { software: boolean; description: string } };
    if (info.adapter.software && /llvmpipe/.test(info.adapter.description)) {
      assert.match(piped({ PONDER_DAWN_WARNINGS: '1' }).stdout, /artificially reduced/, 'lavapipe prints its warnings when they are let through');
    }
  });

  it('a bad --model is one line and a hint before any GPU output, for every command that takes one', () => {
    for (const args of [
      ['generate', '--model', 'no-such-model', '--prompt', 'hi'],
      ['chat', '--model', 'no-such-model', '--prompt', 'hi'],
      ['eval', '--model', 'no-such-model', '--task', 'arithmetic', '-n', '1'],
      ['logits', '--model', 'no-such-model', '--tokens', '1,2'],
    ]) {
      const r = ponder(args, { PONDER_DAWN_WARNINGS: '1' });
      assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /^ponder: error: no model at no-such-model /, `${args[0]}: the error comes first:\n${r.stderr}`);
      assert.ok(!r.stderr.includes('Warning:'), `${args[0]}: the GPU was opened first:\n${r.stderr}`);
    }
  });
});
