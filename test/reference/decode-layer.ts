/**
 * One Llama layer over new rows with a KV cache, in float64, composed from the single-op references
 * (each proven on its own): rmsnorm → q/k/v → RoPE → cache write → attention over the cache → o_proj
 * + residual → rmsnorm → SwiGLU MLP + residual. The reference of decode_layer.wgsl.
 */
import { attentionRef, kvWriteRef, type AttnDims } from './attention.js';
import { rmsnormRef, ropeRef, swigluRef } from './layers.js';
import { matmulRef } from './matmul.js';

export interface LayerRefWeights {
  inputNorm: ArrayLike<number>;
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  o: ArrayLike<number>;
  postNorm: ArrayLike<number>;
  gate: ArrayLike<number>;
  up: ArrayLike<number>;
  down: ArrayLike<number>;
}

/** x [B·T, H] through the layer; kCache/vCache [S, Hkv, L, D] get the rows' keys and values. */
export function decodeLayerRef(
  x: ArrayLike<number>,
  w: LayerRefWeights,
  kCache: ArrayLike<number>,
  vCache: ArrayLike<number>,
  slots: readonly number[],
  starts: readonly number[],
  dims: AttnDims & { H: number; I: number; eps: number; theta: number },
): { x: Float64Array; kCache: Float64Array; vCache: Float64Array } {
  const { B, T, H, I, Hq, Hkv, D, eps, theta } = dims;
  const R = B * T;
  const lin = (a: ArrayLike<number>, W: ArrayLike<number>, N: number, K: number) => matmulRef(a, W, { M: R, N, K, transB: true });
  const n1 = rmsnormRef(x, w.inputNorm, H, eps).out;
  const positions = Array.from({ length: R }, (_, r) => starts[Math.floor(r / T)]! + (r % T));
  const q = ropeRef(lin(n1, w.q, Hq * D, H), positions, Hq, D, D, theta);
  const k = ropeRef(lin(n1, w.k, Hkv * D, H), positions, Hkv, D, D, theta);
  const v = lin(n1, w.v, Hkv * D, H);
  const caches = kvWriteRef(k, v, kCache, vCache, slots, starts, dims);
  const a = attentionRef(q, caches.kCache, caches.vCache, slots, starts, dims).out;
  const o = lin(a, w.o, H, Hq * D);
  const x1 = Float64Array.from(x, (xi, i) => xi + o[i]!);
  const n2 = rmsnormRef(x1, w.postNorm, H, eps).out;
  const act = swigluRef(lin(n2, w.gate, I, H), lin(n2, w.up, I, H));
  const down = lin(act, w.down, H, I);
  return { x: Float64Array.from(x1, (xi, i) => xi + down[i]!), ...caches };
}
