import type { Command } from 'commander';
import { openModel } from '../../engine/open-model.js';
import { PonderError } from '../../errors.js';
import { Gpu } from '../../gpu/gpu.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import { checkModelFlag } from '../model-flag.js';
import type { CliIO } from '../io.js';
import { parseIdList } from '../parse.js';

/**
 * `ponder logits --model M --tokens 1,2,3 --json`: one row of vocabulary logits per input position,
 * from one full forward (no sampling) — the way users check an import against another implementation.
 */
export function registerLogits(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('logits')
      .description('print the logits the model computes for a list of token ids')
      .option('-m, --model <model>', 'ponder model directory, a name under models/, or an HF directory', 'default')
      .requiredOption('--tokens <ids>', 'comma-separated token ids, e.g. 1,2,3')
      .option('--json', 'print {"logits": [[...], ...]} (the only format; accepted for clarity)'),
  ).action(async (flags: { model: string; tokens: string; adapter?: string; backend?: string }) => {
    const ids = parseIdList('--tokens', flags.tokens);
    checkModelFlag(flags.model); // a bad --model fails before the GPU opens
    const gpu = await Gpu.open(deviceOptions(flags));
    try {
      const { model, config } = await openModel(gpu, flags.model);
      const bad = ids.find((id) => id >= config.vocab_size);
      if (bad !== undefined) throw new PonderError('BAD_INPUT', `token id ${bad} is outside the vocabulary (size ${config.vocab_size})`);
      if (ids.length > config.max_position_embeddings) {
        throw new PonderError('BAD_INPUT', `${ids.length} tokens exceed the model's context of ${config.max_position_embeddings}`);
      }
      const cache = model.createCache(1, ids.length);
      const logits = model.forward([ids], cache, [0], [0]);
      const data = await gpu.readF32(logits);
      const V = config.vocab_size;
      const rows: number[][] = [];
      for (let t = 0; t < ids.length; t++) rows.push(Array.from(data.subarray(t * V, (t + 1) * V)));
      io.out(JSON.stringify({ logits: rows }));
      logits.release();
      cache.dispose();
      model.dispose();
    } finally {
      gpu.close();
    }
  });
}
