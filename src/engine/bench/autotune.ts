import { adapterName } from '../../gpu/device.js';
import type { Gpu } from '../../gpu/gpu.js';
import type { Tensor } from '../../gpu/tensor.js';
import { attention, attentionTuneCandidates, setAttentionTuning, type AttentionTuning } from '../../ops/attention.js';
import { matmul } from '../../ops/matmul.js';
import { matmulTuneCandidates, setMatmulConfig, type MatmulConfigPatch } from '../../ops/matmul-configs.js';
import { adapterKey, kernelSourceHash, saveTuneEntry, tuneCachePath, type TuneEntry } from '../../ops/tune-cache.js';

/**
 * The autotuner behind `ponder bench --tune`: measures each candidate configuration of matmul
 * (main kernel, small-M/decode path) and attention (prefill tiles, decode key streams) on this
 * adapter at representative shapes, keeps the best of each part, saves them to the tune cache
 * (ops/tune-cache.ts) and installs them on this Gpu.
 *
 * Method: every (candidate, shape) runs once to compile its pipeline, then the candidates are timed
 * in interleaved rounds (so load from other processes hits all of them alike) and each (candidate,
 * shape) keeps its median. A candidate's score is the geometric mean over the shapes of its time
 * relative to the fastest candidate at that shape (1.0 = fastest everywhere); the lowest wins. A
 * candidate that fails (compile or device error) is reported and skipped.
 */

export interface MatmulTuneShape {
  M: number;
  N: number;
  K: number;
  transB: boolean;
}

export interface AttentionTuneShape {
  B: number;
  T: number;
  /** positions already cached before the T new ones */
  past: number;
  Hq: number;
  Hkv: number;
  D: number;
}

export type TunePart = 'matmul main' | 'matmul smallM' | 'attention prefill' | 'attention decode';

export type AutotuneEvent =
  | { type: 'start'; adapter: string; parts: { part: TunePart; candidates: number; shapes: string[] }[] }
  | { type: 'candidate'; part: TunePart; candidate: string; score: number | null; ms: (number | null)[]; shapes: string[]; error?: string }
  | { type: 'picked'; part: TunePart; candidate: string; score: number }
  | { type: 'saved'; path: string; entry: TuneEntry }
  | { type: 'done'; entry: TuneEntry };

export interface AutotuneOptions {
  /** main-kernel shapes (M above the small-M threshold) */
  mainShapes?: MatmulTuneShape[];
  /** decode-path shapes (M <= 8) */
  smallShapes?: MatmulTuneShape[];
  /** attention shapes; all must share one head dim */
  prefillShapes?: AttentionTuneShape[];
  decodeShapes?: AttentionTuneShape[];
  /** replace the candidate lists (tests) */
  matmulCandidates?: { name: string; part: 'main' | 'smallM'; patch: MatmulConfigPatch }[];
  attentionCandidates?: { name: string; part: 'prefill' | 'decode'; tuning: AttentionTuning }[];
  /** timed samples per candidate and shape (default 3; the first is taken right after compiling) */
  rounds?: number;
  /** minimum milliseconds per timed sample; short kernels are repeated (default 20) */
  sampleMs?: number;
  /** where to save; false: do not save (default: the tune cache path) */
  save?: string | false;
  signal?: AbortSignal;
}

/** The 0.5B model's shapes (hidden 896, intermediate 4864, 14/2 heads of 64) and the 1024³ square. */
export const DEFAULT_MAIN_SHAPES: MatmulTuneShape[] = [
  { M: 1024, N: 1024, K: 1024, transB: true },
  { M: 128, N: 896, K: 896, transB: true },
  { M: 128, N: 4864, K: 896, transB: true },
  { M: 128, N: 896, K: 4864, transB: true },
];
export const DEFAULT_SMALL_SHAPES: MatmulTuneShape[] = [
  { M: 1, N: 896, K: 896, transB: true },
  { M: 1, N: 4864, K: 896, transB: true },
  { M: 1, N: 896, K: 4864, transB: true },
];
export const DEFAULT_PREFILL_SHAPES: AttentionTuneShape[] = [{ B: 1, T: 128, past: 0, Hq: 14, Hkv: 2, D: 64 }];
export const DEFAULT_DECODE_SHAPES: AttentionTuneShape[] = [
  { B: 1, T: 1, past: 511, Hq: 14, Hkv: 2, D: 64 },
  { B: 8, T: 1, past: 255, Hq: 14, Hkv: 2, D: 64 },
];

const mmShape = (s: MatmulTuneShape) => `${s.M}x${s.N}x${s.K}${s.transB ? ' Bt' : ''}`;
const attShape = (s: AttentionTuneShape) => `B${s.B} T${s.T} ctx${s.past + s.T} ${s.Hq}/${s.Hkv}x${s.D}`;

