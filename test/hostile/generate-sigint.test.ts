/**
 * Ctrl-C during `ponder generate` stops the answer (what was streamed stays on stdout) and the command
 * exits 130, the interrupted status, with one line saying so: not 0, which would tell a script the
 * answer was complete.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin/ponder.js');

it('SIGINT during generate: exit 130, one line, the streamed text kept', async () => {
  const child = spawn(process.execPath, [BIN, 'generate', '--model', 'default', '--prompt', 'What is 23 + 45?', '--max-tokens', '300', '--no-mtp', '--temperature', '1', '--seed', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!sent && out.length > 0) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.ok(sent, 'no token was streamed');
  assert.equal(code, 130, err);
  assert.ok(out.length > 0);
  const lines = err.split('\n').filter((l) => l !== '' && !l.startsWith('Warning:'));
  assert.deepEqual(lines, ['ponder: generation stopped (Ctrl-C)']);
});
