import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { majorityVote } from '../../engine/eval-metrics.js';
import { evaluateTask, resolveTaskOptions, type RawTaskOptions, type TaskEvalItem } from '../../engine/evaluate.js';
import { openModel } from '../../engine/open-model.js';
import { isPonderError, PonderError } from '../../errors.js';
import { Gpu } from '../../gpu/gpu.js';
import { formatTaskList, knownTaskNames } from '../../tasks/index.js';
import { EVAL_VOTES, formatCurveChart, formatCurveTable, formatEvalSummary, formatItemLine, headline, type EvalVote } from '../../tui/eval-print.js';
import { addGpuOptions, deviceOptions } from '../gpu-options.js';
import { checkModelFlag } from '../model-flag.js';
import type { CliIO } from '../io.js';
import { usageError } from '../output.js';
import { parseIntFlag, parseNumberFlag } from '../parse.js';
import { resolveBatchedMtpFlag, type MtpFlag } from '../mtp-flag.js';

interface EvalFlags {
  model: string;
  task: string;
  data?: string;
  n: string;
  digits?: string;
  ops?: string;
  cot?: boolean;
  option: string[];
  listTasks?: boolean;
  seed: string;
  samples: string;
  temperature?: string;
  topP?: string;
  vote: string;
  raw?: boolean;
  /** --think / --no-think (chat's and generate's flags), or the older --think on|off */
  think?: boolean | string;
  maxTokens?: string;
  show?: boolean;
  curve?: boolean;
  json?: boolean;
  dump?: string;
  mtp?: MtpFlag;
  adapter?: string;
  backend?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * The task's options from the flags: --digits, --ops, --cot, --data and every --option key=value, as
 * raw values the task validates (engine/evaluate.ts resolveTaskOptions); a key given twice is an error.
 */
function rawTaskOptions(flags: EvalFlags): RawTaskOptions {
  const raw: RawTaskOptions = {};
  const put = (key: string, value: unknown, flag: string) => {
    if (Object.hasOwn(raw, key)) throw usageError(`the task option "${key}" is given twice (${flag})`);
    raw[key] = value;
  };
  if (flags.digits !== undefined) put('digits', flags.digits, '--digits');
  if (flags.ops !== undefined) put('ops', flags.ops, '--ops');
  if (flags.cot) put('cot', true, '--cot');
  if (flags.data !== undefined) put('data', flags.data, '--data');
  for (const o of flags.option) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw usageError(`--option takes key=value (got "${o}")`);
    put(o.slice(0, eq).trim(), o.slice(eq + 1), `--option ${o}`);
  }
  return raw;
}

/** Where --dump goes, checked before any work: not a directory, in a directory that exists. */
function dumpPath(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  const path = resolve(file);
  if (existsSync(path) && statSync(path).isDirectory()) throw usageError(`--dump ${file} is a directory; give a file name`);
  if (!existsSync(dirname(path)) || !statSync(dirname(path)).isDirectory()) throw usageError(`--dump ${file}: the directory ${dirname(path)} does not exist`);
  return path;
}

