/**
 * What the decode scripts (decode-allocation.mjs, profile-decode-round.mjs) share: the built ponder
 * (dist/, so `npm run build` first), the bundled model on the default adapter, a chat prompt that
 * starts a long reasoning answer, and a plain decode step as `generate` took them before it ran one
 * step ahead: forward one token, argmax, read the token back.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = `${resolve(dirname(fileURLToPath(import.meta.url)), '..')}/dist/src`;
const { Gpu } = await import(`${root}/gpu/gpu.js`);
const { openModel } = await import(`${root}/engine/open-model.js`);
const { encodePrompt } = await import(`${root}/data/prompt.js`);
const { argmax } = await import(`${root}/ops/argmax.js`);
export const { SpeculativeDecoder } = await import(`${root}/engine/speculative.js`);

/** The adapter, the bundled model and its tokenizer, the prompt's ids, and a KV cache of `positions` holding the prompt. */
export async function openBundled(positions) {
  const gpu = await Gpu.open({});
  const { model, tokenizer } = await openModel(gpu, 'default');
  const prompt = encodePrompt(tokenizer, 'What is 47 * 38?', { chat: true, enableThinking: true });
  const cache = model.createCache(1, positions ?? model.config.max_position_embeddings);
  const logits = model.forward([prompt], cache, [0], [0], { lastOnly: true });
  await gpu.readF32(logits);
  logits.release();
  return { gpu, model, tokenizer, prompt, cache };
}

/** One plain decode step at `position` of the cache, its token read back before it returns. */
export async function plainStep(gpu, model, cache, position) {
  const logits = model.forward([[40]], cache, [0], [position], { lastOnly: true });
  const id = argmax(gpu, logits.reshape([1, model.config.vocab_size]));
  logits.release();
  await gpu.readU32(id);
  id.release();
}
