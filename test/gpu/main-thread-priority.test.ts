import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { getPriority } from 'node:os';

/**
 * On a software adapter the JavaScript thread, which polls while it waits for the GPU, lowers its
 * own priority once the device is open, and lavapipe's worker threads (created with the device) keep
 * theirs: each case opens a device in a child process and reads every thread's nice value from /proc.
 */

const gpuModule = new URL('../../src/gpu/gpu.js', import.meta.url).href;

const CHILD = `
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
const { Gpu } = await import(${JSON.stringify(gpuModule)});
const gpu = await Gpu.open();
const nice = (tid) => { const s = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8'); return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]); };
const others = readdirSync('/proc/self/task').filter((t) => Number(t) !== process.pid).map(nice);
console.log(JSON.stringify({ software: gpu.info.software, main: getPriority(process.pid), others }));
gpu.close();
process.exit(0);
`;

function childNice(mainNice?: string): { software: boolean; main: number; others: number[] } {
  const env = { ...process.env };
  delete env.PONDER_MAIN_NICE;
  if (mainNice !== undefined) env.PONDER_MAIN_NICE = mainNice;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD], { env, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('the JavaScript thread yields the cores to a software adapter', () => {
  it('runs at nice 19 while the adapter threads keep theirs', { skip: process.platform !== 'linux' && 'per-thread nice values are Linux behaviour' }, () => {
    const r = childNice();
    const inherited = getPriority(process.pid); // the child starts at this test process's value
    if (!r.software) return assert.equal(r.main, inherited); // a real GPU: nothing to yield to
    assert.equal(r.main, 19);
    assert.ok(r.others.includes(inherited), `no thread kept nice ${inherited}: ${r.others}`);
  });

  it('PONDER_MAIN_NICE=0 leaves the priority alone', { skip: process.platform !== 'linux' && 'per-thread nice values are Linux behaviour' }, () => {
    assert.equal(childNice('0').main, getPriority(process.pid));
  });
});
