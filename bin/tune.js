#!/usr/bin/env node
// `tune ARGS` is `ponder tune ARGS`.
import { existsSync } from 'node:fs';
const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('tune: error: not built yet — run `npm run build` (or `npm run setup`) first');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(['tune', ...process.argv.slice(2)]);
// Exit explicitly once stdout has drained: a natural exit runs Node's environment teardown, during
// which Dawn's addon can crash on a software adapter (see installExitGuard in src/gpu/device.ts).
process.stdout.write('', () => process.exit(code));
