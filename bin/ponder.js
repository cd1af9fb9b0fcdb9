#!/usr/bin/env node
// The `ponder` executable: runs the compiled CLI (npm run build writes dist/).
import { existsSync } from 'node:fs';
const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('ponder: error: not built yet — run `npm run build` (or `npm run setup`) first');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
// Exit explicitly once stdout has drained: a natural exit runs Node's environment teardown, during
// which Dawn's addon can crash on a software adapter (see installExitGuard in src/gpu/device.ts).
process.stdout.write('', () => process.exit(code));
