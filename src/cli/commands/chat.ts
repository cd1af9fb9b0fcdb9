import type { Command } from 'commander';
import { render } from 'ink';
import { createElement } from 'react';
import { ChatSession, type ChatSettings } from '../../engine/chat.js';
import { Gpu } from '../../gpu/gpu.js';
import { App } from '../../tui/chat/app.js';
import { fileHistory, historyFile } from '../../tui/chat/input-history.js';
import { splitReasoning } from '../../tui/chat/text.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import { checkModelFlag } from '../model-flag.js';
import { writeUntrusted, type CliIO } from '../io.js';
import { usageError } from '../output.js';
import { resolveMtpFlag, type MtpFlag } from '../mtp-flag.js';
import { parseIntFlag, parseNumberFlag } from '../parse.js';
import { readStdin } from '../stdin.js';

/**
 * `ponder chat`: the Ink chat app on a terminal; headless (one answer to stdout, then exit) with
 * --prompt, or when stdin or stdout is not a terminal (a piped stdin is the prompt). The model is opened
 * before any UI is drawn, so a missing model is the usual one-line error.
 */
interface ChatFlags {
  model: string;
  prompt?: string;
  maxTokens?: string;
  temperature: string;
  topK?: string;
  topP?: string;
  minP?: string;
  seed: string;
  system?: string;
  think: boolean;
  mtp?: MtpFlag;
  json?: boolean;
  adapter?: string;
  backend?: string;
}

const BRACKETED_PASTE_ON = '\u001b[?2004h';
const BRACKETED_PASTE_OFF = '\u001b[?2004l';

export function registerChat(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('chat')
      .description('chat with a model (headless with --prompt or when not on a terminal)')
      .option('-m, --model <model>', 'ponder model directory, a name under models/, or an HF directory', 'default')
      .option('-p, --prompt <text>', 'answer this one message to stdout and exit (stdin is read when piped)')
      .option('-n, --max-tokens <n>', 'at most this many tokens per answer (default: half the context, at most 512; never past the context)')
      .option('-t, --temperature <t>', "sampling temperature; 0 is greedy (default: the model's generation_config.json, else 0.7)")
      .option('--top-k <k>', 'sample from the k most likely tokens')
      .option('--top-p <p>', 'nucleus sampling: smallest set with probability >= p')
      .option('--min-p <p>', 'drop tokens less likely than p x the most likely one')
      .option('--seed <n>', 'random seed', '0')
      .option('--system <text>', 'a system message')
      .option('--think', 'ask the chat template for a reasoning block (default)')
      .option('--no-think', 'ask the chat template for no reasoning block')
      .option('--mtp [n]', "draft with the model's MTP modules and verify several tokens per pass (default: when the answer is greedy and the model has MTP layers)")
      .option('--no-mtp', 'decode without MTP drafting')
      .option('--json', 'headless: print one JSON object {text, reasoning, content, stats} instead of streaming'),
  ).action(async (flags: ChatFlags) => {
    const settings: Partial<ChatSettings> = {
      maxTokens: parseIntFlag('--max-tokens', flags.maxTokens, 1),
      temperature: parseNumberFlag('--temperature', flags.temperature, 0, 100),
      topK: parseIntFlag('--top-k', flags.topK, 0),
      topP: parseNumberFlag('--top-p', flags.topP, 1e-9, 1),
      minP: parseNumberFlag('--min-p', flags.minP, 0, 0.999999),
      seed: parseIntFlag('--seed', flags.seed, 0)!,
      system: flags.system,
      think: flags.think,
    };
    if (typeof flags.mtp === 'string') parseIntFlag('--mtp', flags.mtp, 1); // a bad value is a usage error before the GPU opens
    const headless = flags.prompt !== undefined || !process.stdin.isTTY || !io.isTTY;
    let prompt = flags.prompt;
    if (headless && prompt === undefined) {
      if (process.stdin.isTTY) throw usageError('no prompt: stdout is not a terminal, so pass --prompt TEXT or pipe the message on stdin');
      prompt = await readStdin();
    }
    if (headless && prompt!.trim() === '') throw usageError('the prompt is empty');

    checkModelFlag(flags.model); // a bad --model fails before the GPU opens
    const gpu = await Gpu.open(deviceOptions(flags));
    let session: ChatSession | undefined;
    try {
      session = await ChatSession.open(gpu, flags.model, settings);
      // --mtp [N] / --no-mtp as generate reads them; /mtp changes it later
      session.setSettings({ mtp: resolveMtpFlag(flags.mtp, session.info.mtpLayers, flags.model) ?? false });
      if (headless) await answerOnce(session, prompt!, io, Boolean(flags.json));
      else {
        // bracketed paste: the terminal marks pasted text, so a pasted block stays one message
        process.stdout.write(BRACKETED_PASTE_ON);
        const restore = () => process.stdout.write(BRACKETED_PASTE_OFF);
        process.once('exit', restore);
        try {
          const ui = render(createElement(App, { session, history: fileHistory(historyFile()) }), { exitOnCtrlC: false });
          await ui.waitUntilExit();
        } finally {
          process.off('exit', restore);
          restore();
        }
      }
    } finally {
      session?.dispose();
      gpu.close();
    }
  });
}

async function answerOnce(session: ChatSession, prompt: string, io: CliIO, json: boolean): Promise<void> {
  const onSigint = () => session.stop();
  process.once('SIGINT', onSigint);
  try {
    for await (const ev of session.send(prompt)) {
      if (ev.type === 'notice') io.err(`ponder: ${ev.text}`);
      else if (ev.type === 'token' && !json) writeUntrusted(process.stdout, ev.text);
      else if (ev.type === 'done') {
        if (json) {
          const { reasoning, answer } = splitReasoning(ev.text);
          io.out(JSON.stringify({ text: ev.text, reasoning, content: answer, stats: ev.stats, ...(ev.cut ? { cut: ev.cut } : {}) }));
        } else {
          io.out('');
          if (ev.cut) io.err(`ponder: ${ev.cut} the answer was cut after ${ev.stats.new_tokens} tokens`);
        }
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}
