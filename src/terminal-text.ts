/**
 * Text that came from a file or a model, made safe to print on a terminal. A downloaded config.json,
 * a data file or a model's output can hold escape sequences that clear the screen, retitle the
 * window, move the cursor or rewrite what was printed before (a carriage return); printed raw, they act
 * on the user's terminal. Removed here: ESC sequences whole (CSI `ESC [ … final`, OSC `ESC ] … BEL/ST`,
 * two-byte `ESC x`), then every remaining C0 control except newline and tab, DEL, and every C1
 * control (U+0080–U+009F, which includes the one-byte CSI and OSC). A CRLF becomes a newline.
 * Everything else, including all printable Unicode, passes unchanged. Like format.ts, this imports
 * nothing, so every layer may use it.
 */
const ESCAPE_SEQUENCE = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[PX^_][^\u001b]*(?:\u001b\\)?|[ -/]*[0-~])?/g;
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `text` without terminal control sequences or control characters (newlines and tabs kept). */
export function sanitizeForTerminal(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, '').replace(/\r\n/g, '\n').replace(CONTROL, '');
}

/** The longest message the CLI prints as one error line; longer ones (a binary file quoted) are cut. */
export const MAX_ERROR_LINE = 400;

/** One printable line of at most `max` characters: sanitised, newlines folded to spaces, cut with "…". */
export function terminalLine(text: string, max = MAX_ERROR_LINE): string {
  const line = sanitizeForTerminal(text).replace(/[\n\t]+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
