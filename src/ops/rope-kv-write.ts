import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { overlaps, shapeString, type Tensor } from '../gpu/tensor.js';
import { checkCaches, checkRowTensors, kvWrite } from './attention.js';
import { expectDtype, expectRank, expectShape, expectSize, fail } from './check.js';
import { rope, type RopeTables } from './rope.js';

const OP = 'ropeKvWrite';
const WG = 256;

/**
 * rope(q), rope(k) in place, then kvWrite(k, v) into the caches: the three ops an inference
 * attention block runs before attention, as one dispatch (wgsl/rope_kv_write.wgsl), with the same
 * results bit for bit. q f32 [B, T, Hq, D], k and v f32 [B, T, Hkv, D], positions u32 [B·T] (the
 * rope positions, starts[b] + t for a cache pass), caches [S, Hkv, L, D] written at slots[b] from
 * starts[b] (out-of-range slots and positions dropped, as kvWrite; positions past the tables
 * clamped, as rope). The head dim must be even (ropeKvWriteFits); the separate ops take any.
 */
export function ropeKvWrite(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, positions: Tensor, tables: RopeTables, kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor): void {
  expectDtype(OP, 'q', q, ['f32']);
  expectRank(OP, 'q', q, [4]);
  expectDtype(OP, 'k', k, ['f32']);
  expectRank(OP, 'k', k, [4]);
  expectDtype(OP, 'v', v, ['f32']);
  expectShape(OP, 'v', v, k.shape, 'same as k');
  const [B, T, Hq, D] = q.shape;
  const [Bk, Tk, Hkv, Dk] = k.shape;
  if (Bk !== B || Tk !== T || Dk !== D) fail(OP, `k ${shapeString(k.shape)} must match q ${shapeString(q.shape)} in B, T and D`);
  if (!ropeKvWriteFits(D)) fail(OP, `the head dim must be even, got D=${D} (use rope and kvWrite)`);
  if (overlaps(q, k) || overlaps(q, v) || overlaps(k, v)) fail(OP, 'q, k and v must not share bytes');
  expectDtype(OP, 'positions', positions, ['u32']);
  expectSize(OP, 'positions', positions, B * T);
  expectRank(OP, 'cos', tables.cos, [2]);
  expectShape(OP, 'sin', tables.sin, tables.cos.shape, 'same as cos');
  const [maxPos, half] = tables.cos.shape;
  if (maxPos === 0 || half === 0 || 2 * half > D) fail(OP, `cos has shape ${shapeString(tables.cos.shape)}: expected [maxPositions x rotaryDim/2], rotaryDim at most D=${D}`);
  const [S, , L] = checkCaches(OP, kCache, vCache, Hkv, D, 'k');
  checkRowTensors(OP, slots, starts, B);
  // vec4 views (four threads of main in one) when the rotated quads and the head rows align
  const vec4 = half % 4 === 0 && D % 8 === 0;
  const u = vec4 ? 4 : 1;
  const n = (B * T * (Hq + Hkv) * (D / 2)) / u;
  if (n === 0) return;
  gpu.dispatch({
    file: 'rope_kv_write.wgsl',
    entry: vec4 ? 'main_vec4' : 'main',
    constants: { WG },
    params: new Params().u32(n).u32(T).u32(Hq).u32(Hkv).u32(D / u).u32(half / u).u32(maxPos).u32(S).u32(L),
    tensors: [q, k, v, positions, tables.cos, tables.sin, slots, starts, kCache, vCache],
    workgroups: grid1d(Math.ceil(n / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** Whether ropeKvWrite takes heads of D dims (even D: a thread moves two dims of k and of v). */
export function ropeKvWriteFits(D: number): boolean {
  return D % 2 === 0;
}

/**
 * rope(q), rope(k) and kvWrite(k, v) as one dispatch where ropeKvWrite takes the head dim, else as
 * the three ops: what a model's attention block calls.
 */
export function ropeAndCache(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, positions: Tensor, tables: RopeTables, kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor): void {
  if (ropeKvWriteFits(q.shape[q.shape.length - 1]!)) {
    ropeKvWrite(gpu, q, k, v, positions, tables, kCache, vCache, slots, starts);
    return;
  }
  rope(gpu, q, positions, tables);
  rope(gpu, k, positions, tables);
  kvWrite(gpu, k, v, kCache, vCache, slots, starts);
}
