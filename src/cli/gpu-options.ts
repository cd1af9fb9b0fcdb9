import { Option, type Command } from 'commander';
import type { DeviceOptions } from '../gpu/device.js';

/** The --adapter / --backend flags every GPU command takes (env PONDER_ADAPTER / PONDER_BACKEND). */
export function addGpuOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--adapter <name>', 'use the adapter whose name contains NAME').env('PONDER_ADAPTER'))
    .addOption(
      new Option('--backend <backend>', 'Dawn backend').choices(['vulkan', 'metal', 'd3d12', 'd3d11', 'opengl', 'opengles']).env('PONDER_BACKEND'),
    );
}

export function deviceOptions(opts: { adapter?: string; backend?: string }): DeviceOptions {
  return { adapter: opts.adapter, backend: opts.backend };
}
