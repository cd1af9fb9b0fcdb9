import type { MatmulPeer, MatmulShape } from '../../src/engine/bench/types.js';

/**
 * onnxruntime-node's native WebGPU execution provider as a matmul peer. Its WebGPU EP is built into
 * the npm package's Linux x64 binary with its own statically linked Dawn: it does not take ponder's
 * adapter object, it opens the first adapter its Dawn finds (on Linux a Vulkan one; on a machine with
 * only Mesa lavapipe that is the same llvmpipe device ponder uses). onnxruntime-node is loaded by
 * dynamic import and is not a dependency at all: its postinstall downloads the CUDA EP from NuGet on
 * Linux x64 unless told not to, so it is installed on demand with
 * `ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node` (the CPU and WebGPU EPs are
 * in the npm package itself); without it the peer is skipped. onnx-proto (the model builder's
 * protobuf encoder) is a dev dependency.
 *
 * Each shape is a one-node model (see onnx-matmul.ts: MatMul, or Gemm with transB=1 for A·Bᵀ) whose
 * operands are initializers, uploaded to the GPU once when the session is made, as ponder and tfjs
 * fill their operands once. Sessions refuse to fall back to the CPU EP
 * (session.disable_cpu_ep_fallback), so a node the WebGPU EP does not take is an error, not a CPU
 * figure.
 *
 * Timing mirrors tfjs.ts: a sample runs the session `reps` times with its output left on the GPU
 * (preferredOutputLocation 'gpu-buffer': run() only submits) and then waits for the last one. Node's
 * binding cannot read a GPU output back (Tensor.getData aborts the process in 1.30), so the wait is
 * one run of a 1x1x1 session with a CPU output on the same WebGPU device (onnxruntime shares one
 * device between sessions): its read-back waits for the queue. The first result is checked against
 * the exact value (0.5 · 0.25 · K) on a session of the same model with a CPU output, whose one
 * synchronous run also bounds the pipelined figure from below, so a wait that did not wait (sessions
 * on separate devices in some later version) is an error, not a fast fake figure.
 *
 * onnxruntime-node 1.30 on Linux records usage telemetry (a SQLite queue under
 * ~/.cache/Microsoft/DeveloperTools, uploaded to Microsoft): the peer sets ORT_DISABLE_TELEMETRY=1
 * before loading it unless the variable is already set.
 */
/**
 * The part of onnxruntime-node's API the peer uses, declared here so that tsc does not need the
 * package: it is not in package.json (its postinstall would fetch the CUDA EP from NuGet).
 */
