import type { Command } from 'commander';
import { evaluateTask, type TaskEvalItem, type TaskEvalSummary } from '../../engine/evaluate.js';
import { openModel } from '../../engine/open-model.js';
import { PonderError } from '../../errors.js';
import { Gpu } from '../../gpu/gpu.js';
import { knownTaskNames } from '../../tasks/index.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import type { CliIO } from '../io.js';
import { usageError } from '../output.js';
import { parseIntFlag } from '../parse.js';

interface EvalFlags {
  model: string;
  task: string;
  n: string;
  digits: string;
  ops?: string;
  cot?: boolean;
  seed: string;
  raw?: boolean;
  think?: string;
  maxTokens?: string;
  show?: boolean;
  json?: boolean;
  mtp?: boolean;
  adapter?: string;
  backend?: string;
}

const OPS = ['+', '-', '*'];

function parseOps(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const ops = text.split(/[\s,]+/).filter((s) => s !== '');
  const bad = ops.find((o) => !OPS.includes(o));
  if (ops.length === 0 || bad !== undefined) throw usageError(`--ops takes a comma-separated list of ${OPS.join(' ')} (got "${text}")`);
  return [...new Set(ops)];
}

/**
 * `ponder eval`: a model's exact-match accuracy on a verifiable task (greedy answers to n generated
 * problems; engine/evaluate.ts, the same scoring the Tuner's evals use). Prints one summary line, or
 * with --json one object; --show adds each problem (a line each, or a JSON object each).
 */
export function registerEval(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('eval')
      .description("score a model on a verifiable task: greedy answers to N generated problems, checked exactly")
      .option('-m, --model <model>', 'ponder model directory, a name under models/, or an HF directory', 'default')
      .option('--task <name>', `the task (${knownTaskNames().join(', ')})`, 'arithmetic')
      .option('-n, --n <count>', 'how many problems', '100')
      .option('--digits <d>', 'arithmetic: digits per operand', '1')
      .option('--ops <list>', 'arithmetic: operations to draw from, e.g. "+,-" (default all: + - *)')
      .option('--cot', 'the task asks for worked steps (a longer answer budget)')
      .option('--seed <n>', 'problems are drawn with this seed', '0')
      .option('--raw', 'prompt with raw text ("problem\\n") instead of the chat format (pretrained models)')
      .option('--think <on|off>', 'chat format: ask for a reasoning block or not (default: the template\'s)')
      .option('--max-tokens <n>', 'most tokens per answer (default 256 with --cot or reasoning, else 24)')
      .option('--show', 'also print each problem, the model\'s answer and whether it is right')
      .option('--mtp', "answer with the model's MTP modules drafting (same answers) and report how many drafts were accepted")
      .option('--json', 'a JSON object for the summary (and one per problem with --show)'),
  ).action(async (flags: EvalFlags) => {
    const n = parseIntFlag('--n', flags.n, 1)!;
    const digits = parseIntFlag('--digits', flags.digits, 1)!;
    const seed = parseIntFlag('--seed', flags.seed, 0)!;
    const maxTokens = parseIntFlag('--max-tokens', flags.maxTokens, 1);
    const ops = parseOps(flags.ops);
    if (!knownTaskNames().includes(flags.task)) throw usageError(`unknown task "${flags.task}" (known: ${knownTaskNames().join(', ')})`);
    if (flags.think !== undefined && flags.think !== 'on' && flags.think !== 'off') throw usageError(`--think takes on or off (got "${flags.think}")`);
    if (flags.raw && flags.think !== undefined) throw usageError('--think applies to the chat format; drop --raw or --think');
    const think = flags.think === undefined ? undefined : flags.think === 'on';

    const gpu = await Gpu.open(deviceOptions(flags));
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    const progress = !flags.json && process.stderr.isTTY;
    try {
      const { model, tokenizer } = await openModel(gpu, flags.model);
      if (flags.mtp && model.mtpDepth === 0) throw usageError(`${flags.model} has no MTP layers (num_nextn_predict_layers is 0): drop --mtp`);
      const run = evaluateTask(gpu, model, tokenizer, { task: flags.task, n, seed, digits, cot: flags.cot, ops, chat: !flags.raw, think, maxTokens, mtp: flags.mtp, signal: abort.signal });
      let summary: TaskEvalSummary;
      let correct = 0;
      for (;;) {
        const r = await run.next();
        if (r.done) {
          summary = r.value;
          break;
        }
        const item: TaskEvalItem = r.value;
        if (item.correct) correct++;
        if (flags.show) {
          if (flags.json) io.out(JSON.stringify(item));
          else io.out(`${item.correct ? 'ok  ' : 'FAIL'} ${item.prompt}  expected ${item.answer}, got ${item.predicted ?? '(none)'}`);
        } else if (progress) process.stderr.write(`\r${item.index + 1}/${n} answered, ${correct} correct`);
      }
      if (progress && !flags.show) process.stderr.write('\r\x1b[K');
      model.dispose();
      if (abort.signal.aborted) throw new PonderError('INTERRUPTED', `evaluation interrupted after ${summary.n} of ${n} problems (${summary.correct} correct)`);
      const what = [`digits ${digits}`, ops ? `ops ${ops.join(' ')}` : undefined, `seed ${seed}`, flags.raw ? 'raw prompts' : think === undefined ? undefined : `think ${flags.think}`].filter(Boolean).join(', ');
      if (flags.json) io.out(JSON.stringify({ model: flags.model, ...summary, digits, ops: ops ?? OPS, seed, chat: !flags.raw, think: think ?? null }));
      else {
        const drafts = summary.mtp ? `; MTP drafts accepted ${summary.mtp.accepted}/${summary.mtp.drafted} (${(100 * summary.mtp.acceptance).toFixed(1)}%)` : '';
        io.out(`${summary.task} (${what}): ${summary.correct}/${summary.n} correct (${(100 * summary.accuracy).toFixed(1)}%)${drafts}`);
      }
    } finally {
      process.off('SIGINT', onSigint);
      gpu.close();
    }
  });
}
