import OpenAI from 'openai';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { DecodeScheduler } from '../../src/engine/decode-scheduler.js';
import { generate, type GenerateOptions } from '../../src/engine/generate.js';
import { openModel } from '../../src/engine/open-model.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Transformer } from '../../src/model/transformer.js';
import { startServer, type AccessRecord, type RunningServer, type ServeOptions } from '../../src/server/server.js';
import { testGpu } from './gpu.js';

/**
 * A real `ponder serve` HTTP server in the test process: the bundled model behind a DecodeScheduler,
 * listening on 127.0.0.1 at an ephemeral port, and an official `openai` client pointed at it.
 * `alone` is the oracle: the engine's generate() for one sequence with the same seed.
 */
export interface TestServer {
  gpu: Gpu;
  model: Transformer;
  tokenizer: Tokenizer;
  scheduler: DecodeScheduler;
  server: RunningServer;
  client: OpenAI;
  log: AccessRecord[];
  alone(promptIds: number[], opts: GenerateOptions): Promise<number[]>;
  close(): Promise<void>;
}

/** `model`: a --model spec (default: the bundled model), served under the id `default`. */
export async function startTestServer(opts: { parallel?: number; model?: string } & Partial<ServeOptions> = {}): Promise<TestServer> {
  const gpu = await testGpu();
  const { model, tokenizer, sampling } = await openModel(gpu, opts.model ?? 'default');
  const scheduler = new DecodeScheduler(gpu, model, tokenizer, opts.parallel ?? 4);
  const log: AccessRecord[] = [];
  const { model: _spec, parallel: _parallel, ...serveOpts } = opts;
  const server = await startServer({ id: 'default', scheduler, tokenizer, sampling }, { host: '127.0.0.1', port: 0, log: (r) => log.push(r), ...serveOpts });
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: opts.apiKey ?? 'unused', maxRetries: 0 });
  return {
    gpu,
    model,
    tokenizer,
    scheduler,
    server,
    client,
    log,
    async alone(promptIds, o) {
      for await (const ev of generate(gpu, model, tokenizer, promptIds, o)) if (ev.type === 'done') return ev.ids;
      throw new Error('no done event');
    },
    async close() {
      await server.close();
      await scheduler.close();
      model.dispose();
    },
  };
}

/** What a chat answer with these ids should say: reasoning between the think ids, the answer after (each without leading whitespace). */
export function splitByThinkIds(tokenizer: Tokenizer, ids: number[]): { reasoning: string; content: string } {
  const open = ids.indexOf(tokenizer.specialTokens.think!);
  const close = ids.indexOf(tokenizer.specialTokens.end_think!);
  const text = (a: number, b?: number) => tokenizer.decode(ids.slice(a, b), { skipSpecialTokens: true }).replace(/^\s+/, '');
  if (open < 0 || close < open) return { reasoning: '', content: text(0) };
  return { reasoning: text(open + 1, close), content: (tokenizer.decode(ids.slice(0, open)) + text(close + 1)).replace(/^\s+/, '') };
}
