import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BindGroupCache } from '../../src/gpu/bind-groups.js';
import { add } from '../../src/ops/add.js';
import { testGpu } from '../helpers/gpu.js';

/**
 * The bind-group cache: one group per (pipeline, bindings) tuple, reused on a hit; another offset,
 * size or buffer is another group; a new buffer never hits an old buffer's group; the cache stays
 * bounded; and dispatches through it compute what they did without it (every op test runs through it).
 */
describe('bind-group cache', () => {
  it('reuses a group for the same bindings and makes a new one for any difference', async () => {
    const gpu = await testGpu();
    const pipeline = gpu.pipelines.pipeline({ file: 'add_inplace.wgsl', constants: { WG: 64 } });
    const cache = new BindGroupCache(gpu.device, 3);
    const mk = () => gpu.device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM });
    const p = mk();
    const a = mk();
    const b = mk();
    const g1 = cache.get(pipeline, [{ buffer: p, offset: 0, size: 16 }, { buffer: a, offset: 0, size: 256 }, { buffer: b, offset: 0, size: 256 }]);
    const g2 = cache.get(pipeline, [{ buffer: p, offset: 0, size: 16 }, { buffer: a, offset: 0, size: 256 }, { buffer: b, offset: 0, size: 256 }]);
    assert.equal(g2, g1);
    assert.equal(cache.hits, 1);
    const g3 = cache.get(pipeline, [{ buffer: p, offset: 256, size: 16 }, { buffer: a, offset: 0, size: 256 }, { buffer: b, offset: 0, size: 256 }]);
    assert.notEqual(g3, g1, 'another params slot');
    const c = mk();
    const g4 = cache.get(pipeline, [{ buffer: p, offset: 0, size: 16 }, { buffer: c, offset: 0, size: 256 }, { buffer: b, offset: 0, size: 256 }]);
    assert.notEqual(g4, g1, 'another buffer');
    assert.equal(cache.misses, 3);
    assert.equal(cache.size, 3);
    cache.get(pipeline, [{ buffer: p, offset: 0, size: 16 }, { buffer: a, offset: 256, size: 256 }, { buffer: b, offset: 0, size: 256 }]);
    assert.equal(cache.size, 1, 'full: emptied, then holds the new group');
    for (const x of [p, a, b, c]) x.destroy();
    await gpu.sync();
  });

  it('dispatches through the cache compute the same as fresh groups, with pooled buffers reused', async () => {
    const gpu = await testGpu();
    for (let round = 0; round < 3; round++) {
      const x = gpu.upload(new Float32Array([1, 2, 3, round]), [4]);
      const y = gpu.upload(new Float32Array([10, 20, 30, 40]), [4]);
      const out = add(gpu, x, y);
      assert.deepEqual(Array.from(await gpu.readF32(out)), [11, 22, 33, 40 + round]);
      for (const t of [x, y, out]) t.release();
    }
    assert.ok(gpu.bindGroups.hits > 0, 'the later rounds hit the cache');
  });
});
