import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { grid1d } from '../../src/gpu/gpu.js';
import { Params } from '../../src/gpu/params.js';
import { sizeClass } from '../../src/gpu/pool.js';
import { add, addInPlace } from '../../src/ops/add.js';
import { testGpu } from '../helpers/gpu.js';

const COPY_KERNEL = `
struct Params { n: u32, scale: f32, offset: i32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= p.n) { return; }
  y[g.x] = x[g.x] * p.scale + f32(p.offset);
}
`;

describe('gpu runtime', () => {
  it('packs mixed u32/f32/i32 params in declaration order', async () => {
    const gpu = await testGpu();
    gpu.pipelines.registerSource('test-copy.wgsl', COPY_KERNEL);
    const x = gpu.upload(new Float32Array([1, 2, 3, 4, 5]), [5]);
    const y = gpu.empty([5]);
    gpu.fill(y, NaN);
    gpu.dispatch({ file: 'test-copy.wgsl', params: new Params().u32(5).f32(0.5).i32(-3), tensors: [x, y], workgroups: [1] });
    assert.deepEqual([...(await gpu.readF32(y))], [-2.5, -2, -1.5, -1, -0.5]);
  });

  it('many dispatches in one submission each see their own params', async () => {
    const gpu = await testGpu();
    gpu.pipelines.registerSource('test-copy.wgsl', COPY_KERNEL);
    const x = gpu.upload(new Float32Array([1]), [1]);
    const outs = Array.from({ length: 700 }, () => gpu.empty([1])); // > one submit's 512 dispatches
    outs.forEach((o, i) => gpu.dispatch({ file: 'test-copy.wgsl', params: new Params().u32(1).f32(1).i32(i), tensors: [x, o], workgroups: [1] }));
    for (const i of [0, 1, 511, 512, 699]) assert.equal((await gpu.readF32(outs[i]))[0], 1 + i);
  });

  it('reports a WGSL compilation error with the file and line', async () => {
    const gpu = await testGpu();
    gpu.pipelines.registerSource('test-broken.wgsl', '@compute @workgroup_size(1)\nfn main() {\n  let a = 1;\n  let b = a +* 2;\n}\n');
    gpu.pipelines.registerSource('test-params-only.wgsl', 'struct Params { n: u32 }\n@group(0) @binding(0) var<uniform> p: Params;\n@compute @workgroup_size(1) fn main() { _ = p.n; }\n');
    const x = gpu.empty([4]);
    gpu.dispatch({ file: 'test-broken.wgsl', params: new Params().u32(1), tensors: [], workgroups: [1] });
    await assert.rejects(gpu.readF32(x), (e: unknown) => e instanceof PonderError && e.code === 'WGSL_COMPILE' && /^wgsl\/test-broken\.wgsl:4:\d+: /.test(e.message));
    // the device stays usable afterwards
    gpu.dispatch({ file: 'test-params-only.wgsl', params: new Params().u32(1), tensors: [], workgroups: [1] });
    await gpu.sync();
  });

  it('refuses grids over the per-dimension limit before dispatching', async () => {
    const gpu = await testGpu();
    const x = gpu.empty([1]);
    const limit = gpu.limits.maxComputeWorkgroupsPerDimension;
    assert.throws(
      () => gpu.dispatch({ file: 'add_inplace.wgsl', params: new Params().u32(1), tensors: [x, x], workgroups: [limit + 1] }),
      (e: unknown) => e instanceof PonderError && e.code === 'DEVICE_LIMIT' && e.message.includes(String(limit)),
    );
  });

  it('refuses a tensor larger than one storage binding, naming both sizes', async () => {
    const gpu = await testGpu();
    const maxBinding = gpu.limits.maxStorageBufferBindingSize;
    const n = maxBinding / 4 + 64;
    if (n * 4 > gpu.limits.maxBufferSize) return; // adapter allows nothing larger: nothing to test
    const a = gpu.empty([n]);
    const b = gpu.empty([n]);
    assert.throws(() => add(gpu, a, b), (e: unknown) => e instanceof PonderError && e.code === 'DEVICE_LIMIT' && /maxStorageBufferBindingSize/.test(e.message));
    a.release();
    b.release();
    gpu.pool.trim();
  });

  it('measures GPU time with timestamp queries when the adapter has them', async () => {
    const gpu = await testGpu();
    const a = gpu.upload(new Float32Array(4096).fill(1), [4096]);
    const ns = await gpu.timeGpu(() => add(gpu, a, a));
    if (gpu.has('timestamp-query')) assert.ok(typeof ns === 'number' && ns >= 0);
    else assert.equal(ns, undefined);
  });

  it('reuses released buffers and tracks live bytes', async () => {
    const gpu = await testGpu();
    const before = gpu.pool.bytesLive;
    const t = gpu.empty([1000]);
    const buf = t.buffer;
    assert.equal(gpu.pool.bytesLive - before, sizeClass(4000));
    t.release();
    assert.equal(gpu.pool.bytesLive, before);
    const u = gpu.empty([990]); // same size class
    assert.equal(u.buffer, buf);
  });

  it('read-backs that reuse staging buffers return each tensor its own values, in turn and at once', async () => {
    const gpu = await testGpu();
    const small = Array.from({ length: 6 }, (_, i) => gpu.upload(new Float32Array([i, i + 0.5, -i]), [3]));
    for (let round = 0; round < 3; round++) {
      for (const [i, t] of small.entries()) assert.deepEqual([...(await gpu.readF32(t))], [i, i + 0.5, -i]);
    }
    // concurrent reads of one size each hold their own staging buffer while mapped
    const all = await Promise.all(small.map((t) => gpu.readF32(t)));
    all.forEach((v, i) => assert.deepEqual([...v], [i, i + 0.5, -i]));
    // a read past the reuse size, then a small one again
    const big = gpu.upload(new Float32Array(20_000).map((_, i) => i), [20_000]);
    const got = await gpu.readF32(big);
    assert.equal(got.length, 20_000);
    assert.equal(got[19_999], 19_999);
    assert.deepEqual([...(await gpu.readF32(small[2]!))], [2, 2.5, -2]);
  });

  it('clear zeroes exactly a view, in order with the work recorded around it', async () => {
    const gpu = await testGpu();
    const whole = gpu.upload(new Float32Array(192).map((_, i) => i + 1), [192]);
    const mid = whole.view(64, [64]); // elements 64..127: 256-byte aligned, as views are
    const src = gpu.upload(new Float32Array(64).fill(7), [64]);
    gpu.copy(src, mid); // recorded before the clear: must not survive it
    gpu.clear(mid);
    addInPlace(gpu, mid, src); // recorded after: sees the zeros
    const got = await gpu.readF32(whole);
    for (let i = 0; i < 192; i++) assert.equal(got[i], i >= 64 && i < 128 ? 7 : i + 1, `element ${i}`);
    assert.throws(() => gpu.clear(gpu.empty([3], 'f16')), (e: unknown) => e instanceof PonderError && /whole number of 4-byte words/.test(e.message));
    for (const t of [whole, src]) t.release();
  });

  it('trimming the pool submits recorded work that names a released buffer before destroying it', async () => {
    const gpu = await testGpu();
    const t = gpu.empty([1024]);
    gpu.clear(t); // recorded, not submitted
    t.release();
    gpu.pool.trim();
    await gpu.sync(); // a destroyed buffer in a later submit would be a GPU error here
  });

  it('splits large 1-D grids over two dimensions', () => {
    assert.deepEqual(grid1d(10, 65535), [10, 1]);
    const [x, y] = grid1d(200_000, 65535);
    assert.ok(x <= 65535 && x * y >= 200_000);
  });
});
