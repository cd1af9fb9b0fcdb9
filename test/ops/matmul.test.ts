import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { matmul, setMatmulConfig, type MatmulOptions } from '../../src/ops/matmul.js';
import { fitToAdapter, subgroupKernelSupported, validateMatmulConfig, pickMatmulConfig, matmulTuneCandidates, DEFAULT_MATMUL_CONFIGS, type MatmulConfigPatch } from '../../src/ops/matmul-configs.js';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, rng } from '../helpers/random.js';
import { matmulRef } from '../reference/matmul.js';

// Each kernel is forced through setMatmulConfig so every one is tested whatever the adapter's
// default is. Lavapipe compiles each pipeline variant in 1-4 s (cold; Mesa's disk cache makes
// reruns instant), so the subgroup kernel is pinned to its smallest variant here (8 rows, one
// column quad: one pipeline per transpose pair); the default-config tests below run its big
// production variant (128 rows, two quads).
const sixteenLanes = (gpu: Gpu) => subgroupKernelSupported(gpu) && (gpu.info.subgroupMinSize ?? 0) >= 16;
const KERNELS: { name: string; config: MatmulConfigPatch; available: (gpu: Gpu) => boolean }[] = [
  { name: 'subgroup', config: { kernel: 'subgroup', smallMKernel: 'same', subgroup: { wg: 8, rows: 8, colQuads: 1 } }, available: subgroupKernelSupported },
  // 16 lanes share A (LANES = 16, 16 k's per step) when subgroups have 16 lanes and a workgroup fills one
  { name: 'subgroup, 16 lanes', config: { kernel: 'subgroup', smallMKernel: 'same', subgroup: { wg: 16, rows: 8, colQuads: 1 } }, available: sixteenLanes },
  { name: 'tiled', config: { kernel: 'tiled', smallMKernel: 'same' }, available: () => true },
  { name: 'gemv (M <= 8)', config: { kernel: 'tiled', smallMKernel: 'gemv' }, available: () => true },
  { name: 'gemvSubgroup (M <= 8, B stored [N,K])', config: { kernel: 'tiled', smallMKernel: 'gemvSubgroup' }, available: subgroupKernelSupported },
];

interface Case {
  M: number;
  N: number;
  K: number;
  batch?: number;
  sharedB?: boolean;
  sharedA?: boolean;
  opts?: MatmulOptions & { biasOn?: boolean };
}

const TOL = { rtol: 1e-4, atol: 1e-5 };

/** Runs one case against the float64 reference; `accumulate` starts from random C. */
async function check(gpu: Gpu, label: string, c: Case): Promise<void> {
  const r = rng();
  const { M, N, K } = c;
  const batch = c.batch ?? 0; // 0 = unbatched rank-2 operands
  const nb = Math.max(batch, 1);
  const transA = c.opts?.transA ?? false;
  const transB = c.opts?.transB ?? false;
  const aHost = randomF32((c.sharedA ? 1 : nb) * M * K, r);
  const bCount = c.sharedB || batch === 0 ? 1 : nb;
  const bHost = randomF32(bCount * K * N, r);
  const aMat = transA ? [K, M] : [M, K];
  const bMat = transB ? [N, K] : [K, N];
  const a = gpu.upload(aHost, batch && !c.sharedA ? [batch, ...aMat] : aMat);
  const b = gpu.upload(bHost, batch && !c.sharedB ? [batch, ...bMat] : bMat);
  const outShape = batch ? [batch, M, N] : [M, N];
  const biasHost = c.opts?.biasOn ? randomF32(N, r) : undefined;
  const bias = biasHost ? gpu.upload(biasHost, [N]) : undefined;
  let out;
  let before: Float32Array | undefined;
  if (c.opts?.accumulate) {
    before = randomF32(nb * M * N, r);
    out = gpu.upload(before, outShape);
  } else {
    out = poisoned(gpu, outShape);
  }
  const res = matmul(gpu, a, b, { transA, transB, alpha: c.opts?.alpha, accumulate: c.opts?.accumulate, bias }, out);
  assert.equal(res, out);
  const want = matmulRef(aHost, bHost, {
    M,
    N,
    K,
    batch: nb,
    transA,
    transB,
    sharedB: c.sharedB || batch === 0,
    sharedA: c.sharedA,
    alpha: c.opts?.alpha,
    bias: biasHost,
    accumulateInto: before,
  });
  assertClose(label, await gpu.readF32(out), want, TOL);
  for (const t of [a, b, out, bias]) t?.release();
}

