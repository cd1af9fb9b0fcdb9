import { grid1d, type Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import { shapeString, overlaps, type Tensor } from '../gpu/tensor.js';
import { expectDtype, expectPositiveInt, expectRank, expectShape, expectSize, fail } from './check.js';

const WG = 256;

export interface RopeTableOptions {
  /** number of positions the tables cover (rows); later positions are clamped to the last row */
  maxPositions: number;
  /** rotated dims per head (even, <= head_dim; < head_dim for partial rotary) */
  rotaryDim: number;
  /** RoPE base (rope_theta): 10000 for Llama-2, 1e6 for Qwen2.5/Qwen3 */
  theta: number;
}

export interface RopeTables {
  /** f32 [maxPositions, rotaryDim/2] */
  cos: Tensor;
  /** f32 [maxPositions, rotaryDim/2] */
  sin: Tensor;
}

/**
 * HF's inverse frequencies, rounded as HF computes them in float32:
 * inv_freq[i] = 1 / theta^(float32(2i) / rotaryDim) for i < rotaryDim/2.
 */
export function ropeInvFreq(rotaryDim: number, theta: number): Float32Array {
  const f = Math.fround;
  const half = rotaryDim / 2;
  const base = f(theta);
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const exponent = f((2 * i) / rotaryDim);
    inv[i] = f(1 / f(Math.pow(base, exponent)));
  }
  return inv;
}

/**
 * The cos/sin tables on the CPU: angle = float32(pos) * inv_freq[i] rounded to f32 (as HF's float32
 * matmul does), then cos/sin of that angle in float64, stored as f32. Row-major [maxPositions, half].
 */
