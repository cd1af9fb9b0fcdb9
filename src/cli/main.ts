// first: NO_COLOR must reach chalk before anything imports it
import './no-color.js';
import { Command, CommanderError } from 'commander';
import { PonderError } from '../errors.js';
import { packageVersion } from '../paths.js';
import { registerBench } from './commands/bench.js';
import { registerChat } from './commands/chat.js';
import { registerConvert } from './commands/convert.js';
import { registerEval } from './commands/eval.js';
import { registerGenerate } from './commands/generate.js';
import { registerInfo } from './commands/info.js';
import { registerLogits } from './commands/logits.js';
import { registerModels } from './commands/models.js';
import { registerRecipes } from './commands/recipes.js';
import { registerReport } from './commands/report.js';
import { registerServe } from './commands/serve.js';
import { registerShow } from './commands/show.js';
import { registerTune } from './commands/tune.js';
import { guardStdout, processIO, type CliIO } from './io.js';
import { reportError } from './output.js';

/**
 * The command line: builds the command tree, runs the chosen command and turns every failure into
 * one line on stderr and an exit code (2 for usage errors, 1 for others, 130 for interrupts).
 * Returns the exit code instead of exiting so tests can drive it in-process.
 */
export function buildProgram(io: CliIO, name = 'ponder'): Command {
  const program = new Command(name)
    .description('small reasoning language models on WebGPU: chat, post-train, benchmark')
    .version(packageVersion, '-V, --version')
    .option('--debug', 'show stack traces for errors')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      // commander's own usage errors ("error: unknown option '--x'") become one prefixed line
      outputError: (s, write) => write(`${name}: ${s.trim().split('\n')[0]}\n`),
    });
  registerInfo(program, io);
  registerGenerate(program, io);
  registerChat(program, io);
  registerLogits(program, io);
  registerConvert(program, io);
  registerEval(program, io);
  registerBench(program, io);
  registerTune(program, io);
  registerRecipes(program, io);
  registerReport(program, io);
  registerServe(program, io);
  registerModels(program, io);
  registerShow(program, io);
  // every subcommand inherits the error handling and output settings
  for (const cmd of program.commands) cmd.exitOverride().showSuggestionAfterError(true);
  return program;
}

export async function main(argv: string[], name = 'ponder', io: CliIO = processIO): Promise<number> {
  if (io !== processIO) return run(argv, name, io);
  guardStdout(name);
  const code = await run(argv, name, io);
  // a failed stdout write reports itself on a queued tick (guardStdout): let the queued ticks run before
  // the caller exits with `code` (a tick, not an event-loop turn: a turn after the GPU closed lets
  // Dawn's teardown race the driver, see installExitGuard in gpu/device.ts)
  await new Promise((r) => process.nextTick(r));
  return code;
}

async function run(argv: string[], name: string, io: CliIO): Promise<number> {
  const debug = argv.includes('--debug');
  const program = buildProgram(io, name);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2; // commander already printed its one line
    }
    return reportError(e, { debug, program: name, writeErr: io.err });
  }
}

export { PonderError };