const tag = (c: Case) =>
  `${c.batch ? `${c.batch}x` : ''}${c.M}x${c.N}x${c.K}` +
  `${c.opts?.transA ? ' Aᵀ' : ''}${c.opts?.transB ? ' Bᵀ' : ''}${c.sharedB ? ' shared-B' : ''}${c.sharedA ? ' shared-A' : ''}` +
  `${c.opts?.biasOn ? ' +bias' : ''}${c.opts?.alpha !== undefined ? ` alpha=${c.opts.alpha}` : ''}${c.opts?.accumulate ? ' +=' : ''}`;

// All transposes at shapes that are vec4-aligned (the fast paths) and unaligned (fallbacks).
const TRANSPOSES: Case[] = [];
for (const transA of [false, true]) {
  for (const transB of [false, true]) {
    TRANSPOSES.push({ M: 7, N: 20, K: 36, opts: { transA, transB, biasOn: true, alpha: 0.5 } });
    TRANSPOSES.push({ M: 5, N: 13, K: 9, opts: { transA, transB } });
  }
}

const AWKWARD: Case[] = [
  { M: 1, N: 1, K: 1 },
  { M: 1, N: 7, K: 33 },
  { M: 7, N: 1, K: 129 },
  { M: 33, N: 129, K: 7 },
  { M: 3, N: 8, K: 1, opts: { transB: true } },
  { M: 129, N: 33, K: 20, opts: { transB: true } },
  { M: 2, N: 64, K: 896, opts: { transB: true, biasOn: true } }, // decode-shaped Linear
  { M: 1, N: 37, K: 12, opts: { transB: true } },
  { M: 1, N: 8, K: 1 }, // an A of one float: under the minimum size of a vec4 binding
  { M: 2, N: 12, K: 3, opts: { transA: true } }, // M, K both off the vec4 loads' quads
];

const BATCHED: Case[] = [
  { M: 5, N: 12, K: 8, batch: 3 },
  { M: 5, N: 12, K: 8, batch: 3, sharedB: true, opts: { transB: true, biasOn: true } },
  { M: 6, N: 8, K: 12, batch: 2, opts: { transA: true, transB: true } },
  { M: 8, N: 9, K: 7, batch: 2, sharedB: true, opts: { transA: true } },
  { M: 3, N: 10, K: 16, batch: 2, opts: { transB: true } }, // small M per batch entry: decode kernels
  // one input through stacked weights (gate and up, k and v): A shared, B and C batched
  { M: 7, N: 20, K: 36, batch: 2, sharedA: true, opts: { transB: true } },
  { M: 1, N: 64, K: 32, batch: 2, sharedA: true, opts: { transB: true } },
  { M: 5, N: 13, K: 9, batch: 3, sharedA: true, opts: { transB: true, accumulate: true } },
  { M: 6, N: 8, K: 12, batch: 2, sharedA: true, opts: { transA: true } },
];

const OPTIONS: Case[] = [
  { M: 6, N: 16, K: 24, opts: { accumulate: true } },
  { M: 6, N: 16, K: 24, opts: { accumulate: true, biasOn: true, alpha: -2, transB: true } },
  { M: 4, N: 12, K: 8, batch: 2, opts: { accumulate: true, transA: true } },
  { M: 3, N: 5, K: 7, opts: { alpha: 0.25, biasOn: true } },
];

