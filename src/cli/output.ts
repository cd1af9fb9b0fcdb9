import { exitCodeFor, isPonderError, PonderError } from '../errors.js';
import { terminalLine } from '../terminal-text.js';

/**
 * How the CLI reports failure: one line `ponder: error: <message>`, an optional `hint:` line, and an
 * exit code (2 for usage, 1 otherwise). Errors that are not PonderErrors are bugs: they still get
 * one line, plus a pointer to --debug, which prints the stack. A stop the user asked for (Ctrl-C, q
 * in the tune dashboard: code INTERRUPTED) is not an error: one line `ponder: <message>; <hint>`
 * (e.g. "training stopped after step 8; checkpoint ...; resume with ...") and exit 130.
 */
export interface ErrorSink {
  debug: boolean;
  program: string;
  writeErr(line: string): void;
}

export function reportError(e: unknown, sink: ErrorSink): number {
  if (isPonderError(e) && e.code === 'INTERRUPTED') {
    sink.writeErr(`${sink.program}: ${terminalLine(e.message)}${e.hint ? `; ${terminalLine(e.hint)}` : ''}`);
    return exitCodeFor(e);
  }
  // messages quote file names, file contents and model text: sanitised and cut to one line, so a
  // hostile file cannot drive the terminal and a binary one cannot flood it
  if (isPonderError(e)) {
    sink.writeErr(`${sink.program}: error: ${terminalLine(e.message)}`);
    if (e.hint) sink.writeErr(`hint: ${terminalLine(e.hint)}`);
    if (sink.debug && e.stack) sink.writeErr(e.stack);
    return exitCodeFor(e);
  }
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  sink.writeErr(`${sink.program}: internal error: ${terminalLine(message)}${sink.debug ? '' : ' (run with --debug for details)'}`);
  if (sink.debug && e instanceof Error && e.stack) sink.writeErr(e.stack);
  return 1;
}

export function usageError(message: string, hint?: string): PonderError {
  return new PonderError('USAGE', message, hint);
}
