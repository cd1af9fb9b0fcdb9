import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder serve` as a user runs it: one startup line naming the address, the model and the adapter;
 * one access-log line per request on stderr (JSONL with --json); SIGTERM stops it with exit code 0
 * while a stream is in flight (the stream ends). Bad flags are one-line usage errors.
 */
const bin = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));

describe('ponder serve (the command)', () => {
  it('starts on loopback, logs each request as JSONL, exits 0 on SIGTERM mid-stream', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--parallel', '2', '--context', '200', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = once(child, 'exit');
    try {
      while (!stdout.includes('\n')) {
        if (child.exitCode !== null) assert.fail(`serve exited early: ${stderr}`);
        await once(child.stdout, 'data');
      }
      const start = JSON.parse(stdout.split('\n')[0]!) as { event: string; url: string; model: string; adapter: string; parallel: number; context: number };
      assert.equal(start.event, 'listening');
      assert.match(start.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(start.model, 'default');
      assert.ok(start.adapter.length > 0);
      assert.equal(start.parallel, 2);
      assert.equal(start.context, 200);

      const r = await fetch(`${start.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'hi', max_tokens: 2, temperature: 0 }) });
      assert.equal(r.status, 200);
      await r.json();

      // a long stream in flight when the signal comes: it ends, and the process exits cleanly
      const streaming = await fetch(`${start.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'What is 88 * 68?', max_tokens: 300, temperature: 1, stream: true }) });
      const reader = streaming.body!.getReader();
      await reader.read();
      child.kill('SIGTERM');
      for (;;) if ((await reader.read()).done) break;
      const [code] = await exited;
      assert.equal(code, 0, stderr);
      const records = stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { method: string; path: string; status: number; completion_tokens?: number; ms: number });
      assert.equal(records[0]!.path, '/v1/completions');
      assert.equal(records[0]!.status, 200);
      assert.equal(records[0]!.completion_tokens, 2);
      assert.equal(records.length, 2, 'the interrupted stream is logged too');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('--help; bad flags: one line, exit 2', () => {
    const help = runPonder(['serve', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: ponder serve/);
    for (const flag of ['--host', '--port', '--parallel', '--context', '--api-key', '--json']) assert.ok(help.stdout.includes(flag), flag);
    for (const args of [['--port', 'x'], ['--port', '70000'], ['--parallel', '0'], ['--context', '100000']]) {
      const r = runPonder(['serve', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderrLines.length, 1, r.stderr);
      assert.match(r.stderrLines[0]!, /^ponder: error: --(port|parallel|context)/);
    }
  });
});
