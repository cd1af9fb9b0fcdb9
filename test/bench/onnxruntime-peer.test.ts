import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MatmulShape } from '../../src/engine/bench/types.js';
import { loadOnnxBuilder, loadOnnxruntime, onnxruntimePeer, webgpuSessionOptions } from '../../bench/peers/onnxruntime.js';
import { randomF32, rng, testSeed } from '../helpers/random.js';

/**
 * The onnxruntime matmul peer (bench/peers/onnxruntime.ts). Its packages are optional dev
 * dependencies: the model-builder test needs onnx-proto, the rest onnxruntime-node too; each test
 * skips, saying why, when its package is missing.
 */
const builder = await loadOnnxBuilder().catch((e: Error) => e);
const ort = await loadOnnxruntime().catch((e: Error) => e);

/** y = a·b or a·bᵀ in float64, a [M,K] and b [K,N] or [N,K] row-major. */
function reference(s: MatmulShape, a: Float32Array, b: Float32Array): Float64Array {
  const y = new Float64Array(s.M * s.N);
  for (let m = 0; m < s.M; m++)
    for (let n = 0; n < s.N; n++) {
      let acc = 0;
      for (let k = 0; k < s.K; k++) acc += a[m * s.K + k]! * b[s.transB ? n * s.K + k : k * s.N + n]!;
      y[m * s.N + n] = acc;
    }
  return y;
}

describe('onnxruntime peer: the ONNX matmul model', () => {
  for (const transB of [false, true]) {
    it(`encodes ${transB ? 'Gemm(transB=1)' : 'MatMul'} with both operands as initializers`, (t) => {
      if (builder instanceof Error) return t.skip(builder.message);
      const s = { M: 3, N: 5, K: 4, transB };
      const rand = rng(testSeed);
      const a = randomF32(s.M * s.K, rand);
      const b = randomF32(s.N * s.K, rand);
      const m = builder.decodeModel(builder.matmulModel(s, a, b));
      assert.equal(Number(m.irVersion), builder.MATMUL_IR_VERSION);
      assert.deepEqual(m.opsetImport!.map((o) => [o.domain ?? '', Number(o.version)]), [['', builder.MATMUL_OPSET]]);
      const g = m.graph!;
      const nodes = g.node!;
      assert.equal(nodes.length, 1);
      const node = nodes[0]!;
      assert.equal(node.opType, transB ? 'Gemm' : 'MatMul');
      assert.deepEqual(node.input, ['a', 'b']);
      assert.deepEqual(node.output, ['y']);
      if (transB) assert.deepEqual(node.attribute!.map((x) => [x.name, Number(x.i)]), [['transB', 1]]);
      else assert.equal(node.attribute?.length ?? 0, 0);
      assert.equal(g.input?.length ?? 0, 0, 'no graph inputs: the operands are initializers');
      const init = new Map(g.initializer!.map((x) => [x.name, x]));
      const check = (name: string, dims: number[], data: Float32Array) => {
        const x = init.get(name)!;
        assert.deepEqual(x.dims!.map(Number), dims);
        assert.equal(x.dataType, 1); // FLOAT
        const raw = x.rawData!;
        assert.deepEqual(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), data);
      };
      check('a', [3, 4], a);
      check('b', transB ? [5, 4] : [4, 5], b);
      assert.deepEqual(g.output!.map((o) => [o.name, o.type!.tensorType!.elemType, o.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue))]), [['y', 1, [3, 5]]]);
    });
  }

  it('rejects operands of the wrong size', (t) => {
    if (builder instanceof Error) return t.skip(builder.message);
    assert.throws(() => builder.matmulModel({ M: 2, N: 2, K: 2, transB: false }, new Float32Array(3), new Float32Array(4)), /a has 3 values, expected 2x2/);
    assert.throws(() => builder.matmulModel({ M: 2, N: 3, K: 2, transB: true }, new Float32Array(4), new Float32Array(4)), /b has 4 values, expected 3x2/);
  });
});

describe('onnxruntime peer: onnxruntime-node WebGPU EP', () => {
  const missing = ort instanceof Error ? ort.message : builder instanceof Error ? builder.message : undefined;

  for (const transB of [false, true]) {
    it(`runs ${transB ? 'A·Bᵀ' : 'A·B'} (17x23x31) on the WebGPU EP and matches a float64 reference`, async (t) => {
      if (missing || ort instanceof Error || builder instanceof Error) return t.skip(missing);
      const s = { M: 17, N: 23, K: 31, transB };
      const rand = rng(testSeed + (transB ? 1 : 0));
      const a = randomF32(s.M * s.K, rand);
      const b = randomF32(s.N * s.K, rand);
      let session;
      try {
        session = await ort.InferenceSession.create(builder.matmulModel(s, a, b), webgpuSessionOptions('cpu'));
      } catch (e) {
        if (/Failed to get a WebGPU adapter/.test(String(e))) return t.skip('onnxruntime found no WebGPU adapter');
        throw e;
      }
      try {
        const y = (await session.run({})).y!;
        assert.deepEqual(y.dims, [s.M, s.N]);
        const got = y.data as Float32Array;
        const want = reference(s, a, b);
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * s.K, `y[${i}] = ${got[i]}, expected ${want[i]} (seed ${testSeed})`);
      } finally {
        await session.release();
      }
    });
  }

  it('the peer opens and times a small matmul', async (t) => {
    if (missing) return t.skip(missing);
    const peer = onnxruntimePeer();
    try {
      assert.match(await peer.open(), /^onnxruntime-node [\d.]+ WebGPU EP/);
    } catch (e) {
      if (/Failed to get a WebGPU adapter/.test(String(e))) return t.skip('onnxruntime found no WebGPU adapter');
      throw e;
    }
    try {
      const ms = await peer.timeMatmul({ M: 32, N: 48, K: 64, transB: true }, 20);
      assert.ok(ms > 0 && Number.isFinite(ms), `${ms} ms`);
    } finally {
      await peer.close();
    }
  });
});
