/**
 * The serving benchmark's load generator: the same R streaming `/v1/completions` requests (request j
 * samples at temperature 1 with seed j: distinct, and the same from run to run) sent to a running
 * `ponder serve` (or any OpenAI-compatible server) by C clients at once, each taking the next request
 * when its last one is done; the aggregate completion tokens per second over the wall time from the
 * first request to the last `[DONE]`. Tokens are the server's own counts
 * (`stream_options.include_usage`). Since a request's tokens do not depend on its batch, every C does
 * the same work, so the rates compare directly.
 */

export interface ServeLoadOptions {
  /** the server's base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  clients: number;
  /** requests in all (default: clients) */
  requests?: number;
  maxTokens: number;
  prompt: string;
  model?: string;
  apiKey?: string;
  signal?: AbortSignal;
}

export interface ServeLoadResult {
  clients: number;
  /** completion tokens over all clients */
  tokens: number;
  ms: number;
  tokens_per_s: number;
  /** the latest first token of any request, ms after the start */
  first_token_ms_max: number;
}

export async function measureServeLoad(o: ServeLoadOptions): Promise<ServeLoadResult> {
  const t0 = performance.now();
  const total = o.requests ?? o.clients;
  let next = 0;
  const runs: { tokens: number; firstTokenMs: number }[] = [];
  const client = async () => {
    while (next < total) runs.push(await oneRequest(o, next++, t0));
  };
  await Promise.all(Array.from({ length: o.clients }, client));
  const ms = performance.now() - t0;
  const tokens = runs.reduce((a, r) => a + r.tokens, 0);
  return { clients: o.clients, tokens, ms, tokens_per_s: tokens / (ms / 1000), first_token_ms_max: Math.max(...runs.map((r) => r.firstTokenMs)) };
}

async function oneRequest(o: ServeLoadOptions, i: number, t0: number): Promise<{ tokens: number; firstTokenMs: number }> {
  const res = await fetch(`${o.url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(o.apiKey ? { Authorization: `Bearer ${o.apiKey}` } : {}) },
    body: JSON.stringify({ model: o.model, prompt: o.prompt, max_tokens: o.maxTokens, temperature: 1, seed: i, stream: true, stream_options: { include_usage: true } }),
    signal: o.signal,
  });
  if (!res.ok || !res.body) throw new Error(`the server answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  const decoder = new TextDecoder();
  let text = '';
  let firstTokenMs = -1;
  // each request's first token, relative to the run's start (a queued request's wait included)
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (firstTokenMs < 0) firstTokenMs = performance.now() - t0;
    text += decoder.decode(chunk, { stream: true });
  }
  let tokens = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const usage = (JSON.parse(line.slice(6)) as { usage?: { completion_tokens: number } | null }).usage;
    if (usage) tokens = usage.completion_tokens;
  }
  return { tokens, firstTokenMs };
}
