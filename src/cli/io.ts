/** Where commands write. Tests capture it; the real CLI writes to stdout/stderr. */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  /** True when stdout is a terminal (views may draw; otherwise plain lines). */
  isTTY: boolean;
}

export const processIO: CliIO = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  isTTY: Boolean(process.stdout.isTTY),
};
