import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { torchMissing, withPython } from '../helpers/torch.js';
import { spawnSync } from 'node:child_process';
import { torchPeer } from '../../bench/peers/torch.js';

/**
 * The PyTorch matmul peer (bench/peers/torch.ts). It runs python3, or the interpreter PONDER_PYTHON
 * names; the timing test skips, saying why, when that interpreter cannot import torch.
 */
const missing = torchMissing();

describe('pytorch peer', () => {
  it('opens and times a small matmul in both layouts (A·B, A·Bᵀ)', async (t) => {
    if (missing) return t.skip(missing);
    const peer = torchPeer();
    assert.equal(peer.name, 'pytorch');
    const desc = await peer.open();
    assert.match(desc, /^torch [\d.]+\S* \((cuda: .+, cuBLAS|cpu, \d+ threads?(, BLAS \w+)?, OMP_WAIT_POLICY \w+)\)$/);
    try {
      for (const transB of [false, true]) {
        const ms = await peer.timeMatmul({ M: 32, N: 48, K: 64, transB }, 20);
        assert.ok(ms > 0 && Number.isFinite(ms), `transB=${transB}: ${ms} ms`);
      }
    } finally {
      await peer.close();
    }
  });

  it('a shape whose operands cannot be allocated fails with Python\'s error, not a figure', async (t) => {
    if (missing) return t.skip(missing);
    // A is 2^48 floats (1 PiB): more than any device has, and more than a 47-bit address space, so the
    // allocation fails even where the kernel overcommits memory
    await assert.rejects(torchPeer().timeMatmul({ M: 1 << 24, N: 8, K: 1 << 24, transB: false }, 20), (e: Error) => {
      assert.ok(!e.message.includes('\n'), e.message);
      assert.match(e.message, /memory|alloc/i);
      return true;
    });
  });

  it('a missing interpreter is a one-line error', async () => {
    await withPython('/nonexistent/python', async () => {
      await assert.rejects(torchPeer().open(), { message: '/nonexistent/python is not installed' });
    });
  });

  it('an interpreter without torch says PyTorch is not installed', async (t) => {
    // needs a python3 on PATH that cannot import torch (as on CI)
    const p = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' });
    if (p.error) return t.skip('python3 is not installed');
    if (p.status === 0) return t.skip('python3 has torch');
    await withPython('python3', async () => {
      await assert.rejects(torchPeer().open(), { message: 'PyTorch is not installed for python3' });
    });
  });
});