describe('matmul', () => {
  for (const k of KERNELS) {
    describe(`${k.name} kernel`, () => {
      const run = (label: string, cases: Case[]) =>
        it(`${label} match the float64 reference`, async (t) => {
          const gpu = await testGpu();
          if (!k.available(gpu)) return t.skip(`adapter cannot run the ${k.name} kernel`);
          setMatmulConfig(gpu, k.config);
          try {
            for (const c of cases) await check(gpu, `${k.name} ${tag(c)}`, c);
          } finally {
            setMatmulConfig(gpu, undefined);
          }
        });
      run('all transpose combinations', TRANSPOSES);
      run('awkward shapes (1, 7, 33, 129, K=1, N=1, M=1)', AWKWARD);
      run('batched operands (per-batch, shared B, shared A)', BATCHED);
      run('accumulate, bias and alpha', OPTIONS);
    });
  }

  // Every configuration the autotuner may install (ponder bench --tune) on this adapter: all four
  // transposes at aligned and unaligned shapes, a batch, and the decode shapes for the small-M ones.
  it('is correct under every autotune candidate of this adapter', async () => {
    const gpu = await testGpu();
    const candidates = matmulTuneCandidates(gpu);
    assert.ok(candidates.some((c) => c.part === 'main') && candidates.some((c) => c.part === 'smallM'));
    const mainCases: Case[] = [...TRANSPOSES, { M: 67, N: 36, K: 20, batch: 2, sharedB: true, opts: { transB: true, biasOn: true } }];
    const smallCases: Case[] = [AWKWARD[1], AWKWARD[6], AWKWARD[7], BATCHED[4], { M: 1, N: 12, K: 20 }];
    for (const c of candidates) {
      setMatmulConfig(gpu, c.patch);
      try {
        for (const x of c.part === 'main' ? mainCases : smallCases) await check(gpu, `candidate ${c.name} ${tag(x)}`, x);
      } finally {
        setMatmulConfig(gpu, undefined);
      }
    }
  });

  it('matches the reference on 256-ish squares (default config: A·B and the A·Bᵀ hot path)', async () => {
    const gpu = await testGpu();
    await check(gpu, 'default 256x256x256', { M: 256, N: 256, K: 256 });
    await check(gpu, 'default 200x252x264 Bᵀ +bias', { M: 200, N: 252, K: 264, opts: { transB: true, biasOn: true } });
  });

  it('rejects mismatched shapes with a PonderError naming them', async () => {
    const gpu = await testGpu();
    const a = gpu.empty([4, 6]);
    const shape = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'SHAPE' && re.test(e.message);
    assert.throws(() => matmul(gpu, a, gpu.empty([7, 5])), shape(/\[4x6\].*K=6.*\[7x5\].*K=7/));
    assert.throws(() => matmul(gpu, a, gpu.empty([5, 7]), { transB: true }), shape(/K=6.*\[5x7\].*K=7/));
    assert.throws(() => matmul(gpu, gpu.empty([2, 4, 6]), gpu.empty([3, 6, 5])), shape(/batch.*\[2x4x6\].*2.*\[3x6x5\].*3/));
    // a rank-2 A against a batched B is shared by the batch: C is batched too
    assert.throws(() => matmul(gpu, a, gpu.empty([2, 6, 5]), {}, gpu.empty([4, 5])), shape(/out.*\[4x5\].*\[2x4x5\]/));
    assert.throws(() => matmul(gpu, a, gpu.empty([6, 5]), { bias: gpu.empty([4]) }), shape(/bias.*\[4\].*\[5\]/));
    assert.throws(() => matmul(gpu, a, gpu.empty([6, 5]), {}, gpu.empty([5, 4])), shape(/out.*\[5x4\].*\[4x5\]/));
    assert.throws(() => matmul(gpu, gpu.empty([2, 4, 6]), gpu.empty([6, 5]), {}, gpu.empty([4, 5])), shape(/out.*\[4x5\].*\[2x4x5\]/));
    assert.throws(() => matmul(gpu, a, gpu.empty([6, 5]), { accumulate: true }), shape(/accumulate/));
    assert.throws(() => matmul(gpu, a, gpu.empty([6])), shape(/\[6\].*rank 2 or 3/));
    assert.throws(() => matmul(gpu, a, gpu.empty([6, 5], 'u32')), shape(/u32/));
  });

  it('rejects configs that exceed the device limits with DEVICE_LIMIT', async () => {
    const gpu = await testGpu();
    const limit = (e: unknown) => e instanceof PonderError && e.code === 'DEVICE_LIMIT';
    const base = pickMatmulConfig(gpu);
    const huge = gpu.limits.maxComputeInvocationsPerWorkgroup * 2;
    assert.throws(() => setMatmulConfig(gpu, { tiled: { tx: huge, ty: 1, bk: 8 } }), limit);
    assert.throws(() => setMatmulConfig(gpu, { tiled: { tx: 16, ty: 16, bk: 1 << 20 } }), limit);
    assert.throws(() => setMatmulConfig(gpu, { gemv: { threadsPerCol: huge } }), limit);
    assert.throws(() => setMatmulConfig(gpu, { subgroup: { rows: 160 } }), limit);
    assert.throws(() => setMatmulConfig(gpu, { subgroup: { rows: 66 } }), limit);
    assert.deepEqual(pickMatmulConfig(gpu), base, 'a rejected config must not be installed');
    for (const cfg of Object.values(DEFAULT_MATMUL_CONFIGS)) {
      if (cfg.kernel === 'subgroup' && !subgroupKernelSupported(gpu)) continue;
      validateMatmulConfig(gpu, fitToAdapter(gpu, cfg));
    }
  });
});
