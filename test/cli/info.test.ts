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

  it('a missing adapter gives one line that lists the adapters there are, a hint, and exit 1', () => {
    const r = runPonder(['info', '--adapter', 'no-such-adapter-xyz']);
    assert.equal(r.code, 1);
    const all = JSON.parse(runPonder(['info', '--all', '--json']).stdout) as { adapters: { backend: string; name: string }[] };
    assert.ok(all.adapters.length >= 1);
    assert.equal(r.stderrLines[0], `ponder: error: no WebGPU adapter named "no-such-adapter-xyz"; adapters here: ${all.adapters.map((a) => `${a.name} (${a.backend})`).join(', ')}`);
    assert.match(r.stderrLines[1]!, /^hint: --adapter takes a part of one of those names; `ponder info --all` lists them$/);
    assert.equal(r.stderrLines.length, 2, r.stderr);
  });

  it('--all lists the adapters by the names --adapter matches; a part of one picks it', () => {
    const r = runPonder(['info', '--all']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^adapters \(--adapter NAME picks the first whose name contains NAME\)\n {2}\S+ +\S/);
    assert.match(r.stdout, /^picked\nponder/m);
    const first = (JSON.parse(runPonder(['info', '--all', '--json']).stdout) as { adapters: { name: string }[] }).adapters[0]!;
    const part = first.name.split(/[ (]/)[0]!;
    const picked = runPonder(['info', '--json', '--adapter', part]);
    assert.equal(picked.code, 0, picked.stderr);
  });

  it('the adapter can be chosen through the environment too', () => {
    const r = runPonder(['info'], { env: { PONDER_ADAPTER: 'no-such-adapter-xyz' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no WebGPU adapter named "no-such-adapter-xyz"/);
  });
});
