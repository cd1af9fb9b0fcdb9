import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ModelConfig } from './config.js';

/**
 * The key/value cache of a model: per layer one K and one V tensor f32 [S, Hkv, L, D] (the layout
 * src/ops/attention.ts reads): S independent sequences ("slots"), L positions each. A slot holds
 * whatever was last written to it; the caller tracks how many positions of each slot are valid and
 * passes that as `starts` to the next forward. Memory: 2 · layers · S · Hkv · L · D · 4 bytes.
 */
export class KvCache {
  readonly k: Tensor[] = [];
  readonly v: Tensor[] = [];
  private disposed = false;

  constructor(
    gpu: Gpu,
    config: ModelConfig,
    readonly slots: number,
    readonly maxPositions: number,
    /** the attention layers it serves: the trunk's by default; an MTP cache has one per module */
    layers = config.num_hidden_layers,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new PonderError('BAD_INPUT', `KV cache: slots must be a positive integer, got ${slots}`);
    if (!Number.isInteger(maxPositions) || maxPositions < 1) {
      throw new PonderError('BAD_INPUT', `KV cache: maxPositions must be a positive integer, got ${maxPositions}`);
    }
    const shape = [slots, config.num_key_value_heads, maxPositions, config.head_dim];
    for (let i = 0; i < layers; i++) {
      this.k.push(gpu.empty(shape, 'f32', `kv.k${i}`));
      this.v.push(gpu.empty(shape, 'f32', `kv.v${i}`));
    }
  }

  get layers(): number {
    return this.k.length;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [...this.k, ...this.v]) t.release();
  }
}
