import { sanitizeForTerminal } from '../terminal-text.js';

/** Where commands write. Tests capture it; the real CLI writes to stdout/stderr. */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  /** True when stdout is a terminal (views may draw; otherwise plain lines). */
  isTTY: boolean;
}

/**
 * Writes text that came from a file or a model to `stream`: sanitised when the stream is a terminal
 * (escape sequences would act on it), byte for byte when it is a file or a pipe.
 */
export function writeUntrusted(stream: NodeJS.WriteStream, text: string): void {
  stream.write(stream.isTTY ? sanitizeForTerminal(text) : text);
}

export const processIO: CliIO = {
  out: (line) => writeUntrusted(process.stdout, line + '\n'),
  err: (line) => writeUntrusted(process.stderr, line + '\n'),
  isTTY: Boolean(process.stdout.isTTY),
};

let stdoutGuarded = false;

/**
 * A failed write to stdout (a full disk behind `> file`, a closed pipe) arrives as an 'error' event;
 * unhandled, it ends the process with a stack trace or silently. Here it ends it with one line: a
 * closed pipe (`ponder … | head`) quietly with 0, as the reader chose to stop; anything else (ENOSPC)
 * with an error line on stderr and 1.
 */
export function guardStdout(program: string): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    try {
      process.stderr.write(`${program}: error: cannot write to standard output: ${e.code ?? e.message}${e.code === 'ENOSPC' ? ' (disk full)' : ''}\n`);
    } finally {
      process.exit(1);
    }
  });
}
