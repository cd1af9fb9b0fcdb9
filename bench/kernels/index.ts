import type { KernelBenchCase } from '../../src/engine/bench/types.js';
import { cases as attentionCases } from './attention.js';
import { cases as layerCases } from './layers.js';
import { cases as matmulCases } from './matmul.js';
import { cases as reductionCases } from './reductions.js';

/** Every kernel benchmark case, in the order `ponder bench kernels` runs them. */
export function allKernelCases(): KernelBenchCase[] {
  return [...matmulCases(), ...layerCases(), ...attentionCases(), ...reductionCases()];
}
