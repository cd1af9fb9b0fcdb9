import onnxProto, { type onnx as O } from 'onnx-proto';
import type { MatmulShape } from '../../src/engine/bench/types.js';

/**
 * The one-node ONNX model the onnxruntime peer times, built in memory with onnx-proto (the ONNX
 * protobuf schema compiled by protobufjs; a dev dependency, loaded by the peer only when it opens).
 *
 *  - A·B:  MatMul(a [M,K], b [K,N]) -> y [M,N]
 *  - A·Bᵀ: Gemm(a [M,K], b [N,K], transB=1) -> y [M,N], i.e. y = x·Wᵀ with W stored [out, in] as
 *          HF Linear weights are, the same layout ponder's matmul.ABt reads. Gemm with transB is how
 *          ONNX spells a Linear layer without a separate Transpose node (and what torch exports for
 *          2-D nn.Linear); a MatMul with a pre-transposed initializer would time A·B instead.
 *
 * Both operands are initializers, not graph inputs: the session uploads them to the GPU once, as
 * ponder and tfjs fill their operands once, so a timed run is the matmul and not also an upload of
 * A (and B) from the CPU. The graph then has no inputs, so the session must run with graph
 * optimizations off, or onnxruntime's constant folding would compute y once on the CPU while
 * building the session.
 *
 * Float data is stored little-endian in raw_data, as ONNX requires (Float32Array's bytes on x64 and
 * arm64).
 */
const { onnx } = onnxProto;

export const MATMUL_OPSET = 17;
export const MATMUL_IR_VERSION = 8;

const LITTLE_ENDIAN = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;

function tensor(name: string, dims: number[], data: Float32Array): O.ITensorProto {
  if (!LITTLE_ENDIAN) throw new Error('ONNX raw_data is little-endian; this machine is not');
  return {
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** The model bytes for y = a·b (or a·bᵀ when `s.transB`), with a [M,K] and b [K,N] (or [N,K]) row-major. */
export function matmulModel(s: MatmulShape, a: Float32Array, b: Float32Array): Uint8Array {
  const bDims = s.transB ? [s.N, s.K] : [s.K, s.N];
  if (a.length !== s.M * s.K) throw new Error(`a has ${a.length} values, expected ${s.M}x${s.K}`);
  if (b.length !== s.N * s.K) throw new Error(`b has ${b.length} values, expected ${bDims.join('x')}`);
  const node: O.INodeProto = s.transB
    ? { name: 'matmul', opType: 'Gemm', input: ['a', 'b'], output: ['y'], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }
    : { name: 'matmul', opType: 'MatMul', input: ['a', 'b'], output: ['y'] };
  const model = onnx.ModelProto.create({
    irVersion: MATMUL_IR_VERSION,
    producerName: 'ponder bench',
    opsetImport: [{ domain: '', version: MATMUL_OPSET }],
    graph: {
      name: `matmul_${s.M}x${s.N}x${s.K}${s.transB ? '_ABt' : ''}`,
      node: [node],
      initializer: [tensor('a', [s.M, s.K], a), tensor('b', bDims, b)],
      output: [
        {
          name: 'y',
          type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: s.M }, { dimValue: s.N }] } } },
        },
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Decodes model bytes (for tests). */
export function decodeModel(bytes: Uint8Array): O.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
