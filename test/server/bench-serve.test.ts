import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { measureServeLoad } from '../../src/engine/bench/serve.js';
import { runPonder } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/serve.js';

/**
 * `bench serve`'s load generator against a real server: the same requests sent by one client or by
 * several at once do the same work (the same completion tokens, counted by the server), so the rates
 * compare; and the suite's flags are checked before any GPU work.
 */
let t: TestServer;
before(async () => (t = await startTestServer({ parallel: 4 })));
after(async () => t?.close());

describe('bench serve', () => {
  it('one client or several: the same requests, the same tokens', async () => {
    const load = { url: t.server.url, requests: 5, maxTokens: 4, prompt: 'Once upon a time' };
    const one = await measureServeLoad({ ...load, clients: 1 });
    const four = await measureServeLoad({ ...load, clients: 4 });
    assert.equal(one.tokens, four.tokens);
    assert.ok(one.tokens > 0 && one.tokens <= 5 * 4);
    const served = t.log.filter((r) => r.path === '/v1/completions');
    assert.equal(served.length, 10);
    assert.equal(one.tokens + four.tokens, served.reduce((a, r) => a + r.completion_tokens!, 0));
    for (const r of [one, four]) assert.ok(r.tokens_per_s > 0 && Number.isFinite(r.tokens_per_s));
  });

  it('rejects the flags of the case runner', () => {
    const r = runPonder(['bench', 'serve', '--csv']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderrLines[0]!, /bench serve takes --model, --json and --plain only \(not --csv\)/);
    const other = runPonder(['bench', 'kernels', '--model', 'x', '--list']);
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderrLines[0]!, /--model applies to `bench serve` only/);
  });
});
