import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isPonderError } from '../errors.js';
import { ApiError } from './api-error.js';
import { handleChat, handleCompletion, type RunResult, type ServedModel } from './completions.js';
import { parseChatRequest, parseCompletionRequest, parseJsonBody } from './request.js';

/**
 * `ponder serve`'s HTTP layer (node:http, no framework): routing, the bearer-token check, the body
 * size limit, OpenAI-shaped errors, the access log and shutdown. Generation is in completions.ts;
 * the model runs in the engine's DecodeScheduler, shared by all requests.
 *
 *   GET  /health               {"status":"ok", slots, live, queued}
 *   GET  /v1/models            the one model served
 *   POST /v1/chat/completions  chat.completion / chat.completion.chunk (SSE)
 *   POST /v1/completions       text_completion (SSE when streaming)
 *
 * Every failure is an OpenAI error object with a 4xx/5xx status; a handler that throws something
 * unexpected gets a 500 and the server keeps serving. A client that disconnects aborts its request's
 * sequences, which leave the decode batch at the next step.
 */

export interface ServeOptions {
  host: string;
  /** 0: an ephemeral port (tests) */
  port: number;
  /** with a key, every request must carry `Authorization: Bearer <key>` */
  apiKey?: string;
  /** the largest request body accepted (default 1 MiB); bigger: 413 */
  maxBodyBytes?: number;
  /** receives one access-log record per request */
  log?: (record: AccessRecord) => void;
}

export interface AccessRecord {
  method: string;
  path: string;
  status: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  ms: number;
}

export interface RunningServer {
  /** http://host:port */
  url: string;
  port: number;
  /** Stops accepting, cancels in-flight requests (their streams end), waits for them and closes. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 1 << 20;

export async function startServer(model: ServedModel, opts: ServeOptions): Promise<RunningServer> {
  const inFlight = new Set<AbortController>();
  const handlers = new Set<Promise<void>>();
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  const server: Server = createServer((req, res) => {
    const abort = new AbortController();
    inFlight.add(abort);
    // the client went away before the answer was complete: its sequences leave the batch
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const p = handle(model, req, res, abort.signal, opts, maxBody).finally(() => {
      inFlight.delete(abort);
      handlers.delete(p);
    });
    handlers.add(p);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    port,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const a of inFlight) a.abort();
      await Promise.allSettled([...handlers]);
      server.closeAllConnections();
      await closed;
    },
  };
}

async function handle(model: ServedModel, req: IncomingMessage, res: ServerResponse, signal: AbortSignal, opts: ServeOptions, maxBody: number): Promise<void> {
  const t0 = performance.now();
  const path = (req.url ?? '/').split('?')[0]!;
  const method = req.method ?? 'GET';
  let result: RunResult | undefined;
  try {
    if (opts.apiKey !== undefined && !authorized(req, opts.apiKey)) {
      throw new ApiError(401, 'Incorrect API key provided: pass it as "Authorization: Bearer <key>"', 'invalid_request_error', null, 'invalid_api_key');
    }
    result = await route(model, method, path, req, res, signal, maxBody);
  } catch (e) {
    sendError(res, toApiError(e));
  } finally {
    opts.log?.({
      method,
      path,
      status: res.statusCode,
      ...(result ? { prompt_tokens: result.usage.prompt_tokens, completion_tokens: result.usage.completion_tokens } : {}),
      ms: Math.round(performance.now() - t0),
    });
  }
}

async function route(model: ServedModel, method: string, path: string, req: IncomingMessage, res: ServerResponse, signal: AbortSignal, maxBody: number): Promise<RunResult | undefined> {
  const allow = (m: string) => {
    if (method !== m) throw new ApiError(405, `${path} takes ${m}, not ${method}`, 'invalid_request_error', null, 'method_not_allowed');
  };
  switch (path) {
    case '/health': {
      allow('GET');
      const s = model.scheduler.stats;
      sendJson(res, 200, { status: 'ok', slots: s.slots, live: s.live, queued: s.queued });
      return undefined;
    }
    case '/v1/models': {
      allow('GET');
      sendJson(res, 200, { object: 'list', data: [{ id: model.id, object: 'model', created: 0, owned_by: 'ponder' }] });
      return undefined;
    }
    case '/v1/chat/completions':
      allow('POST');
      return handleChat(model, parseChatRequest(parseJsonBody(await readBody(req, maxBody))), res, signal);
    case '/v1/completions':
      allow('POST');
      return handleCompletion(model, parseCompletionRequest(parseJsonBody(await readBody(req, maxBody))), res, signal);
    default:
      throw new ApiError(404, `no route ${method} ${path}`, 'invalid_request_error', null, 'not_found');
  }
}

function authorized(req: IncomingMessage, key: string): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) return false;
  const given = Buffer.from(m[1]!.trim());
  const want = Buffer.from(key);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** The body as text; past `limit` bytes: 413 (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, `the request body is larger than ${limit} bytes`, 'invalid_request_error', null, 'request_too_large');
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (isPonderError(e) && e.code === 'BAD_INPUT') return new ApiError(400, e.message, 'invalid_request_error');
  if (isPonderError(e) && e.code === 'INTERRUPTED') return new ApiError(503, 'the server is shutting down', 'server_error', null, 'shutting_down');
  const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  return new ApiError(500, `internal error: ${message}`, 'server_error', null, 'internal_error');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** An error before the response started is a JSON error; mid-stream it is one SSE error event, then the end. */
function sendError(res: ServerResponse, err: ApiError): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) {
    res.end(`data: ${JSON.stringify(err.body())}\n\n`);
    return;
  }
  // close the connection after a 413 so the unread rest of the body is not parsed as a request
  if (err.status === 413) res.setHeader('Connection', 'close');
  sendJson(res, err.status, err.body());
}
