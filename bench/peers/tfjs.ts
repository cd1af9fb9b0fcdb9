import { create } from 'webgpu';
import type { MatmulPeer, MatmulShape } from '../../src/engine/bench/types.js';
import type { DeviceOptions } from '../../src/gpu/device.js';

/**
 * tfjs's WebGPU backend as a matmul peer, on the same Dawn adapter as ponder: Node has no
 * `navigator.gpu`, so a Dawn GPU object is made with the options src/gpu/device.ts passes (backend,
 * adapter name) and set as `navigator.gpu` for tfjs to find. The packages (@tensorflow/tfjs-core and
 * @tensorflow/tfjs-backend-webgpu) are optional dev dependencies loaded by dynamic import; without
 * them the peer is skipped.
 *
 * Timing mirrors the kernel runner: a sample records `reps` matmuls and then waits for the last one
 * (tfjs has no bare "wait for the queue", so the wait is a read of that result, M·N floats: small next
 * to the matmul except for the tiniest shapes). The first result is checked against the exact value
 * (0.5 · 0.25 · K) so a shape tfjs cannot run (e.g. an operand over one storage binding, which Dawn
 * reports asynchronously) is an error, not a fast fake figure.
 */
type Tf = typeof import('@tensorflow/tfjs-core');
type TfTensor = import('@tensorflow/tfjs-core').Tensor;

export function tfjsPeer(device: DeviceOptions): MatmulPeer {
  let tf: Tf | undefined;
  let maxBinding = Infinity;
  return {
    name: 'tfjs-webgpu',
    async open(): Promise<string> {
      const core = 'tfjs-core';
      const backend = 'tfjs-backend-webgpu';
      // specifiers built at run time: the packages are optional, and tsc should not require them
      tf = (await import(`@tensorflow/${core}`).catch(() => {
        throw new Error('@tensorflow/tfjs-core is not installed (npm install --save-dev @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu)');
      })) as Tf;
      const options: string[] = [];
      const backendName = device.backend ?? process.env.PONDER_BACKEND;
      const adapterName = device.adapter ?? process.env.PONDER_ADAPTER;
      if (backendName) options.push(`backend=${backendName}`);
      if (adapterName) options.push(`adapter=${adapterName}`);
      const gpu = create(options);
      const nav = (globalThis as { navigator?: Record<string, unknown> }).navigator;
      if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
      // the backend registers itself on import only if navigator.gpu is there by then
      await import(`@tensorflow/${backend}`).catch(() => {
        throw new Error('@tensorflow/tfjs-backend-webgpu is not installed');
      });
      tf.env().set('WEBGPU_CPU_FORWARD', false); // never fall back to the CPU for small tensors
      if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend on this adapter');
      await tf.ready();
      const dev = (tf.backend() as unknown as { device?: GPUDevice }).device;
      maxBinding = dev?.limits.maxStorageBufferBindingSize ?? maxBinding;
      return `tfjs ${tf.version_core} WebGPU backend`;
    },
    async timeMatmul(s: MatmulShape, budgetMs: number): Promise<number> {
      const t = tf!;
      const biggest = 4 * Math.max(s.M * s.K, s.N * s.K, s.M * s.N);
      if (biggest > maxBinding) throw new Error(`an operand of ${biggest} bytes is over one storage binding (${maxBinding})`);
      const a = t.fill([s.M, s.K], 0.5);
      const b = t.fill(s.transB ? [s.N, s.K] : [s.K, s.N], 0.25);
      const run = () => t.matMul(a, b, false, s.transB);
      const sample = async (reps: number) => {
        const t0 = performance.now();
        let last: TfTensor | undefined;
        for (let r = 0; r < reps; r++) {
          last?.dispose();
          last = run();
        }
        const data = await last!.data();
        const ms = performance.now() - t0;
        last!.dispose();
        return { ms, first: data[0] as number };
      };
      try {
        const warm = await sample(1);
        if (Math.abs(warm.first - 0.125 * s.K) > 1e-3 * s.K) throw new Error(`tfjs gave ${warm.first}, expected ${0.125 * s.K}`);
        const once = (await sample(1)).ms;
        const reps = Math.max(1, Math.min(256, Math.round(2 / Math.max(once, 1e-3))));
        const samples: number[] = [];
        const end = performance.now() + budgetMs;
        while ((samples.length < 5 || performance.now() < end) && samples.length < 10000) samples.push((await sample(reps)).ms / reps);
        samples.sort((x, y) => x - y);
        return samples[samples.length >> 1]!;
      } finally {
        a.dispose();
        b.dispose();
      }
    },
    async close() {
      tf?.disposeVariables();
    },
  };
}
