import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeTorchBackend, judgeTorchBackend, type TorchFacts } from '../../bench/peers/torch-train.js';

/**
 * The training peer's verdict on where torch runs (bench/peers/torch-train.ts, judgeTorchBackend):
 * which BLAS and threads it names, and that a CPU run counts only on an optimized BLAS using every
 * core. The facts are written out as the probe reports them, so every branch runs without torch (and
 * without a reference BLAS installed).
 */
const DEBIAN = '/usr/lib/x86_64-linux-gnu';

function facts(overrides: Partial<TorchFacts> = {}): TorchFacts {
  return {
    torch: '1.13.0a0',
    cuda: null,
    blas_info: 'generic',
    cores: 2,
    torch_threads: 2,
    libs: [`${DEBIAN}/openblas-pthread/libblas.so.3`, `${DEBIAN}/openblas-pthread/libopenblasp-r0.3.21.so`],
    openblas: { config: 'OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64', threads: 2, parallel: 1 },
    ...overrides,
  };
}

describe('torch backend verdict', () => {
  it('Debian torch on OpenBLAS (pthreads) with every core counts, and says which BLAS and how many threads', () => {
    const b = judgeTorchBackend(facts());
    assert.equal(b.counts, true);
    assert.equal(b.why, undefined);
    assert.equal(b.backend, 'torch 1.13.0a0, cpu: OpenBLAS 0.3.21 (pthreads) 2 threads, torch 2 threads, 2 cores');
    assert.equal(describeTorchBackend(b), b.backend);
    // the OpenMP wait policy the peer ran under is named when the environment set one
    const passive = judgeTorchBackend(facts({ omp_wait_policy: 'PASSIVE' }));
    assert.equal(passive.backend, 'torch 1.13.0a0, cpu: OpenBLAS 0.3.21 (pthreads) 2 threads, torch 2 threads (OMP_WAIT_POLICY=PASSIVE), 2 cores');
  });

  it('the same torch on the netlib reference BLAS does not count', () => {
    const b = judgeTorchBackend(facts({ libs: [`${DEBIAN}/blas/libblas.so.3`, `${DEBIAN}/lapack/liblapack.so.3`], openblas: null }));
    assert.equal(b.counts, false);
    assert.match(b.backend, /cpu: reference BLAS, torch 2 threads, 2 cores$/);
    assert.equal(b.why, `torch runs on the reference BLAS (${DEBIAN}/blas/libblas.so.3)`);
    assert.match(describeTorchBackend(b), /; its figures do not count: torch runs on the reference BLAS/);
  });

  it('a torch built without any BLAS does not count', () => {
    const b = judgeTorchBackend(facts({ blas_info: null, libs: [], openblas: null }));
    assert.equal(b.counts, false);
    assert.equal(b.why, 'torch runs on no optimized BLAS (BLAS_INFO=none)');
  });

  it('OpenBLAS on fewer threads than cores, or torch on fewer, does not count', () => {
    const few = judgeTorchBackend(facts({ cores: 4, torch_threads: 4 }));
    assert.equal(few.counts, false);
    assert.equal(few.why, 'OpenBLAS 0.3.21 (pthreads) uses 2 of 4 cores');
    const serial = judgeTorchBackend(facts({ libs: [`${DEBIAN}/openblas-serial/libopenblas.so.0`], openblas: { config: 'OpenBLAS 0.3.21', threads: 1, parallel: 0 } }));
    assert.equal(serial.counts, false);
    assert.equal(serial.why, 'OpenBLAS 0.3.21 (serial) uses 1 of 2 cores');
    const torchOne = judgeTorchBackend(facts({ torch_threads: 1 }));
    assert.equal(torchOne.counts, false);
    assert.equal(torchOne.why, 'torch uses 1 of 2 cores');
  });

  it("OpenBLAS's OpenMP build runs on torch's threads; its version comes from the file name when the config is unreadable", () => {
    const b = judgeTorchBackend(facts({ libs: [`${DEBIAN}/openblas-openmp/libopenblaso-r0.3.21.so`], openblas: null }));
    assert.equal(b.counts, true);
    assert.equal(b.backend, 'torch 1.13.0a0, cpu: OpenBLAS 0.3.21 (openmp) 2 threads, torch 2 threads, 2 cores');
  });

  it('MKL (a pip wheel links it in: nothing mapped) counts on every core; CUDA counts as cuBLAS', () => {
    const mkl = judgeTorchBackend(facts({ blas_info: 'mkl', libs: [], openblas: null, cores: 8, torch_threads: 8, torch: '2.5.1' }));
    assert.deepEqual(mkl, { backend: 'torch 2.5.1, cpu: MKL 8 threads, torch 8 threads, 8 cores', counts: true });
    const cuda = judgeTorchBackend(facts({ cuda: 'NVIDIA H200', torch: '2.5.1', torch_threads: 1 }));
    assert.deepEqual(cuda, { backend: 'torch 2.5.1, cuda: NVIDIA H200, cuBLAS, TF32 off', counts: true });
  });
});
