import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder tune recipe.yaml key=value ... --output DIR` through the real executable, with --check (no
 * GPU): overrides change the plan and the hash, --output sets the run directory, and a bad override
 * or a stray argument is one error line.
 */
const SFT = fileURLToPath(new URL('../../../recipes/tiny-arithmetic-sft.yaml', import.meta.url));
const env = { VK_ICD_FILENAMES: '/nonexistent/icd.json' };

function check(args: string[]) {
  return runPonder(['tune', '--check', SFT, ...args], { env });
}

describe('ponder tune overrides', () => {
  it('key=value overrides change the plan and the hash; --output sets the run directory', () => {
    const plain = check(['--json']);
    const over = check(['stages.0.steps=50', 'stages.0.eval={task: arithmetic, n: 20}', '--output', '/tmp/ponder-over-run', '--json']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(over.code, 0, over.stderr);
    const a = JSON.parse(plain.stdout);
    const b = JSON.parse(over.stdout);
    assert.equal(a.plan.total_steps, 600);
    assert.equal(b.plan.total_steps, 50);
    assert.notEqual(a.hash, b.hash);
    const text = check(['--output', '/tmp/ponder-over-run']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^output {2}\/tmp\/ponder-over-run /m);
    // --output is output=DIR: the same hash
    const viaKey = check(['output=/tmp/ponder-over-run', '--json']);
    const viaFlag = check(['--output', '/tmp/ponder-over-run', '--json']);
    assert.equal(JSON.parse(viaKey.stdout).hash, JSON.parse(viaFlag.stdout).hash);
  });

  it('a bad override value: one line naming the field, from the command line, exit 1', () => {
    const r = check(['stages.0.steps=0']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.stderrLines, [`ponder: error: ${SFT} (from the command line): stages[0].steps: must be >= 1 (got 0)`]);
  });

  it('an argument that is not key=value: a usage error, exit 2', () => {
    const r = check(['steps50']);
    assert.equal(r.code, 2);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderrLines[0]!, /unexpected argument "steps50" after the recipe: overrides are key=value/);
  });
});
