import { spawnSync } from 'node:child_process';
import { torchPython } from '../../bench/peers/torch.js';

/**
 * For the PyTorch peer tests: why torch cannot be used here (undefined when the interpreter the
 * peers run, python3 or $PONDER_PYTHON, imports it), and a way to run a test with another interpreter.
 */
export function torchMissing(): string | undefined {
  const python = torchPython();
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  return probe.error ? `${python} is not installed` : probe.status !== 0 ? `PyTorch is not installed for ${python}` : undefined;
}

/** Runs `fn` with PONDER_PYTHON set to `value`, restoring it after. */
export async function withPython<T>(value: string, fn: () => Promise<T>): Promise<T> {
  const old = process.env.PONDER_PYTHON;
  process.env.PONDER_PYTHON = value;
  try {
    return await fn();
  } finally {
    if (old === undefined) delete process.env.PONDER_PYTHON;
    else process.env.PONDER_PYTHON = old;
  }
}
