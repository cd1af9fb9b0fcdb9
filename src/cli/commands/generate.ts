import type { Command } from 'commander';
import { encodePrompt } from '../../data/prompt.js';
import { generate } from '../../engine/generate.js';
import { openModel } from '../../engine/open-model.js';
import { Gpu } from '../../gpu/gpu.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import type { CliIO } from '../io.js';
import { usageError } from '../output.js';
import { parseIntFlag, parseNumberFlag } from '../parse.js';
import { readStdin } from '../stdin.js';

const DEFAULT_TEMPERATURE = 0.7;

interface GenerateFlags {
  model: string;
  prompt?: string;
  maxTokens: string;
  temperature: string;
  topK?: string;
  topP?: string;
  minP?: string;
  seed?: string;
  raw?: boolean;
  system?: string;
  json?: boolean;
  mtp?: string | boolean;
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
      .option('-n, --max-tokens <n>', 'at most this many new tokens', '256')
      .option('-t, --temperature <t>', "sampling temperature; 0 is greedy (default: the model's generation_config.json, else 0.7)")
      .option('--top-k <k>', 'sample from the k most likely tokens')
      .option('--top-p <p>', 'nucleus sampling: smallest set with probability >= p')
      .option('--min-p <p>', 'drop tokens less likely than p x the most likely one')
      .option('--seed <n>', 'random seed (same seed, same output)', '0')
      .option('--raw', 'use the prompt as raw text, without the chat template')
      .option('--system <text>', 'a system message (chat mode)')
      .option('--mtp [n]', "draft with the model's MTP modules (all, or the first n) and verify several tokens per pass: the same text when greedy, the same distribution when sampling")
      .option('--json', 'print one JSON object at the end: {text, stats}'),
  ).action(async (flags: GenerateFlags) => {
    const maxTokens = parseIntFlag('--max-tokens', flags.maxTokens, 1)!;
    const temperature = parseNumberFlag('--temperature', flags.temperature, 0, 100);
    const topK = parseIntFlag('--top-k', flags.topK, 0);
    const topP = parseNumberFlag('--top-p', flags.topP, 1e-9, 1);
    const minP = parseNumberFlag('--min-p', flags.minP, 0, 0.999999);
    const seed = parseIntFlag('--seed', flags.seed, 0)!;
    const mtp = flags.mtp === undefined ? undefined : flags.mtp === true ? true : parseIntFlag('--mtp', String(flags.mtp), 1)!;
    let prompt = flags.prompt;
    if (prompt === undefined) {
      if (process.stdin.isTTY) throw usageError('no prompt: pass --prompt TEXT or pipe it on stdin');
      prompt = await readStdin();
    }
    if (prompt.trim() === '') throw usageError('the prompt is empty');

    const gpu = await Gpu.open(deviceOptions(flags));
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    try {
      const { model, tokenizer, sampling } = await openModel(gpu, flags.model);
      if (mtp !== undefined && model.mtpDepth === 0) throw usageError(`${flags.model} has no MTP layers (num_nextn_predict_layers is 0): drop --mtp`);
      if (typeof mtp === 'number' && mtp > model.mtpDepth) throw usageError(`--mtp ${mtp}: ${flags.model} has ${model.mtpDepth} MTP layer${model.mtpDepth > 1 ? 's' : ''}`);
      const ids = encodePrompt(tokenizer, prompt, { chat: !flags.raw, system: flags.system });
      // a flag wins over the model's generation_config.json, which wins over ponder's default
      const sample = {
        temperature: temperature ?? sampling.temperature ?? DEFAULT_TEMPERATURE,
        topK: topK ?? sampling.topK,
        topP: topP ?? sampling.topP,
        minP: minP ?? sampling.minP,
      };
      for await (const ev of generate(gpu, model, tokenizer, ids, { maxTokens, ...sample, seed, signal: abort.signal, mtp })) {
        if (ev.type === 'token' && !flags.json) process.stdout.write(ev.text);
        if (ev.type === 'done') {
          if (flags.json) io.out(JSON.stringify({ text: ev.text, stats: ev.stats }));
          else io.out('');
        }
      }
      model.dispose();
    } finally {
      process.off('SIGINT', onSigint);
      gpu.close();
    }
  });
}
