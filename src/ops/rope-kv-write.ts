import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { overlaps, shapeString, type Tensor } from '../gpu/tensor.js';
import { checkCaches, checkRowTensors, kvWrite } from './attention.js';
import { expectDtype, expectRank, expectShape, expectSize, fail } from './check.js';
import { rope, type RopeTables } from './rope.js';

const OP = 'ropeKvWrite';
const WG = 256;

/** Where the caches go and how positions rotate: what both forms of ropeKvWrite take. */
export interface CacheWrite {
  /** u32 [B·T]: the rope position of each token (starts[b] + t for a cache pass) */
  positions: Tensor;
  tables: RopeTables;
  kCache: Tensor;
  vCache: Tensor;
  slots: Tensor;
  starts: Tensor;
}

/**
 * rope(q), rope(k) in place, then kvWrite(k, v) into the caches: the three ops an inference
 * attention block runs before attention, as one dispatch (wgsl/rope_kv_write.wgsl), with the same
 * results bit for bit. q f32 [B, T, Hq, D], k and v f32 [B, T, Hkv, D], caches [S, Hkv, L, D]
 * written at slots[b] from starts[b] (out-of-range slots and positions dropped, as kvWrite;
 * positions past the tables clamped, as rope). Head and rotary dims must be multiples of 8
 * (ropeKvWriteFits); the separate ops take any.
 */
export function ropeKvWrite(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, c: CacheWrite): void {
  expectDtype(OP, 'q', q, ['f32']);
  expectRank(OP, 'q', q, [4]);
  expectDtype(OP, 'k', k, ['f32']);
  expectRank(OP, 'k', k, [4]);
  expectDtype(OP, 'v', v, ['f32']);
  expectShape(OP, 'v', v, k.shape, 'same as k');
  const [B, T, Hq, D] = q.shape;
  const [Bk, Tk, Hkv, Dk] = k.shape;
  if (Bk !== B || Tk !== T || Dk !== D) fail(OP, `k ${shapeString(k.shape)} must match q ${shapeString(q.shape)} in B, T and D`);
  if (overlaps(q, k) || overlaps(q, v) || overlaps(k, v)) fail(OP, 'q, k and v must not share bytes');
  dispatch(gpu, 'rope_kv_write.wgsl', { B, T, Hq, Hkv, D }, [q, k, v], c);
}

/**
 * ropeKvWrite over one packed projection (wgsl/rope_kv_write_packed.wgsl): qkv f32 [B, T, Hq + 2·Hkv,
 * D], each token's q heads, then its k heads, then its v heads (one matmul against the stacked q, k
 * and v weight rows writes it). The rotated q goes to qOut [B, T, Hq, D]; k is rotated in place
 * inside qkv; k and v go to the caches. The same bits as ropeKvWrite.
 */
export function ropeKvWritePacked(gpu: Gpu, qkv: Tensor, Hq: number, qOut: Tensor, c: CacheWrite): void {
  expectDtype(OP, 'qkv', qkv, ['f32']);
  expectRank(OP, 'qkv', qkv, [4]);
  const [B, T, heads, D] = qkv.shape;
  const Hkv = (heads - Hq) / 2;
  if (!Number.isInteger(Hkv) || Hkv < 1) fail(OP, `qkv ${shapeString(qkv.shape)} does not hold ${Hq} q heads and two equal sets of k and v heads`);
  expectDtype(OP, 'qOut', qOut, ['f32']);
  expectShape(OP, 'qOut', qOut, [B, T, Hq, D], 'B x T x Hq x D');
  if (overlaps(qkv, qOut)) fail(OP, 'qOut must not share bytes with qkv');
  dispatch(gpu, 'rope_kv_write_packed.wgsl', { B, T, Hq, Hkv, D }, [qkv, qOut], c);
}

interface Dims {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
}

/** The shared checks and the dispatch of `file`, binding `io` (its q, k and v tensors) first. */
function dispatch(gpu: Gpu, file: string, d: Dims, io: Tensor[], c: CacheWrite): void {
  const { B, T, Hq, Hkv, D } = d;
  expectDtype(OP, 'positions', c.positions, ['u32']);
  expectSize(OP, 'positions', c.positions, B * T);
  expectRank(OP, 'cos', c.tables.cos, [2]);
  expectShape(OP, 'sin', c.tables.sin, c.tables.cos.shape, 'same as cos');
  const [maxPos, half] = c.tables.cos.shape;
  if (maxPos === 0 || half === 0 || 2 * half > D) fail(OP, `cos has shape ${shapeString(c.tables.cos.shape)}: expected [maxPositions x rotaryDim/2], rotaryDim at most D=${D}`);
  if (!ropeKvWriteFits(D, 2 * half)) fail(OP, `takes head and rotary dims that are multiples of 8, got D=${D}, rotary ${2 * half} (use rope and kvWrite)`);
  const [S, , L] = checkCaches(OP, c.kCache, c.vCache, Hkv, D, 'k');
  checkRowTensors(OP, c.slots, c.starts, B);
  const n = B * T * (Hq + Hkv) * (D / 8); // four pairs a thread
  if (n === 0) return;
  gpu.dispatch({
    file,
    constants: { WG },
    params: new Params().u32(n).u32(T).u32(Hq).u32(Hkv).u32(D / 4).u32(half / 4).u32(maxPos).u32(S).u32(L),
    tensors: [...io, c.positions, c.tables.cos, c.tables.sin, c.slots, c.starts, c.kCache, c.vCache],
    workgroups: grid1d(Math.ceil(n / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/**
 * Whether ropeKvWrite (and ropeKvWritePacked) take heads of D dims with `rotaryDim` of them rotated:
 * both multiples of 8, so head rows and rotary quads are whole vec4s (the kernels' only form; real
 * models' heads are 32, 64 or 128 wide).
 */
export function ropeKvWriteFits(D: number, rotaryDim = D): boolean {
  return D % 8 === 0 && rotaryDim % 8 === 0;
}

/**
 * rope(q), rope(k) and kvWrite(k, v) as one dispatch where ropeKvWrite takes the head dim, else as
 * the three ops: what a model's attention block calls.
 */
export function ropeAndCache(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, c: CacheWrite): void {
  if (ropeKvWriteFits(q.shape[q.shape.length - 1]!, 2 * (c.tables.cos.shape[1] ?? 0))) {
    ropeKvWrite(gpu, q, k, v, c);
    return;
  }
  rope(gpu, q, c.positions, c.tables);
  rope(gpu, k, c.positions, c.tables);
  kvWrite(gpu, k, v, c.kCache, c.vCache, c.slots, c.starts);
}
