/**
 * The one error type ponder throws on purpose. It carries a stable code (for `--json` output and
 * tests), a one-line message, and an optional hint telling the user what to do about it. The CLI
 * prints `error: <message>` (+ `hint: ...`) and exits non-zero; anything that is *not* a PonderError
 * is a bug and is reported as such (stack trace only with --debug).
 */
export type ErrorCode =
  | 'USAGE' // bad command line
  | 'NO_ADAPTER' // no WebGPU adapter could be opened
  | 'DEVICE_LOST'
  | 'DEVICE_LIMIT' // a request exceeds what the device allows
  | 'SHAPE' // tensors of the wrong shape/dtype passed to an op
  | 'WGSL_COMPILE' // a kernel failed to compile
  | 'GPU_VALIDATION' // Dawn rejected a command
  | 'NOT_FOUND'
  | 'BAD_INPUT'
  | 'INTERRUPTED';

export class PonderError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'PonderError';
    this.code = code;
    this.hint = hint;
  }
}

export function isPonderError(e: unknown): e is PonderError {
  return e instanceof PonderError;
}

/** Exit codes: 2 for usage errors (like most CLIs), 1 for everything else that failed cleanly. */
export function exitCodeFor(e: PonderError): number {
  if (e.code === 'USAGE') return 2;
  if (e.code === 'INTERRUPTED') return 130;
  return 1;
}