export interface OrtTensor {
  readonly dims: readonly number[];
  readonly data: unknown;
  dispose(): void;
}
export interface OrtSession {
  readonly outputNames: readonly string[];
  run(feeds: Record<string, never>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface OrtSessionOptions {
  executionProviders: string[];
  graphOptimizationLevel: 'disabled';
  preferredOutputLocation: 'cpu' | 'gpu-buffer';
  logSeverityLevel: number;
  extra: Record<string, Record<string, string>>;
}
export interface Ort {
  InferenceSession: { create(model: Uint8Array, options: OrtSessionOptions): Promise<OrtSession> };
  env: { versions: { node?: string } };
  listSupportedBackends?: () => { name: string; bundled: boolean }[];
}
type Builder = typeof import('./onnx-matmul.js');

const INSTALL = 'ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node';

/** Loads onnxruntime-node (an optional dev dependency); throws a one-line error when it is missing. */
export async function loadOnnxruntime(): Promise<Ort> {
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  const name = 'node';
  // specifier built at run time: the package is optional, and tsc should not require it at run time
  const mod = (await import(`onnxruntime-${name}`).catch(() => {
    throw new Error(`onnxruntime-node is not installed (${INSTALL})`);
  })) as Ort & { default?: Ort };
  return mod.default ?? mod;
}

/** Loads the model builder (which needs onnx-proto, an optional dev dependency). */
export async function loadOnnxBuilder(): Promise<Builder> {
  const proto = 'proto';
  await import(`onnx-${proto}`).catch(() => {
    throw new Error(`onnx-proto is not installed (${INSTALL})`);
  });
  return import('./onnx-matmul.js');
}

/** Session options that keep the matmul on the WebGPU EP and its output on the GPU. */
export function webgpuSessionOptions(output: 'cpu' | 'gpu-buffer'): OrtSessionOptions {
  return {
    executionProviders: ['webgpu'],
    // the operands are initializers: with optimizations on, constant folding would compute y on the CPU
    graphOptimizationLevel: 'disabled',
    preferredOutputLocation: output,
    logSeverityLevel: 3, // errors only: Dawn's limit warnings would otherwise interleave with the table
    extra: { session: { disable_cpu_ep_fallback: '1' } },
  };
}

/** A session of the one-node matmul model with a filled with `a` and b with `b`. */
export async function matmulSession(ort: Ort, builder: Builder, s: MatmulShape, output: 'cpu' | 'gpu-buffer', a = 0.5, b = 0.25): Promise<OrtSession> {
  const bytes = builder.matmulModel(s, new Float32Array(s.M * s.K).fill(a), new Float32Array(s.N * s.K).fill(b));
  return ort.InferenceSession.create(bytes, webgpuSessionOptions(output));
}

export function onnxruntimePeer(): MatmulPeer {
  let ort: Ort | undefined;
  let builder: Builder | undefined;
  let waiter: OrtSession | undefined; // 1x1x1, CPU output: one run waits for the device's queue
  const wait = async (): Promise<void> => void (await waiter!.run({}));
  return {
    name: 'onnxruntime-webgpu',
    async open(): Promise<string> {
      ort = await loadOnnxruntime();
      builder = await loadOnnxBuilder();
      const backends = ort.listSupportedBackends?.() ?? [];
      if (!backends.some((x) => x.name === 'webgpu' && x.bundled)) throw new Error(`this onnxruntime-node build has no WebGPU EP (it has: ${backends.map((x) => x.name).join(', ')})`);
      // fails here when its Dawn finds no adapter ("Failed to get a WebGPU adapter")
      waiter = await matmulSession(ort, builder, { M: 1, N: 1, K: 1, transB: false }, 'cpu');
      await wait();
      return `onnxruntime-node ${ort.env.versions.node} WebGPU EP (its own Dawn; the first adapter it finds)`;
    },
    async timeMatmul(s: MatmulShape, budgetMs: number): Promise<number> {
      const o = ort!;
      // check (and one synchronous run's time) on a CPU-output session, released before the timed one
      let syncMs: number;
      const check = await matmulSession(o, builder!, s, 'cpu');
      try {
        const first = ((await check.run({}))[check.outputNames[0]!]!.data as Float32Array)[0]!;
        if (Math.abs(first - 0.125 * s.K) > 1e-3 * s.K) throw new Error(`onnxruntime gave ${first}, expected ${0.125 * s.K}`);
        const t0 = performance.now();
        await check.run({});
        syncMs = performance.now() - t0;
      } finally {
        await check.release();
      }
      const sess = await matmulSession(o, builder!, s, 'gpu-buffer');
      const sample = async (reps: number) => {
        const t0 = performance.now();
        for (let r = 0; r < reps; r++) ((await sess.run({}))[sess.outputNames[0]!] as OrtTensor).dispose();
        await wait();
        return performance.now() - t0;
      };
      try {
        await sample(1);
        const t0 = performance.now();
        await wait();
        const waitMs = performance.now() - t0;
        const once = await sample(1);
        const reps = Math.max(1, Math.min(256, Math.round(2 / Math.max(once, 1e-3))));
        const samples: number[] = [];
        const end = performance.now() + budgetMs;
        while ((samples.length < 5 || performance.now() < end) && samples.length < 10000) samples.push((await sample(reps)) / reps);
        samples.sort((x, y) => x - y);
        const ms = samples[samples.length >> 1]!;
        // pipelining hides per-run latency, it cannot make the matmul itself several times faster
        if (syncMs - waitMs > 1 && ms < 0.25 * (syncMs - waitMs)) throw new Error(`pipelined ${ms.toFixed(3)} ms vs ${syncMs.toFixed(3)} ms synchronous: the wait did not wait`);
        return ms;
      } finally {
        await sess.release();
      }
    },
    async close() {
      await waiter?.release();
      waiter = undefined;
    },
  };
}
