import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root (the folder with ponder's package.json). Found by walking up from this file, so it
 * is right both from `src/` (tsc output lives in `dist/src/`) and from an installed package.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'ponder') return dir;
      } catch {
        /* keep walking */
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('ponder: cannot find the package root from ' + import.meta.url);
    dir = parent;
  }
}

export const packageRoot = findPackageRoot();
export const wgslDir = join(packageRoot, 'wgsl');
export const modelsDir = join(packageRoot, 'models');
export const packageVersion: string = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
