import type { Tokenizer } from '../data/tokenizer.js';
import type { Gpu } from '../gpu/gpu.js';
import { checkFitsDevice } from '../io/fits-device.js';
import { readSamplingDefaults, type SamplingDefaults } from '../io/generation-config.js';
import { readConfigJson } from '../io/model-dir.js';
import { loadAnyModel, resolveModel } from '../io/resolve-model.js';
import type { ModelConfig } from '../model/config.js';
import { checkInferenceGrid } from '../model/limits.js';
import { pickMatmulConfig } from '../ops/matmul-configs.js';
import { prefillTiles } from '../ops/attention.js';
import { Transformer } from '../model/transformer.js';

/**
 * Loads what a `--model` flag names (a ponder model directory, a name under models/, or an HF
 * directory converted in memory). The order matters: resolve the path, read only config.json, check the
 * model fits this device (one clear line naming the size and the limit if not), and only then read the
 * weights and put them on the GPU — a model too large for the device costs no memory to refuse.
 */
export interface OpenedModel {
  model: Transformer;
  tokenizer: Tokenizer;
  config: ModelConfig;
  /** the model's generation_config.json sampling defaults (flags override them) */
  sampling: SamplingDefaults;
}

export async function openModel(gpu: Gpu, spec: string, opts: { kvSlots?: number; maxPositions?: number } = {}): Promise<OpenedModel> {
  const { dir } = resolveModel(spec);
  const limits = { maxBufferSize: gpu.limits.maxBufferSize, maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize };
  const declared = readConfigJson(dir);
  checkFitsDevice(declared, limits, { kvSlots: opts.kvSlots, maxPositions: opts.maxPositions });
  // the kernels' grids too, in the config's terms, before a weight is read
  const tile = prefillTiles(declared.head_dim, gpu.limits.maxComputeWorkgroupStorageSize);
  checkInferenceGrid(declared, { ...limits, maxComputeWorkgroupsPerDimension: gpu.limits.maxComputeWorkgroupsPerDimension }, pickMatmulConfig(gpu), { sequences: opts.kvSlots, positions: opts.maxPositions, queryRows: tile.RG * tile.RM });
  const sampling = readSamplingDefaults(dir);
  const { config, weights, tokenizer } = await loadAnyModel(dir);
  const model = Transformer.load(gpu, config, weights);
  return { model, tokenizer, config, sampling };
}
