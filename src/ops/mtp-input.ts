import type { Gpu } from '../gpu/gpu.js';
import { Params } from '../gpu/params.js';
import type { Tensor } from '../gpu/tensor.js';
import { expectDtype, expectShape, fail } from './check.js';

/**
 * An MTP module's input in one dispatch (mtp_input.wgsl): for each row r,
 * x[r] = projHidden · (rmsnorm(hidden[r]) ∘ hiddenNorm) + projToken · (rmsnorm(embed[tokens[r]]) ∘ tokenNorm).
 * The same arithmetic as ops/embedding, two ops/rmsnorm and two ops/matmul (model/transformer.ts
 * mtpInput), in another summation order. Used for a draft round's few rows on a software adapter,
 * where those five dispatches cost more than their arithmetic (mtpInputFits).
 */

const OP = 'mtpInput';
const WG = 64;
/** Widest hidden size: two normed rows and the reduction must fit the workgroup memory. */
const MAX_HIDDEN = 1024;

export interface MtpInputWeights {
  /** [V, H] f32, one tensor (not row chunks) */
  embed: Tensor;
  hiddenNorm: Tensor;
  tokenNorm: Tensor;
  /** [H, H] (out × in) */
  projHidden: Tensor;
  projToken: Tensor;
}

/**
 * Whether the fused input takes `rows` rows of width H: f32 weights, H a multiple of 4 up to
 * MAX_HIDDEN, and (`softwareOnly`, the default) a software adapter: one workgroup a row leaves a GPU idle.
 */
export function mtpInputFits(gpu: Gpu, w: MtpInputWeights, rows: number, opts: { softwareOnly?: boolean } = {}): boolean {
  if ((opts.softwareOnly ?? true) && !gpu.info.software) return false;
  const H = w.hiddenNorm.size;
  if (H % 4 || H > MAX_HIDDEN || rows < 1 || rows > gpu.limits.maxComputeWorkgroupsPerDimension) return false;
  return [w.embed, w.hiddenNorm, w.tokenNorm, w.projHidden, w.projToken].every((t) => t.dtype === 'f32');
}

/** x [R, H] = the module's input for hidden [R, H] and tokens u32 [R] (header). Returns x. */
export function mtpInput(gpu: Gpu, hidden: Tensor, tokens: Tensor, w: MtpInputWeights, eps: number, x: Tensor): Tensor {
  const H = w.hiddenNorm.size;
  const R = tokens.size;
  const V = w.embed.shape[0]!;
  if (H % 4 || H > MAX_HIDDEN) fail(OP, `hidden size ${H}: the fused input takes multiples of 4 up to ${MAX_HIDDEN}`);
  expectDtype(OP, 'tokens', tokens, ['u32']);
  expectShape(OP, 'tokens', tokens, [R], 'R token ids');
  for (const [name, t] of [['hidden', hidden], ['x', x]] as const) {
    expectDtype(OP, name, t, ['f32']);
    expectShape(OP, name, t, [R, H], 'R x hidden');
  }
  expectShape(OP, 'embed', w.embed, [V, H], 'vocab x hidden');
  expectShape(OP, 'tokenNorm', w.tokenNorm, [H], 'hidden');
  expectShape(OP, 'projHidden', w.projHidden, [H, H], 'hidden x hidden');
  expectShape(OP, 'projToken', w.projToken, [H, H], 'hidden x hidden');
  if (x === hidden) fail(OP, 'x must not be the hidden rows it reads');
  gpu.dispatch({
    file: 'mtp_input.wgsl',
    constants: { WG, NS4: H / 4 },
    params: new Params().u32(H).u32(H / 4).u32(V).f32(eps),
    tensors: [hidden, tokens, w.embed, w.hiddenNorm, w.tokenNorm, w.projHidden, w.projToken, x],
    workgroups: [R],
  });
  return x;
}
