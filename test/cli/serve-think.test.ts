import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/**
 * `ponder serve --no-think`: chat requests that do not say get the thinking-off prompt (the bundled
 * model's template then ends the prompt with an empty reasoning block, so the prompt is longer); a
 * request's own `chat_template_kwargs.enable_thinking` still wins.
 */
const bin = fileURLToPath(new URL('../../../bin/ponder.js', import.meta.url));

describe('serve --think / --no-think', () => {
  it('--no-think is the default of requests that do not say; enable_thinking in a request wins', { timeout: 120_000 }, async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--context', '200', '--json', '--no-think'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    try {
      while (!stdout.includes('\n')) {
        if (child.exitCode !== null) assert.fail(`serve exited early: ${stderr}`);
        await once(child.stdout, 'data');
      }
      const { url } = JSON.parse(stdout.split('\n')[0]!) as { url: string };
      const promptTokens = async (extra: object) => {
        const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'What is 2+3?' }], max_tokens: 1, temperature: 0, ...extra }) });
        assert.equal(r.status, 200);
        return ((await r.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens;
      };
      const unsaid = await promptTokens({});
      const off = await promptTokens({ chat_template_kwargs: { enable_thinking: false } });
      const on = await promptTokens({ chat_template_kwargs: { enable_thinking: true } });
      assert.equal(unsaid, off, 'a request that does not say gets the server\'s --no-think');
      assert.ok(on < off, `the thinking-off prompt holds the empty reasoning block (${on} < ${off})`);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});
