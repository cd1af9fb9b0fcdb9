import type { MatmulPeer, MatmulShape } from '../../src/engine/bench/types.js';
import { runPython, timePythonMatmul } from './python.js';

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
import sys, json, time
import numpy as np
M, N, K, tb, budget = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1', float(sys.argv[5]) / 1000
a = np.full((M, K), 0.5, dtype=np.float32)
b = np.full((N, K) if tb else (K, N), 0.25, dtype=np.float32)
f = (lambda: a @ b.T) if tb else (lambda: a @ b)
c = f()
assert c.shape == (M, N) and abs(float(c[0, 0]) - 0.125 * K) <= 1e-3 * K
t0 = time.perf_counter(); f(); once = time.perf_counter() - t0
reps = max(1, min(256, round(0.002 / max(once, 1e-6))))
samples = []
end = time.perf_counter() + budget
while (len(samples) < 5 or time.perf_counter() < end) and len(samples) < 10000:
    t0 = time.perf_counter()
    for _ in range(reps): f()
    samples.append((time.perf_counter() - t0) / reps)
samples.sort()
print(json.dumps({'ms': samples[len(samples) // 2] * 1000}))
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
