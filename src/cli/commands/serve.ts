import type { Command } from 'commander';
import { DecodeScheduler } from '../../engine/decode-scheduler.js';
import { openModel } from '../../engine/open-model.js';
import { readConfigJson } from '../../io/model-dir.js';
import { resolveModel } from '../../io/resolve-model.js';
import { Gpu } from '../../gpu/gpu.js';
import { startServer, type AccessRecord } from '../../server/server.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import type { CliIO } from '../io.js';
import { usageError } from '../output.js';
import { parseIntFlag } from '../parse.js';
import type { MtpFlag } from '../mtp-flag.js';

/**
 * `ponder serve`: an OpenAI-compatible HTTP server for one model (src/server/), continuous batching
 * over --parallel KV slots (src/engine/decode-scheduler.ts). Prints one startup line (where it
 * listens, the model, the adapter) on stdout and one access-log line per request on stderr (JSONL
 * with --json). SIGINT / SIGTERM: stop accepting, cancel the requests in flight, exit 0.
 */
/** Each slot holds this many KV positions unless --context says otherwise: long-context models would otherwise need GBs per slot. */
const DEFAULT_MAX_CONTEXT = 8192;

interface ServeFlags {
  model: string;
  host: string;
  port: string;
  parallel: string;
  context?: string;
  apiKey?: string;
  json?: boolean;
  think?: boolean;
  mtp?: MtpFlag;
  adapter?: string;
  backend?: string;
}

export function registerServe(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('serve')
      .description('serve a model over an OpenAI-compatible HTTP API (chat and completions, streaming)')
      .option('-m, --model <model>', 'ponder model directory, a name under models/, or an HF directory', 'default')
      .option('--host <host>', 'address to bind (loopback by default; 0.0.0.0 exposes it to the network)', '127.0.0.1')
      .option('--port <port>', 'TCP port (0: any free port)', '8080')
      .option('--parallel <n>', 'sequences decoded at once (KV-cache slots); more requests wait in a queue', '4')
      .option('--context <n>', `KV positions per slot: prompt + answer at most this long (default: the model's context, at most ${DEFAULT_MAX_CONTEXT})`)
      .option('--api-key <key>', 'require "Authorization: Bearer KEY" on every request (env PONDER_API_KEY)')
      .option('--json', 'startup and access log as JSON lines')
      .option('--think', "chat requests: ask for a reasoning block unless the request says (chat_template_kwargs.enable_thinking); default: the template's")
      .option('--no-think', 'chat requests: ask for no reasoning block unless the request says')
      .option('--mtp [n]', 'MTP drafting: not available here (requests decode batched); chat, generate and eval draft')
      .option('--no-mtp', 'decode without MTP drafting (the default)'),
  ).action(async (flags: ServeFlags) => {
    const port = parseIntFlag('--port', flags.port, 0)!;
    if (port > 65535) throw usageError(`--port must be at most 65535, got ${port}`);
    const parallel = parseIntFlag('--parallel', flags.parallel, 1)!;
    const context = parseIntFlag('--context', flags.context, 2);
    const apiKey = flags.apiKey ?? process.env.PONDER_API_KEY;
    if (apiKey !== undefined && apiKey.trim() === '') throw usageError('--api-key is empty');
    // the flag every decoding command takes; the scheduler decodes its slots together and never drafts
    if (flags.mtp !== undefined && flags.mtp !== false) throw usageError('--mtp: serve decodes its requests together (--parallel slots), where MTP drafting does not apply; drop --mtp (chat, generate and eval --mtp draft)');

    const gpu = await Gpu.open(deviceOptions(flags));
    try {
      const { dir } = resolveModel(flags.model);
      const modelContext = readConfigJson(dir).max_position_embeddings;
      if (context !== undefined && context > modelContext) throw usageError(`--context ${context}: ${flags.model}'s context is ${modelContext}`);
      const positions = context ?? Math.min(modelContext, DEFAULT_MAX_CONTEXT);
      const { model, tokenizer, sampling } = await openModel(gpu, flags.model, { kvSlots: parallel, maxPositions: positions });
      const scheduler = new DecodeScheduler(gpu, model, tokenizer, parallel, positions);
      const log = (r: AccessRecord) => {
        if (flags.json) io.err(JSON.stringify(r));
        else io.err(`${r.method} ${r.path} ${r.status}${r.completion_tokens !== undefined ? ` ${r.prompt_tokens}+${r.completion_tokens} tokens` : ''} ${r.ms} ms`);
      };
      const server = await startServer({ id: flags.model, scheduler, tokenizer, sampling, think: flags.think }, { host: flags.host, port, apiKey, log });
      const adapter = adapterName(gpu);
      if (flags.json) io.out(JSON.stringify({ event: 'listening', url: server.url, model: flags.model, adapter, parallel, context: positions, auth: apiKey !== undefined }));
      else io.out(`ponder serve: listening on ${server.url} (model ${flags.model}, adapter ${adapter}, ${parallel} slot${parallel > 1 ? 's' : ''} of ${positions} tokens${apiKey ? ', API key required' : ''})`);

      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
      await scheduler.close();
      model.dispose();
      if (!flags.json) io.err('ponder serve: stopped');
    } finally {
      gpu.close();
    }
  });
}

function adapterName(gpu: Gpu): string {
  const i = gpu.info;
  return i.description || i.device || i.vendor || i.backend || 'unknown adapter';
}
