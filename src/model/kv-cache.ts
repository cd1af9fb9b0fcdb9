import { PonderError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { kvCopy, type SlotCopy } from '../ops/kv-copy.js';
import type { ModelConfig } from './config.js';

/**
 * The key/value cache of a model: per layer one K and one V tensor f32 [S, Hkv, L, D] (the layout
 * src/ops/attention.ts reads): S independent sequences ("slots"), L positions each. A slot holds
 * whatever was last written to it; the caller tracks how many positions of each slot are valid and
 * passes that as `starts` to the next forward. Memory: 2 · layers · S · Hkv · L · D · 4 bytes.
 * `copySlots` duplicates cached prefixes between slots on the GPU (a prompt prefilled once, then
 * decoded by several sequences).
 */
export class KvCache {
  readonly k: Tensor[] = [];
  readonly v: Tensor[] = [];
  private disposed = false;

  constructor(
    private readonly gpu: Gpu,
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

  /**
   * Records, in every layer, the copy of positions 0..positions-1 of slot `from` into slot `to` (K and
   * V). No slot may be both a copy's destination and another copy's source or destination.
   */
  copySlots(copies: readonly SlotCopy[]): void {
    if (this.disposed) throw new PonderError('BAD_INPUT', 'KV cache: copySlots after dispose');
    kvCopy(this.gpu, this.k, this.v, copies);
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