interface Workload {
  label: string;
  run: () => void;
  dispose: () => void;
}

function filled(gpu: Gpu, shape: number[], seed: number): Tensor {
  const t = gpu.empty(shape, 'f32', 'autotune');
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 12.9898 + seed) * 0.5;
  gpu.write(t, data);
  return t;
}

function matmulWorkload(gpu: Gpu, s: MatmulTuneShape): Workload {
  const a = filled(gpu, [s.M, s.K], 1);
  const b = filled(gpu, s.transB ? [s.N, s.K] : [s.K, s.N], 2);
  const c = gpu.empty([s.M, s.N], 'f32', 'autotune.out');
  return { label: mmShape(s), run: () => void matmul(gpu, a, b, { transB: s.transB }, c), dispose: () => [a, b, c].forEach((t) => t.release()) };
}

function attentionWorkload(gpu: Gpu, s: AttentionTuneShape): Workload {
  const ctx = s.past + s.T;
  const q = filled(gpu, [s.B, s.T, s.Hq, s.D], 3);
  const k = filled(gpu, [s.B, s.Hkv, ctx, s.D], 4);
  const v = filled(gpu, [s.B, s.Hkv, ctx, s.D], 5);
  const out = gpu.empty([s.B, s.T, s.Hq, s.D], 'f32', 'autotune.out');
  const slots = gpu.upload(Uint32Array.from({ length: s.B }, (_, i) => i), [s.B]);
  const starts = gpu.upload(new Uint32Array(s.B).fill(s.past), [s.B]);
  return {
    label: attShape(s),
    run: () => void attention(gpu, q, k, v, slots, starts, {}, out),
    dispose: () => [q, k, v, out, slots, starts].forEach((t) => t.release()),
  };
}

interface Candidate {
  name: string;
  /** makes later calls on the Gpu use this candidate */
  install: () => void;
  /** records this candidate as its part's pick */
  keep: () => void;
}

/** Times each candidate on each workload (interleaved rounds); yields one event per candidate. */
async function* measurePart(
  gpu: Gpu,
  part: TunePart,
  candidates: Candidate[],
  workloads: Workload[],
  opts: AutotuneOptions,
  picks: Map<TunePart, Candidate>,
): AsyncGenerator<AutotuneEvent> {
  const rounds = opts.rounds ?? 3;
  const sampleMs = opts.sampleMs ?? 20;
  const shapes = workloads.map((w) => w.label);
  const samples = candidates.map(() => workloads.map(() => [] as number[]));
  const reps = candidates.map(() => workloads.map(() => 1));
  const failed = candidates.map(() => undefined as string | undefined);

  const timeOnce = async (ci: number, wi: number): Promise<number> => {
    candidates[ci].install();
    const n = reps[ci][wi];
    const t0 = performance.now();
    for (let r = 0; r < n; r++) workloads[wi].run();
    await gpu.sync();
    return (performance.now() - t0) / n;
  };

  // compile + first run, then one timed run that sizes the repetitions (and is the first sample)
  for (let ci = 0; ci < candidates.length; ci++) {
    try {
      for (let wi = 0; wi < workloads.length; wi++) {
        await timeOnce(ci, wi);
        const once = await timeOnce(ci, wi);
        samples[ci][wi].push(once);
        reps[ci][wi] = Math.max(1, Math.min(64, Math.round(sampleMs / Math.max(once, 0.01))));
      }
    } catch (e) {
      failed[ci] = e instanceof Error ? e.message.split('\n')[0] : String(e);
    }
    if (opts.signal?.aborted) return;
  }
  for (let r = 1; r < rounds; r++) {
    for (let wi = 0; wi < workloads.length; wi++) {
      for (let ci = 0; ci < candidates.length; ci++) {
        if (failed[ci]) continue;
        try {
          samples[ci][wi].push(await timeOnce(ci, wi));
        } catch (e) {
          failed[ci] = e instanceof Error ? e.message.split('\n')[0] : String(e);
        }
      }
      if (opts.signal?.aborted) return;
    }
  }

  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];
  const ms = candidates.map((_, ci) => (failed[ci] ? workloads.map(() => null) : workloads.map((_, wi) => median(samples[ci][wi]))));
  const best = workloads.map((_, wi) => Math.min(...ms.map((m) => m[wi] ?? Infinity)));
  let pick = -1;
  let pickScore = Infinity;
  for (let ci = 0; ci < candidates.length; ci++) {
    const m = ms[ci];
    const score = failed[ci] ? null : Math.exp(m.reduce((acc: number, v, wi) => acc + Math.log((v ?? Infinity) / best[wi]), 0) / workloads.length);
    yield { type: 'candidate', part, candidate: candidates[ci].name, score, ms: m, shapes, ...(failed[ci] ? { error: failed[ci] } : {}) };
    if (score !== null && score < pickScore) {
      pick = ci;
      pickScore = score;
    }
  }
  if (pick >= 0) {
    picks.set(part, candidates[pick]);
    yield { type: 'picked', part, candidate: candidates[pick].name, score: pickScore };
  }
}

