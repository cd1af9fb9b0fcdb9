import type { Command } from 'commander';
import { encodePrompt } from '../../data/prompt.js';
import { cutMark, defaultMaxTokens } from '../../engine/answer-budget.js';
import { generate } from '../../engine/generate.js';
import { promptOpensReasoning, splitReasoningIds } from '../../engine/reasoning.js';
import { openModel } from '../../engine/open-model.js';
import { Gpu } from '../../gpu/gpu.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import { checkModelFlag } from '../model-flag.js';
import { writeUntrusted, type CliIO } from '../io.js';
import { usageError } from '../output.js';
import { resolveMtpFlag, type MtpFlag } from '../mtp-flag.js';
import { parseIntFlag, parseNumberFlag } from '../parse.js';
import { readStdin } from '../stdin.js';
import { PonderError } from '../../errors.js';

const DEFAULT_TEMPERATURE = 0.7;

/**
 * `ponder generate`: one prompt (chat template unless --raw), the answer streamed to stdout, or with
 * --json one object `{text, reasoning, content, stats, cut?}`: `reasoning` is the text of the answer's
 * <think> block (absent when it has none), `content` what follows it, `text` all of it without the
 * tags (kept for scripts written before the split). Sampling: flag > the model's
 * generation_config.json > 0.7. Answer budget and MTP default: as `chat` (answer-budget.ts, mtp-flag.ts).
 */
interface GenerateFlags {
  model: string;
  prompt?: string;
  maxTokens?: string;
  temperature: string;
  topK?: string;
  topP?: string;
  minP?: string;
  seed?: string;
  raw?: boolean;
  system?: string;
  json?: boolean;
  think: boolean;
  mtp?: MtpFlag;
  adapter?: string;
  backend?: string;
}

export function registerGenerate(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('generate')
      .description('generate text from a prompt, streamed to stdout')
      .option('-m, --model <model>', 'ponder model directory, a name under models/, or an HF directory', 'default')
      .option('-p, --prompt <text>', 'the prompt (read from stdin when omitted and stdin is piped)')
      .option('-n, --max-tokens <n>', 'at most this many new tokens (default: half the context, at most 512; never past the context)')
      .option('-t, --temperature <t>', "sampling temperature; 0 is greedy (default: the model's generation_config.json, else 0.7)")
      .option('--top-k <k>', 'sample from the k most likely tokens')
      .option('--top-p <p>', 'nucleus sampling: smallest set with probability >= p')
      .option('--min-p <p>', 'drop tokens less likely than p x the most likely one')
      .option('--seed <n>', 'random seed (same seed, same output)', '0')
      .option('--raw', 'use the prompt as raw text, without the chat template')
      .option('--system <text>', 'a system message (chat mode)')
      .option('--think', 'ask the chat template for a reasoning block (default)')
      .option('--no-think', 'ask the chat template for no reasoning block')
      .option('--mtp [n]', "draft with the model's MTP modules (all, or the first n) and verify several tokens per pass: the same text when greedy, the same distribution when sampling (default: when the answer is greedy and the model has MTP layers)")
      .option('--no-mtp', 'decode without MTP drafting')
      .option('--json', 'print one JSON object at the end: {text, reasoning, content, stats}'),
  ).action(async (flags: GenerateFlags) => {
    const maxTokensFlag = parseIntFlag('--max-tokens', flags.maxTokens, 1);
    const temperature = parseNumberFlag('--temperature', flags.temperature, 0, 100);
    const topK = parseIntFlag('--top-k', flags.topK, 0);
    const topP = parseNumberFlag('--top-p', flags.topP, 1e-9, 1);
    const minP = parseNumberFlag('--min-p', flags.minP, 0, 0.999999);
    const seed = parseIntFlag('--seed', flags.seed, 0)!;
    if (typeof flags.mtp === 'string') parseIntFlag('--mtp', flags.mtp, 1); // a bad value is a usage error before the GPU opens
    let prompt = flags.prompt;
    if (prompt === undefined) {
      if (process.stdin.isTTY) throw usageError('no prompt: pass --prompt TEXT or pipe it on stdin');
      prompt = await readStdin();
    }
    if (prompt.trim() === '') throw usageError('the prompt is empty');

    checkModelFlag(flags.model); // a bad --model fails before the GPU opens
    const gpu = await Gpu.open(deviceOptions(flags));
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    try {
      const { model, tokenizer, sampling, config } = await openModel(gpu, flags.model);
      const mtp = resolveMtpFlag(flags.mtp, model.mtpDepth, flags.model);
      const maxTokens = maxTokensFlag ?? defaultMaxTokens(config.max_position_embeddings);
      const ids = encodePrompt(tokenizer, prompt, { chat: !flags.raw, system: flags.system, enableThinking: flags.think });
      // a flag wins over the model's generation_config.json, which wins over ponder's default
      const sample = {
        temperature: temperature ?? sampling.temperature ?? DEFAULT_TEMPERATURE,
        topK: topK ?? sampling.topK,
        topP: topP ?? sampling.topP,
        minP: minP ?? sampling.minP,
      };
      for await (const ev of generate(gpu, model, tokenizer, ids, { maxTokens, ...sample, seed, signal: abort.signal, mtp })) {
        if (ev.type === 'token' && !flags.json) writeUntrusted(process.stdout, ev.text);
        if (ev.type === 'done') {
          const cut = cutMark(ev.stats.stop_reason);
          if (flags.json) {
            const { reasoning, content } = splitReasoningIds(ev.ids, tokenizer, { startsInReasoning: promptOpensReasoning(ids, tokenizer) });
            io.out(JSON.stringify({ text: ev.text, reasoning, content, stats: ev.stats, ...(cut ? { cut } : {}) }));
          } else {
            io.out('');
            if (cut) io.err(`ponder: ${cut} the answer was cut after ${ev.stats.new_tokens} tokens`);
          }
        }
      }
      model.dispose();
      // Ctrl-C stopped the answer: what was generated is out; the exit code says it was cut (130)
      if (abort.signal.aborted) throw new PonderError('INTERRUPTED', 'generation stopped (Ctrl-C)');
    } finally {
      process.off('SIGINT', onSigint);
      gpu.close();
    }
  });
}
