import type { MatmulPeer, MatmulShape } from '../../src/engine/bench/types.js';
import { PY_MEDIAN_MS, runPython, timePythonMatmul } from './python.js';

/**
 * numpy's BLAS as a matmul peer: one `python3 -c` subprocess per shape, so nothing of Python stays in
 * ponder's process. The script times the same matmul the kernel case does (f32, A filled with 0.5 and
 * B with 0.25, A·B or A·Bᵀ) the way the kernel runner does: a warm-up call, `reps` calls per sample
 * so a sample lasts ~2 ms, samples for the time budget (at least 5), the median sample ÷ reps.
 * numpy uses every core through its BLAS (OpenBLAS here), the same cores lavapipe runs on.
 */
const PROBE = `
import numpy as np
blas = ''
try:
    cfg = np.show_config(mode='dicts')
    blas = cfg['Build Dependencies']['blas']['name']
except Exception:
    pass
print('numpy ' + np.__version__ + (' (' + blas + ')' if blas else ''))
`;

const TIME = `
import sys, json
import numpy as np
${PY_MEDIAN_MS}
M, N, K, tb, budget = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1', float(sys.argv[5]) / 1000
a = np.full((M, K), 0.5, dtype=np.float32)
b = np.full((N, K) if tb else (K, N), 0.25, dtype=np.float32)
f = (lambda: a @ b.T) if tb else (lambda: a @ b)
c = f()
assert c.shape == (M, N) and abs(float(c[0, 0]) - 0.125 * K) <= 1e-3 * K
print(json.dumps({'ms': median_ms(f, lambda: None, budget)}))
`;

const python = (args: string[], timeoutMs: number): Promise<string> => runPython('python3', { import: 'numpy', name: 'numpy' }, args, timeoutMs);

export function numpyPeer(): MatmulPeer {
  return {
    name: 'numpy',
    open: () => python(['-c', PROBE], 30_000),
    timeMatmul: (s: MatmulShape, budgetMs: number) => timePythonMatmul(python, TIME, 'numpy', s, budgetMs),
    close: async () => {},
  };
}