/** One JSON line per problem (prompt, answer, every sample's text, answer and verdict), written tmp + rename. */
function writeDump(path: string, items: readonly TaskEvalItem[]): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, items.map((i) => JSON.stringify(i) + '\n').join(''));
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new PonderError('BAD_INPUT', `--dump: cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * `ponder eval`: a model on a verifiable task (engine/evaluate.ts, the same scoring the Tuner's evals
 * use): k answers to each of n generated problems, checked exactly, reduced to accuracy with a Wilson
 * interval, pass@k, maj@k and best-of-N (engine/eval-metrics.ts). Prints one line per figure
 * (tui/eval-print.ts), or with --json one object; --show adds each problem, --curve the
 * test-time-scaling curve, --dump every sample to a JSONL file from which each figure can be recomputed.
 */
export function registerEval(program: Command, io: CliIO): void {
  addGpuOptions(
    program
      .command('eval')
      .description('score a model on a verifiable task: k answers to each of N generated problems, checked exactly (accuracy, pass@k, maj@k, best-of-N)')
      .option('-m, --model <model>', 'ponder model directory, a name under models/, or an HF directory', 'default')
      .option('--task <name>', `the task (${knownTaskNames().join(', ')}; --list-tasks describes them)`, 'arithmetic')
      .option('--list-tasks', 'list the tasks and their options, then exit')
      .option('--data <file>', 'the task\'s data file (the jsonl task)')
      .option('-n, --n <count>', 'how many problems', '100')
      .option('--digits <d>', 'arithmetic: digits of the larger operand (default: 3 for + and -, 2 for *)')
      .option('--ops <list>', 'arithmetic: operations to draw from, e.g. "+,-" (default all: + - *)')
      .option('--cot', 'the task asks for worked steps (a longer answer budget)')
      .option('--option <key=value>', 'any other task option (repeatable)', collect, [])
      .option('--seed <n>', 'problems (and samples) are drawn with this seed', '0')
      .option('-k, --samples <k>', 'answers sampled per problem', '1')
      .option('-t, --temperature <t>', 'sampling temperature (default 0, greedy, with one sample; 1 with several)')
      .option('--top-p <p>', 'nucleus sampling: keep the most likely tokens up to this probability (0 < p <= 1)')
      .option('--vote <majority|best>', 'the headline figure: majority vote (maj@k) or best-of-N with the verifier', 'majority')
      .option('--raw', 'prompt with raw text ("problem\\n") instead of the chat format (pretrained models)')
      .option('--think [on|off]', 'chat format: ask for a reasoning block (default: the template\'s); `--think off` is --no-think')
      .option('--no-think', 'chat format: ask for no reasoning block')
      .option('--max-tokens <n>', 'most tokens per answer (default 512 with --cot or reasoning, within the context; else 24)')
      .option('--show', 'also print each problem, the answers and whether it is solved')
      .option('--curve', 'the test-time-scaling curve: maj@j and pass@j for j = 1, 2, 4, ... k (a chart in a terminal, else a table)')
      .option('--dump <file>', 'write every problem and sample (text, answer, verdict) as JSON lines to this file')
      .option('--mtp [n]', "greedy, one sample: answer one problem at a time with the model's MTP modules (all, or the first n) drafting (same answers) and report how many drafts were accepted (default: off, as the batched answers are faster)")
      .option('--no-mtp', 'answer without MTP drafting (the default)')
      .option('--json', 'a JSON object for the summary (and one per problem with --show)'),
  ).action(async (flags: EvalFlags) => {
    if (flags.listTasks) {
      for (const line of formatTaskList()) io.out(line);
      return;
    }
    const n = parseIntFlag('--n', flags.n, 1)!;
    const seed = parseIntFlag('--seed', flags.seed, 0)!;
    const samples = parseIntFlag('--samples', flags.samples, 1)!;
    const temperature = parseNumberFlag('--temperature', flags.temperature, 0, 100);
    const topP = parseNumberFlag('--top-p', flags.topP, 0, 1);
    if (topP === 0) throw usageError('--top-p must be above 0 (1 keeps every token)');
    const maxTokens = parseIntFlag('--max-tokens', flags.maxTokens, 1);
    if (!(EVAL_VOTES as readonly string[]).includes(flags.vote)) throw usageError(`--vote takes ${EVAL_VOTES.join(' or ')} (got "${flags.vote}")`);
    const vote = flags.vote as EvalVote;
    if (!knownTaskNames().includes(flags.task)) throw usageError(`unknown task "${flags.task}" (known: ${knownTaskNames().join(', ')})`);
    const rawOptions = rawTaskOptions(flags);
    let options;
    try {
      options = resolveTaskOptions(flags.task, rawOptions, 'ponder eval');
    } catch (e) {
      throw isPonderError(e) ? usageError(e.message) : e;
    }
    if (typeof flags.think === 'string' && flags.think !== 'on' && flags.think !== 'off') throw usageError(`--think takes on or off, or no value (got "${flags.think}")`);
    if (flags.raw && flags.think !== undefined) throw usageError('--think applies to the chat format; drop --raw or --think');
    if (typeof flags.mtp === 'string') parseIntFlag('--mtp', flags.mtp, 1); // a bad value is a usage error before the GPU opens
    if (flags.mtp !== undefined && flags.mtp !== false && (samples > 1 || (temperature ?? 0) > 0)) throw usageError('--mtp drafts greedy answers: use it with one sample and temperature 0');
    const think = flags.think === undefined ? undefined : flags.think === true || flags.think === 'on';
    const dump = dumpPath(flags.dump);

    checkModelFlag(flags.model); // a bad --model fails before the GPU opens
    const gpu = await Gpu.open(deviceOptions(flags));
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    const progress = Boolean(process.stderr.isTTY);
    try {
      const { model, tokenizer } = await openModel(gpu, flags.model);
      const mtp = resolveBatchedMtpFlag(flags.mtp, model.mtpDepth, flags.model);
      const { items, summary } = await evaluateTask(gpu, model, tokenizer, {
        task: flags.task,
        n,
        seed,
        taskOptions: rawOptions,
        samples,
        temperature,
        topP,
        chat: !flags.raw,
        think,
        maxTokens,
        mtp,
        curve: flags.curve,
        signal: abort.signal,
        onProgress: progress ? (done, total) => process.stderr.write(`\r${done}/${total} answers`) : undefined,
      });
      if (progress) process.stderr.write('\r\x1b[K');
      model.dispose();
      if (dump) writeDump(dump, items);
      if (abort.signal.aborted) throw new PonderError('INTERRUPTED', `evaluation interrupted: ${summary.n} of ${n} problems answered`);

      if (flags.show) {
        for (const item of items) {
          if (flags.json) io.out(JSON.stringify(item));
          else {
            const maj = majorityVote(item.samples);
            const solved = vote === 'majority' ? maj !== undefined && item.samples[maj.first]!.correct : item.samples.some((s) => s.correct);
            io.out(formatItemLine(item, vote, maj?.answer, solved));
          }
        }
      }
      const head = headline(summary, vote);
      if (flags.json) {
        io.out(JSON.stringify({ model: flags.model, ...summary, vote, score: head.value, score_ci95: head.ci95, seed, task_options: options, top_p: topP ?? null, chat: !flags.raw, think: think ?? null }));
        return;
      }
      const what = [...Object.entries(options).filter(([key]) => Object.hasOwn(rawOptions, key)).map(([key, v]) => `${key} ${Array.isArray(v) ? v.join(' ') : String(v)}`), `seed ${seed}`, flags.raw ? 'raw prompts' : think === undefined ? undefined : `think ${think ? 'on' : 'off'}`]
        .filter(Boolean)
        .join(', ');
      for (const line of formatEvalSummary(summary, vote, what)) io.out(line);
      if (summary.curve) {
        const width = Math.min(60, (process.stdout.columns ?? 80) - 12);
        for (const line of io.isTTY ? formatCurveChart(summary.curve, width) : formatCurveTable(summary.curve)) io.out(line);
      }
    } finally {
      process.off('SIGINT', onSigint);
      gpu.close();
    }
  });
}
