import type { Tokenizer } from '../data/tokenizer.js';
import type { Gpu } from '../gpu/gpu.js';
import { checkFitsDevice } from '../io/fits-device.js';
import { loadAnyModel } from '../io/resolve-model.js';
import type { ModelConfig } from '../model/config.js';
import { Transformer } from '../model/transformer.js';

/**
 * Loads what a `--model` flag names (a ponder model directory, a name under models/, or an HF
 * directory converted in memory), checks it fits the device before any upload, and puts the weights
 * on the GPU.
 */
export interface OpenedModel {
  model: Transformer;
  tokenizer: Tokenizer;
  config: ModelConfig;
}

export async function openModel(gpu: Gpu, spec: string): Promise<OpenedModel> {
  const { config, weights, tokenizer } = await loadAnyModel(spec);
  checkFitsDevice(config, { maxBufferSize: gpu.limits.maxBufferSize, maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize });
  const model = Transformer.load(gpu, config, weights);
  return { model, tokenizer, config };
}