/**
 * Runs the whole search. The picked settings are installed on `gpu` (setMatmulConfig /
 * setAttentionTuning) and, unless `save` is false, written to the tune cache.
 */
export async function* autotune(gpu: Gpu, opts: AutotuneOptions = {}): AsyncGenerator<AutotuneEvent> {
  const mainShapes = opts.mainShapes ?? DEFAULT_MAIN_SHAPES;
  const smallShapes = opts.smallShapes ?? DEFAULT_SMALL_SHAPES;
  const prefillShapes = opts.prefillShapes ?? DEFAULT_PREFILL_SHAPES;
  const decodeShapes = opts.decodeShapes ?? DEFAULT_DECODE_SHAPES;
  const D = (prefillShapes[0] ?? decodeShapes[0])?.D ?? 64;
  const mmCands = opts.matmulCandidates ?? matmulTuneCandidates(gpu);
  const attCands = opts.attentionCandidates ?? attentionTuneCandidates(gpu, D);

  const matmulPatches: Partial<Record<'main' | 'smallM', MatmulConfigPatch>> = {};
  const attTunings: Partial<Record<'prefill' | 'decode', AttentionTuning>> = {};
  const mm = (part: 'main' | 'smallM'): Candidate[] =>
    mmCands
      .filter((c) => c.part === part)
      .map((c) => ({ name: c.name, install: () => void setMatmulConfig(gpu, c.patch), keep: () => (matmulPatches[part] = c.patch) }));
  const att = (part: 'prefill' | 'decode'): Candidate[] =>
    attCands
      .filter((c) => c.part === part)
      .map((c) => ({ name: c.name, install: () => setAttentionTuning(gpu, c.tuning), keep: () => (attTunings[part] = c.tuning) }));

  const parts: { part: TunePart; candidates: Candidate[]; shapes: () => Workload[] }[] = [
    { part: 'matmul main' as const, candidates: mm('main'), shapes: () => mainShapes.map((s) => matmulWorkload(gpu, s)) },
    { part: 'matmul smallM' as const, candidates: mm('smallM'), shapes: () => smallShapes.map((s) => matmulWorkload(gpu, s)) },
    { part: 'attention prefill' as const, candidates: att('prefill'), shapes: () => prefillShapes.map((s) => attentionWorkload(gpu, s)) },
    { part: 'attention decode' as const, candidates: att('decode'), shapes: () => decodeShapes.map((s) => attentionWorkload(gpu, s)) },
  ].filter((p) => p.candidates.length > 0);

  const shapeLabels: Record<TunePart, string[]> = {
    'matmul main': mainShapes.map(mmShape),
    'matmul smallM': smallShapes.map(mmShape),
    'attention prefill': prefillShapes.map(attShape),
    'attention decode': decodeShapes.map(attShape),
  };
  yield { type: 'start', adapter: adapterName(gpu.info), parts: parts.map((p) => ({ part: p.part, candidates: p.candidates.length, shapes: shapeLabels[p.part] })) };

  const picks = new Map<TunePart, Candidate>();
  try {
    for (const p of parts) {
      if (opts.signal?.aborted) return;
      const workloads = p.shapes();
      try {
        yield* measurePart(gpu, p.part, p.candidates, workloads, opts, picks);
      } finally {
        workloads.forEach((w) => w.dispose());
        gpu.pool.trim();
        // measure each part from the adapter's defaults, not from the last candidate of the previous part
        setMatmulConfig(gpu, undefined);
        setAttentionTuning(gpu, undefined);
      }
      picks.get(p.part)?.keep();
    }
  } finally {
    setMatmulConfig(gpu, undefined);
    setAttentionTuning(gpu, undefined);
  }
  if (opts.signal?.aborted) return;

  const matmulPatch: MatmulConfigPatch = { ...matmulPatches.main, ...matmulPatches.smallM };
  const attentionTuning: AttentionTuning = { ...attTunings.prefill, ...attTunings.decode };
  const entry: TuneEntry = {
    adapter: adapterKey(gpu.info),
    kernelHash: kernelSourceHash(),
    tunedAt: new Date().toISOString(),
    matmul: matmulPatch as Record<string, unknown>,
    attention: attentionTuning as Record<string, unknown>,
  };
  setMatmulConfig(gpu, matmulPatch);
  setAttentionTuning(gpu, attentionTuning);
  if (opts.save !== false) {
    const path = saveTuneEntry(entry, opts.save ?? tuneCachePath());
    yield { type: 'saved', path, entry };
  }
  yield { type: 'done', entry };
}
