import type { Command } from 'commander';
import { listAdapters, WANTED_FEATURES, type AdapterListing } from '../../gpu/device.js';
import { Gpu } from '../../gpu/gpu.js';
import { formatBytes } from '../../gpu/pool.js';
import { packageVersion } from '../../paths.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import type { CliIO } from '../io.js';

/** Limits worth showing in the plain listing (all of them are in --json). */
const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'minStorageBufferOffsetAlignment',
];

export function registerInfo(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('info')
      .description('describe the WebGPU adapter ponder will use: vendor, device, backend, driver, limits, features')
      .option('--all', 'first list every adapter Dawn finds (the names --adapter matches a part of)')
      .option('--json', 'print one JSON object'),
  ).action(async (opts: { json?: boolean; all?: boolean; adapter?: string; backend?: string }) => {
    // listed before opening one, so the list shows even when --adapter matches nothing
    const adapters: AdapterListing[] | undefined = opts.all ? await listAdapters({ backend: opts.backend }) : undefined;
    if (adapters && !opts.json) {
      io.out('adapters (--adapter NAME picks the first whose name contains NAME)');
      if (adapters.length === 0) io.out('  none found');
      for (const a of adapters) io.out(`  ${a.backend.padEnd(10)}${a.name}`);
    }
    const gpu = await Gpu.open(deviceOptions(opts));
    try {
      const info = gpu.info;
      const features = Object.fromEntries(WANTED_FEATURES.map((f) => [f, gpu.has(f)]));
      if (opts.json) {
        io.out(
          JSON.stringify({
            ponder: packageVersion,
            adapter: { ...info },
            features,
            limits: gpu.limits,
            env: { LP_NUM_THREADS: process.env.LP_NUM_THREADS ?? null },
            ...(adapters ? { adapters } : {}),
          }),
        );
        return;
      }
      const lines: [string, string][] = [
        ['ponder', packageVersion],
        ['vendor', info.vendor],
        ['architecture', info.architecture || '-'],
        ['device', info.device || '-'],
        ['description', info.description || '-'],
        ['backend', info.backend],
        ['type', info.backend === 'null' ? 'null backend (validation only, computes nothing)' : info.software ? 'software (CPU) adapter' : 'hardware GPU'],
        ['subgroups', info.subgroupMinSize ? `${info.subgroupMinSize}..${info.subgroupMaxSize}` : '-'],
        ['features', WANTED_FEATURES.map((f) => `${f} ${gpu.has(f) ? 'yes' : 'no'}`).join(', ')],
      ];
      if (adapters) io.out('picked');
      for (const [k, v] of lines) io.out(`${k.padEnd(14)}${v}`);
      io.out('limits');
      for (const k of KEY_LIMITS) {
        const v = gpu.limits[k];
        if (v === undefined) continue;
        const pretty = /Size$/.test(k) ? `${v} (${formatBytes(v)})` : String(v);
        io.out(`  ${k.padEnd(36)}${pretty}`);
      }
      if (info.software) {
        io.out(`note          software adapter: kernels run on the CPU; LP_NUM_THREADS=${process.env.LP_NUM_THREADS} lavapipe threads (ponder defaults to one per core; set it to override)`);
      }
    } finally {
      gpu.close();
    }
  });
}
