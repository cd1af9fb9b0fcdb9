/**
 * What `npm pack` would ship: the package's `files` list what a user installs (the executables, the
 * compiled sources, kernels, the bundled model, recipes and docs), never tests, run directories,
 * caches or peers' downloads.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { packageRoot } from '../../src/paths.js';

test('npm pack lists the runtime files and nothing from tests, runs or caches', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: packageRoot, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files: string[] = JSON.parse(r.stdout)[0].files.map((f: { path: string }) => f.path);
  for (const must of ['bin/ponder.js', 'bin/tune.js', 'dist/src/cli/main.js', 'wgsl/matmul.wgsl', 'models/default/config.json', 'package.json']) {
    assert.ok(files.includes(must), `${must} is missing from the package`);
  }
  const stray = files.filter((f) => /^(test|dist\/test|runs|node_modules|\.devgpu|\.cache)\//.test(f) || f.endsWith('.test.js') || f.endsWith('.tsbuildinfo'));
  assert.deepEqual(stray, []);
});
