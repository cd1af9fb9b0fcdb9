import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { matmul, setMatmulConfig, type MatmulConfigPatch, type MatmulOptions } from '../../src/ops/matmul.js';
import { subgroupKernelSupported } from '../../src/ops/matmul-configs.js';
import { assertClose } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomF32, rng } from '../helpers/random.js';
import { matmulRef } from '../reference/matmul.js';

/**
 * matmul's causal hint (dense attention's products: rows repeat a causal pattern every `period`
 * rows, G query heads stacked) against the float64 reference: 'scores' must write every wanted
 * entry (n ≤ ρ mod period; the rest may stay poisoned), 'lowerA' and 'upperA' must give the full
 * product when op(A) has the promised zeros. Periods that are multiples of the 64-row block (blocks
 * inside one period: the skipping paths), that are not (blocks straddling two: the whole range),
 * and not a multiple of the kernel's k step, 8 or 16 (the hint is ignored). Every kernel config runs it: the subgroup kernel
 * uses the hint, the tiled one ignores it.
 */
const CONFIGS: { name: string; patch: MatmulConfigPatch | undefined; needsSubgroups: boolean; lanes?: number }[] = [
  { name: 'default config', patch: undefined, needsSubgroups: false },
  { name: 'subgroup 8 rows', patch: { kernel: 'subgroup', smallMKernel: 'same', subgroup: { wg: 8, rows: 8, colQuads: 1 } }, needsSubgroups: true },
  { name: 'subgroup 8 rows, 16 lanes', patch: { kernel: 'subgroup', smallMKernel: 'same', subgroup: { wg: 16, rows: 8, colQuads: 1 } }, needsSubgroups: true, lanes: 16 },
  { name: 'tiled', patch: { kernel: 'tiled', smallMKernel: 'same' }, needsSubgroups: false },
];

type Kind = NonNullable<MatmulOptions['causal']>['kind'];
const TOL = { rtol: 1e-4, atol: 1e-5 };

/** One product of `batch` entries with G stacked heads of period P and head dim D. */
async function check(kind: Kind, batch: number, G: number, P: number, D: number): Promise<void> {
  const gpu = await testGpu();
  const r = rng();
  const label = `${kind} batch ${batch} G ${G} period ${P} D ${D}`;
  let M: number, N: number, K: number, transA: boolean, transB: boolean;
  if (kind === 'scores') [M, N, K, transA, transB] = [G * P, P, D, false, true]; // q·kᵀ
  else if (kind === 'lowerA') [M, N, K, transA, transB] = [G * P, D, P, false, false]; // dS·k
  else [M, N, K, transA, transB] = [P, D, G * P, true, false]; // dSᵀ·q, dS stored [G·P, P]
  const aHost = randomF32(batch * M * K, r);
  const bHost = randomF32(batch * K * N, r);
  // the promised zeros of op(A): A is stored [M,K], or [K,M] for upperA
  for (let e = 0; e < batch; e++) {
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        if (kind === 'lowerA' && k > i % P) aHost[(e * M + i) * K + k] = 0;
        if (kind === 'upperA' && k % P < i) aHost[(e * K + k) * M + i] = 0;
      }
    }
  }
  const a = gpu.upload(aHost, [batch, ...(transA ? [K, M] : [M, K])]);
  const b = gpu.upload(bHost, [batch, ...(transB ? [N, K] : [K, N])]);
  const out = poisoned(gpu, [batch, M, N]);
  matmul(gpu, a, b, { transA, transB, causal: { kind, period: P } }, out);
  const got = await gpu.readF32(out);
  const want = matmulRef(aHost, bHost, { M, N, K, batch, transA, transB });
  if (kind === 'scores') {
    // only the wanted entries: the diagonal and left of it, per row's position ρ mod P
    const g: number[] = [];
    const w: number[] = [];
    for (let e = 0; e < batch; e++) {
      for (let i = 0; i < M; i++) {
        for (let n = 0; n <= i % P; n++) {
          g.push(got[(e * M + i) * N + n]!);
          w.push(want[(e * M + i) * N + n]!);
        }
      }
    }
    assertClose(label, g, w, TOL);
  } else {
    assertClose(label, got, want, TOL);
  }
  for (const t of [a, b, out]) t.release();
}

describe('matmul causal hint', () => {
  for (const c of CONFIGS) {
    it(`${c.name}: scores, lowerA and upperA match the reference where defined`, async (t) => {
      const gpu = await testGpu();
      if (c.needsSubgroups && !subgroupKernelSupported(gpu)) return t.skip('adapter lacks subgroups of >= 8 lanes');
      if (c.lanes && (gpu.info.subgroupMinSize ?? 0) < c.lanes) return t.skip(`adapter lacks subgroups of ${c.lanes} lanes`);
      setMatmulConfig(gpu, c.patch);
      try {
        for (const kind of ['scores', 'lowerA', 'upperA'] as const) {
          await check(kind, 2, 2, 128, 16); // 64-row blocks inside one period: blocks and k ranges skipped
          await check(kind, 1, 3, 72, 8); // blocks straddle periods: their whole range (16 lanes: hint ignored, 72 % 16 != 0)
          await check(kind, 2, 1, 20, 12); // a period not a multiple of 8: the hint is ignored
        }
      } finally {
        setMatmulConfig(gpu, undefined);
      }
    });
  }

  it('rejects a period that is not a positive integer', async () => {
    const gpu = await testGpu();
    const a = gpu.empty([4, 4]);
    assert.throws(() => matmul(gpu, a, a, { causal: { kind: 'lowerA', period: 0 } }), /causal period must be a positive integer/);
    a.release();
  });
});
