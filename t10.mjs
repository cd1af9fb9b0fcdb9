import { Gpu } from './dist/src/gpu/gpu.js';
const mode = process.argv[2];
const g = await Gpu.open();
if (mode.includes('close')) g.close();
if (mode.includes('nodestroy')) {}
await new Promise(r => setTimeout(r, 200));
if (mode.includes('exit')) process.exit(0);