export function ropeTableData(opts: RopeTableOptions): { cos: Float32Array; sin: Float32Array } {
  const { maxPositions, rotaryDim } = opts;
  const half = rotaryDim / 2;
  const inv = ropeInvFreq(rotaryDim, opts.theta);
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let pos = 0; pos < maxPositions; pos++) {
    const fp = Math.fround(pos);
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(fp * inv[i]);
      cos[pos * half + i] = Math.cos(angle);
      sin[pos * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/** Builds and uploads the cos/sin tables once per model (see ropeTableData for the rounding). */
export function ropeTables(gpu: Gpu, opts: RopeTableOptions): RopeTables {
  expectPositiveInt('ropeTables', 'maxPositions', opts.maxPositions);
  expectPositiveInt('ropeTables', 'rotaryDim', opts.rotaryDim);
  if (opts.rotaryDim % 2 !== 0) fail('ropeTables', `rotaryDim must be even, got ${opts.rotaryDim}`);
  if (!Number.isFinite(opts.theta) || opts.theta <= 0) fail('ropeTables', `theta must be a finite number > 0, got ${opts.theta}`);
  const { cos, sin } = ropeTableData(opts);
  const shape = [opts.maxPositions, opts.rotaryDim / 2];
  return { cos: gpu.upload(cos, shape, 'f32', 'rope.cos'), sin: gpu.upload(sin, shape, 'f32', 'rope.sin') };
}

/**
 * Rotary position embedding, HF "rotate_half" convention, on x f32 [B, T, H, D] or [T, H, D].
 * `positions` u32 with B*T (or T) elements: the absolute position of each token. The rotary dim is
 * 2 * tables.cos.shape[1]; dims beyond it pass through unchanged (partial rotary).
 * In place when `out` is omitted or shares x's buffer (returns x); otherwise writes `out`.
 * Positions >= the tables' maxPositions cannot be checked without a GPU readback, so the kernel
 * clamps them to maxPositions - 1: size the tables for the longest context you will run.
 */
export function rope(gpu: Gpu, x: Tensor, positions: Tensor, tables: RopeTables, out?: Tensor): Tensor {
  expectDtype('rope', 'x', x, ['f32']);
  expectRank('rope', 'x', x, [3, 4]);
  expectDtype('rope', 'positions', positions, ['u32']);
  expectDtype('rope', 'cos', tables.cos, ['f32']);
  expectDtype('rope', 'sin', tables.sin, ['f32']);
  expectRank('rope', 'cos', tables.cos, [2]);
  expectShape('rope', 'sin', tables.sin, tables.cos.shape, 'same as cos');
  const [maxPos, half] = tables.cos.shape;
  if (maxPos === 0 || half === 0) fail('rope', `cos has shape ${shapeString(tables.cos.shape)}, expected [maxPositions x rotaryDim/2] with both > 0`);
  const dim = x.shape[x.shape.length - 1];
  const heads = x.shape[x.shape.length - 2];
  if (2 * half > dim) fail('rope', `cos has shape ${shapeString(tables.cos.shape)}: rotary dim ${2 * half} exceeds the head dim of x ${shapeString(x.shape)}`);
  const tokens = x.size / Math.max(1, heads * dim);
  expectSize('rope', 'positions', positions, tokens);
  const inPlace = !out || overlaps(out, x);
  if (out) {
    expectDtype('rope', 'out', out, ['f32']);
    expectShape('rope', 'out', out, x.shape, 'same as x');
  }
  const rows = tokens * heads;
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  // vec4 views (4 pairs per thread) when the rotated halves and the rows are 16-byte aligned.
  const vec4 = half % 4 === 0 && dim % 4 === 0;
  const u = vec4 ? 4 : 1;
  const entry = vec4 ? 'main_vec4' : 'main';
  if (inPlace) {
    const n = (rows * half) / u;
    gpu.dispatch({
      file: 'rope_inplace.wgsl',
      entry,
      constants: { WG },
      params: new Params()
        .u32(n)
        .u32(heads)
        .u32(dim / u)
        .u32(half / u)
        .u32(maxPos),
      tensors: [x, positions, tables.cos, tables.sin],
      workgroups: grid1d(Math.ceil(n / WG), maxWg),
    });
    return out ?? x;
  }
  const perRow = (half + (dim - 2 * half)) / u;
  const n = rows * perRow;
  gpu.dispatch({
    file: 'rope.wgsl',
    entry,
    constants: { WG },
    params: new Params()
      .u32(n)
      .u32(perRow)
      .u32(heads)
      .u32(dim / u)
      .u32(half / u)
      .u32(maxPos),
    tensors: [x, positions, tables.cos, tables.sin, out!],
    workgroups: grid1d(Math.ceil(n / WG), maxWg),
  });
  return out!;
}

/**
 * RoPE backward: dx = the inverse rotation of dy (RoPE is orthogonal per pair, so the gradient is the
 * rotation by -angle); pass-through dims copy dy. Same shapes, tables and position clamping as `rope`:
 * dy f32 [B, T, H, D] or [T, H, D], positions u32 with B*T (or T) elements.
 * In place (returns dy) when `out` is omitted or shares dy's buffer; otherwise writes `out`.
 */
export function ropeBackward(gpu: Gpu, dy: Tensor, positions: Tensor, tables: RopeTables, out?: Tensor): Tensor {
  const op = 'ropeBackward';
  expectDtype(op, 'dy', dy, ['f32']);
  expectRank(op, 'dy', dy, [3, 4]);
  expectDtype(op, 'positions', positions, ['u32']);
  expectDtype(op, 'cos', tables.cos, ['f32']);
  expectDtype(op, 'sin', tables.sin, ['f32']);
  expectRank(op, 'cos', tables.cos, [2]);
  expectShape(op, 'sin', tables.sin, tables.cos.shape, 'same as cos');
  const [maxPos, half] = tables.cos.shape;
  if (maxPos === 0 || half === 0) fail(op, `cos has shape ${shapeString(tables.cos.shape)}, expected [maxPositions x rotaryDim/2] with both > 0`);
  const dim = dy.shape[dy.shape.length - 1];
  const heads = dy.shape[dy.shape.length - 2];
  if (2 * half > dim) fail(op, `cos has shape ${shapeString(tables.cos.shape)}: rotary dim ${2 * half} exceeds the head dim of dy ${shapeString(dy.shape)}`);
  const tokens = dy.size / Math.max(1, heads * dim);
  expectSize(op, 'positions', positions, tokens);
  const inPlace = !out || overlaps(out, dy);
  if (out) {
    expectDtype(op, 'out', out, ['f32']);
    expectShape(op, 'out', out, dy.shape, 'same as dy');
    if (!inPlace && (overlaps(out, positions) || overlaps(out, tables.cos) || overlaps(out, tables.sin))) {
      fail(op, 'out must not share a buffer with positions or the tables');
    }
  }
  const rows = tokens * heads;
  const vec4 = half % 4 === 0 && dim % 4 === 0;
  const u = vec4 ? 4 : 1;
  const perRow = inPlace ? half / u : (half + (dim - 2 * half)) / u;
  const n = rows * perRow;
  gpu.dispatch({
    file: 'rope_backward.wgsl',
    entry: (inPlace ? 'inplace' : 'main') + (vec4 ? '_vec4' : ''),
    constants: { WG },
    params: new Params()
      .u32(n)
      .u32(perRow)
      .u32(heads)
      .u32(dim / u)
      .u32(half / u)
      .u32(maxPos),
    tensors: inPlace ? [dy, positions, tables.cos, tables.sin] : [dy, positions, tables.cos, tables.sin, out!],
    workgroups: grid1d(Math.ceil(n / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out ?? dy;
}
