import type { MatmulPeer, MatmulShape } from '../../src/engine/bench/types.js';
import { PY_MEDIAN_MS, runPython, timePythonMatmul } from './python.js';

/**
 * PyTorch as a matmul peer: on a GPU machine with a CUDA build of torch it is cuBLAS, otherwise torch's
 * CPU matmul (its BLAS, on every core this process may use, with OMP_WAIT_POLICY=PASSIVE: torchPeerEnv; the
 * probe names the thread count, the BLAS and the policy).
 * Like the numpy peer it runs one Python subprocess per shape, so nothing of Python stays in ponder's
 * process. The interpreter is `python3`, or the one the environment
 * variable PONDER_PYTHON names (e.g. PONDER_PYTHON=/usr/bin/python3 for a distribution's python3-torch).
 *
 * The script times the same matmul the kernel case does (f32, A filled with 0.5 and B with 0.25, A·B or
 * A·Bᵀ as `a @ b.T`) the way the kernel runner does: a warm-up call, `reps` calls per sample so a sample
 * lasts ~2 ms, samples for the time budget (at least 5), the median sample ÷ reps. On CUDA each sample
 * ends with torch.cuda.synchronize(), so it measures finished work, and TF32 is switched off
 * (torch.backends.cuda.matmul.allow_tf32 = False; its default differs between torch versions): cuBLAS
 * then does an f32 matmul like ponder's, not a 10-bit-mantissa one. The first result is checked against
 * the exact value (0.125 · K); a shape whose operands do not fit the device fails with Python's last
 * error line, not a figure.
 */

/**
 * Python source that picks the device (CUDA when torch sees a GPU, with TF32 off so matmuls are f32
 * like ponder's; else the CPU with torch's threads set to every core this process may use) and
 * defines `sync()` (a CUDA synchronize, or nothing on the CPU). The model and training peers
 * (torch-model.ts, torch-train.ts) start from it too.
 */
export const PY_TORCH_DEVICE = `
import os
import torch
cuda = torch.cuda.is_available()
dev = torch.device('cuda' if cuda else 'cpu')
if cuda:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
else:
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1))
sync = torch.cuda.synchronize if cuda else (lambda: None)
`;

/**
 * The environment every torch peer runs in: this process's, with OMP_WAIT_POLICY=PASSIVE unless it
 * sets one. torch's OpenMP threads otherwise spin after each parallel region on the cores that
 * OpenBLAS's own pthreads need; on the 2-core VM that made training steps 5-9x slower
 * (bench/RESULTS.md, "Training beside PyTorch"). The probe lines name the policy.
 */
export function torchPeerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
}

const PROBE = `
import os, re
${PY_TORCH_DEVICE}
if torch.cuda.is_available():
    print('torch ' + torch.__version__ + ' (cuda: ' + torch.cuda.get_device_name(0) + ', cuBLAS)')
else:
    n = torch.get_num_threads()
    blas = re.search(r'BLAS_INFO=(\\w+)', torch.__config__.show())
    print('torch ' + torch.__version__ + ' (cpu, ' + str(n) + (' thread' if n == 1 else ' threads') + (', BLAS ' + blas.group(1) if blas else '') + ', OMP_WAIT_POLICY ' + os.environ.get('OMP_WAIT_POLICY', 'unset') + ')')
`;

const TIME = `
import sys, json
${PY_TORCH_DEVICE}
${PY_MEDIAN_MS}
M, N, K, tb, budget = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1', float(sys.argv[5]) / 1000
with torch.no_grad():
    a = torch.full((M, K), 0.5, dtype=torch.float32, device=dev)
    b = torch.full((N, K) if tb else (K, N), 0.25, dtype=torch.float32, device=dev)
    f = (lambda: a @ b.T) if tb else (lambda: a @ b)
    c = f(); sync()
    assert tuple(c.shape) == (M, N) and abs(float(c[0, 0]) - 0.125 * K) <= 1e-3 * K, 'wrong result %r' % float(c[0, 0])
    del c
    ms = median_ms(f, sync, budget)
print(json.dumps({'ms': ms}))
`;

/** The Python interpreter the peer runs: PONDER_PYTHON, else python3. */
export function torchPython(): string {
  return process.env.PONDER_PYTHON || 'python3';
}

function python(args: string[], timeoutMs: number): Promise<string> {
  return runPython(torchPython(), { import: 'torch', name: 'PyTorch' }, args, timeoutMs, torchPeerEnv());
}

export function torchPeer(): MatmulPeer {
  return {
    name: 'pytorch',
    open: async () => (await python(['-c', PROBE], 60_000)).split('\n').pop()!,
    timeMatmul: (s: MatmulShape, budgetMs: number) => timePythonMatmul(python, TIME, 'pytorch', s, budgetMs),
    close: async () => {},
  };
}
