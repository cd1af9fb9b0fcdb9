import { measureServeLoad, type ServeLoadResult } from '../../engine/bench/serve.js';
import { DecodeScheduler } from '../../engine/decode-scheduler.js';
import { openModel } from '../../engine/open-model.js';
import { PonderError } from '../../errors.js';
import type { Gpu } from '../../gpu/gpu.js';
import { startServer } from '../../server/server.js';
import type { CliIO } from '../io.js';

/**
 * `ponder bench serve`: a real `ponder serve` on a loopback port (the bundled model unless --model,
 * as many KV slots as the most clients), then the same 32 streaming requests sent by 1, 8 and 32
 * concurrent clients; prints the aggregate tokens/s of each and its speed-up over one client. A
 * warm-up round at each client count first compiles the pipelines of its batch shapes.
 */
export const SERVE_BENCH_CLIENTS = [1, 8, 32];
const REQUESTS = 32;
const MAX_TOKENS = 32;
/** A raw-text prompt the bundled model answers at length (its working of a product), so requests run to MAX_TOKENS. */
const PROMPT = 'What is 88 * 68?';

export async function runServeBench(gpu: Gpu, io: CliIO, opts: { model: string; json?: boolean; signal: AbortSignal }): Promise<void> {
  const { model, tokenizer, sampling } = await openModel(gpu, opts.model, { kvSlots: Math.max(...SERVE_BENCH_CLIENTS) });
  const scheduler = new DecodeScheduler(gpu, model, tokenizer, Math.max(...SERVE_BENCH_CLIENTS));
  const server = await startServer({ id: opts.model, scheduler, tokenizer, sampling }, { host: '127.0.0.1', port: 0 });
  try {
    let one: ServeLoadResult | undefined;
    for (const clients of SERVE_BENCH_CLIENTS) {
      const load = { url: server.url, clients, requests: REQUESTS, maxTokens: MAX_TOKENS, prompt: PROMPT, signal: opts.signal };
      await measureServeLoad({ ...load, requests: clients, maxTokens: 4 });
      const r = await measureServeLoad(load);
      if (opts.signal.aborted) throw new PonderError('INTERRUPTED', 'benchmark interrupted');
      one ??= r;
      const speedup = r.tokens_per_s / one.tokens_per_s;
      if (opts.json) io.out(JSON.stringify({ suite: 'serve', ...r, speedup }));
      else {
        io.out(
          `serve  ${String(clients).padStart(2)} client${clients > 1 ? 's' : ' '}  ${REQUESTS} requests  ${String(r.tokens).padStart(5)} tokens in ${(r.ms / 1000).toFixed(2)} s  ` +
            `${r.tokens_per_s.toFixed(1).padStart(7)} tok/s  ${speedup.toFixed(2)}x one client  (the last first token at ${Math.round(r.first_token_ms_max)} ms)`,
        );
      }
    }
  } finally {
    await server.close();
    await scheduler.close();
    model.dispose();
  }
}
