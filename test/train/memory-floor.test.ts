import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Gpu } from '../../src/gpu/gpu.js';
import { sizeClass } from '../../src/gpu/pool.js';
import type { ModelConfig } from '../../src/model/config.js';
import { rmsnormDwRowsPerBlock } from '../../src/ops/rmsnorm.js';
import { pooledFloorBytes, trainingMemoryFloor } from '../../src/train/memory-floor.js';
import { AdamW } from '../../src/train/optimizer.js';
import { TrainableModel, type TrainableOptions } from '../../src/train/trainable.js';
import { testGpu } from '../helpers/gpu.js';
import { randomWeights, tinyConfig } from '../helpers/tiny-models.js';

/**
 * The training memory floor against the buffer pool's measured peak over one real training step
 * (TrainableModel.step + AdamW.step). The floor's buffers, each rounded to the pool's size class, must
 * all be live at the peak (so peak >= that), and what the peak holds beyond them must be no more than
 * the ops' short-lived scratch of that step: the loss [1] and AdamW's result [2], the attention ops'
 * stand-in for absent segments (u32 [1], allocated once per device), plus the largest of
 * the attention backward's delta [B,T,Hq], RMSNorm's dweight partials and the embedding backward's CSR
 * index. A buffer the floor forgot (even a [B·T] row vector) leaves more than that and fails.
 */
async function measuredPeak(gpu: Gpu, config: ModelConfig, B: number, T: number, opts: TrainableOptions = {}, mtpWeight?: number): Promise<number> {
  gpu.pool.trim();
  const before = gpu.pool.bytesLive;
  gpu.pool.bytesPeak = before;
  const model = TrainableModel.create(gpu, config, randomWeights(config, 5), opts);
  const opt = new AdamW(gpu, model.params(), { lr: 1e-3, weightDecay: 0.1, gradClip: 1 });
  try {
    const ids = Array.from({ length: B * T }, (_, i) => (i * 37) % config.vocab_size);
    const loss = model.step(ids, ids.map((x) => (x + 1) % config.vocab_size), B, T, { gradScale: 1 / (B * T), mtpWeight });
    const res = opt.step(1e-3);
    assert.ok(Number.isFinite((await gpu.readF32(loss))[0]!));
    await gpu.readF32(res);
    loss.release();
    res.release();
    return gpu.pool.bytesPeak - before;
  } finally {
    opt.dispose();
    model.dispose();
    gpu.pool.trim();
  }
}

/** The scratch one training step holds on top of the planned buffers at its peak (see above). */
function scratchAllowance(config: ModelConfig, B: number, T: number): number {
  const R = B * T;
  const dims = [config.hidden_size, config.head_dim];
  const partials = Math.max(...dims.map((d) => Math.ceil(R / rmsnormDwRowsPerBlock(R)) * d * 4), ...[R * config.num_attention_heads, R * config.num_key_value_heads].map((rows) => Math.ceil(rows / rmsnormDwRowsPerBlock(rows)) * config.head_dim * 4));
  const delta = R * config.num_attention_heads * 4;
  const csr = 3 * sizeClass(4 * (R + 1));
  return 2 * sizeClass(4) + sizeClass(8) + Math.max(sizeClass(delta), sizeClass(partials), csr);
}

describe('training memory floor', () => {
  const cases: [string, ModelConfig, number, number, TrainableOptions?, number?][] = [
    ['llama, untied lm_head', tinyConfig('llama', { vocab_size: 263 }), 4, 32],
    ['qwen2, q/k/v bias, tied', tinyConfig('qwen2', { vocab_size: 263 }), 2, 48],
    ['qwen3, qk-norm', tinyConfig('qwen3', { vocab_size: 263 }), 3, 40],
    // a big vocabulary, forced small: tables in chunks of 64 rows, the loss head in row blocks of 10
    ['llama, chunked tables and a row-blocked loss head', tinyConfig('llama', { vocab_size: 263 }), 2, 16, { maxTableRows: 64, maxLogitsBytes: 10 * 263 * 4 }],
    ['qwen2 with 2 MTP modules trained alongside', tinyConfig('qwen2', { vocab_size: 263, num_nextn_predict_layers: 2 }), 2, 24, {}, 0.3],
  ];
  for (const [name, config, B, T, opts, mtpWeight] of cases) {
    it(`${name}: the pool's peak holds every floor buffer, and nothing big beyond them`, async () => {
      const gpu = await testGpu();
      const floor = trainingMemoryFloor(config, B, T, opts);
      const peak = await measuredPeak(gpu, config, B, T, opts, mtpWeight);
      const pooled = pooledFloorBytes(floor, sizeClass);
      assert.ok(peak / floor.total >= 1, `peak ${peak} < floor ${floor.total}`);
      assert.ok(peak >= pooled, `peak ${peak} < the floor in pool size classes ${pooled}: the floor counts a buffer the step does not hold`);
      const extra = peak - pooled;
      const allowance = scratchAllowance(config, B, T);
      assert.ok(extra <= allowance, `the peak holds ${extra} bytes beyond the floor's buffers, more than the step's scratch (${allowance}): the floor misses a buffer`);
    });
  }

  it('counts weights, grads and both AdamW moments at 4 bytes a parameter (plus arena padding); activations scale with B·T', () => {
    const config = tinyConfig('qwen2', { vocab_size: 263 });
    const a = trainingMemoryFloor(config, 2, 16);
    const b = trainingMemoryFloor(config, 4, 16);
    let params = 0;
    let padded = 0; // each tensor starts at a multiple of 64 floats in its arena (param-arena.ts)
    for (const t of randomWeights(config, 1).values()) {
      params += t.data.length;
      padded += Math.ceil(t.data.length / 64) * 64;
    }
    assert.equal(a.params, params);
    assert.equal(a.weights, 4 * padded);
    assert.equal(a.grads, 4 * padded);
    assert.ok(a.adam >= 8 * params && a.adam < 8 * padded + 1024, `adam ${a.adam}`);
    assert.equal(a.total, a.weights + a.grads + a.adam + a.activations + a.rope);
    assert.equal(b.weights + b.grads + b.adam + b.rope, a.weights + a.grads + a.adam + a.rope);
    // logits alone are R·V floats; slots/starts are the only per-B (not per-row) buffers
    assert.ok(b.activations > 1.9 * a.activations && b.activations < 2.1 * a.activations, `${a.activations} -> ${b.activations}`);
    assert.ok(a.activations >= 2 * 16 * 263 * 4);
  });
});
