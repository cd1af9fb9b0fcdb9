import { after, before } from 'node:test';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { openModel } from '../../src/engine/open-model.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Transformer } from '../../src/model/transformer.js';
import { sample, type SamplingOptions } from '../../src/sample/sampler.js';
import { testGpu } from './gpu.js';

/**
 * The bundled model for a test file: opened before the file's tests, disposed after them. Read its
 * fields inside the tests (they are set once `before` has run).
 */
export function bundledModel(): { gpu: Gpu; model: Transformer; tokenizer: Tokenizer } {
  const opened = {} as { gpu: Gpu; model: Transformer; tokenizer: Tokenizer };
  before(async () => {
    opened.gpu = await testGpu();
    const { model, tokenizer } = await openModel(opened.gpu, 'default');
    Object.assign(opened, { model, tokenizer });
  });
  after(() => opened.model?.dispose());
  return opened;
}

/**
 * `n` tokens after `prompt`, step by step, the oracle of the decoders that run ahead: token j is
 * sampled (step j) from the logits after token j - 1 and read back before the next step is recorded.
 */
export async function decodeStepByStep(gpu: Gpu, model: Transformer, prompt: number[], n: number, opts: SamplingOptions): Promise<number[]> {
  const V = model.config.vocab_size;
  const cache = model.createCache(1, prompt.length + n);
  const out: number[] = [];
  let logits = model.forward([prompt], cache, [0], [0], { lastOnly: true });
  for (let j = 0; ; j++) {
    const id = sample(gpu, logits.reshape([1, V]), opts, j);
    logits.release();
    out.push((await gpu.readU32(id))[0]!);
    id.release();
    if (out.length === n) break;
    logits = model.forward([[out[j]!]], cache, [0], [prompt.length + j], { lastOnly: true });
  }
  cache.dispose();
  return out;
}
