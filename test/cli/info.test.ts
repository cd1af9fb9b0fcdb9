import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runPonder } from '../helpers/cli.js';

describe('ponder info', () => {
  it('--json describes the adapter, its limits and features', () => {
    const r = runPonder(['info', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(typeof info.adapter.vendor, 'string');
    assert.equal(typeof info.adapter.backend, 'string');
    assert.ok(info.limits.maxStorageBufferBindingSize > 0);
    assert.ok(info.limits.maxComputeWorkgroupsPerDimension >= 65535);
    for (const f of ['shader-f16', 'subgroups', 'timestamp-query']) assert.equal(typeof info.features[f], 'boolean');
  });

  it('prints a readable listing', () => {
    const r = runPonder(['info']);
    assert.equal(r.code, 0, r.stderr);
    for (const key of ['vendor', 'device', 'backend', 'description', 'features', 'maxBufferSize']) assert.match(r.stdout, new RegExp(key));
  });

  it('a missing adapter gives one clear line, a hint, and exit 1', () => {
    const r = runPonder(['info', '--adapter', 'no-such-adapter-xyz']);
    assert.equal(r.code, 1);
    assert.match(r.stderrLines[0], /^ponder: error: no WebGPU adapter named "no-such-adapter-xyz"/);
    assert.match(r.stderrLines[1], /^hint: .*lavapipe/);
    assert.equal(r.stderrLines.length, 2, r.stderr);
  });

  it('the adapter can be chosen through the environment too', () => {
    const r = runPonder(['info'], { env: { PONDER_ADAPTER: 'no-such-adapter-xyz' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no WebGPU adapter named "no-such-adapter-xyz"/);
  });
});
