/**
 * Will this model fit the GPU? Weights are uploaded as f32, one buffer per tensor; the KV cache is one
 * K and one V buffer per layer of [kvSlots, maxPositions, num_key_value_heads, head_dim] f32. A
 * buffer over maxStorageBufferBindingSize is fine (the model binds it in ranges), but every buffer
 * must fit maxBufferSize, so the check is made here, before anything is allocated, with a message
 * that names the size and the limit instead of a Dawn validation error halfway through a load.
 */
import { PonderError } from '../errors.js';
import { expectedWeights, type ModelConfig } from '../model/config.js';
import { fmtBytes } from './model-dir.js';

export interface DeviceLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

export interface FitReport {
  weightBytes: number;
  kvBytes: number;
  totalBytes: number;
  /** The largest single buffer the model needs. */
  largest: { name: string; bytes: number };
}

function gib(n: number): string {
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}


/** Sizes the model's GPU buffers and throws DEVICE_LIMIT if one of them exceeds maxBufferSize. */
export function checkFitsDevice(config: ModelConfig, limits: DeviceLimits, opts: { kvSlots?: number; maxPositions?: number } = {}): FitReport {
  const kvSlots = opts.kvSlots ?? 1;
  const maxPositions = opts.maxPositions ?? config.max_position_embeddings;
  let weightBytes = 0;
  let largest = { name: '', bytes: 0 };
  for (const [name, shape] of expectedWeights(config)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    weightBytes += bytes;
    if (bytes > largest.bytes) largest = { name: `tensor "${name}"`, bytes };
  }
  const kvBuffer = kvSlots * maxPositions * config.num_key_value_heads * config.head_dim * 4;
  const kvBytes = kvBuffer * 2 * config.num_hidden_layers;
  if (kvBuffer > largest.bytes) largest = { name: `the KV cache of one layer (${kvSlots} slot${kvSlots === 1 ? '' : 's'} × ${maxPositions} positions)`, bytes: kvBuffer };
  const totalBytes = weightBytes + kvBytes;
  if (largest.bytes > limits.maxBufferSize) {
    throw new PonderError(
      'DEVICE_LIMIT',
      `model needs ${gib(totalBytes)} of GPU memory for weights + KV cache; ${largest.name} needs one buffer of ${fmtBytes(largest.bytes)} but this device allows at most ${fmtBytes(limits.maxBufferSize)} per buffer (maxBufferSize)`,
      largest.name.startsWith('the KV cache') ? 'use a shorter context (--max-positions) or fewer slots' : 'this model is too large for this GPU',
    );
  }
  return { weightBytes, kvBytes, totalBytes, largest };
}
