/**
 * Opening a file the user named, safely. Every file ponder reads on a user's behalf (recipes, data
 * files, config.json, tokenizer files, weights, checkpoints, --compare files, chat /load) goes
 * through here, so that two kinds of input can never hang it or exhaust memory:
 *
 *   - a FIFO, socket or device (`/dev/zero`, a named pipe): open(2) on a FIFO blocks until a writer
 *     appears and a read of /dev/zero never ends. The file is opened with O_NONBLOCK (which makes
 *     open return at once for a FIFO and changes nothing for a regular file) and refused unless
 *     fstat says it is a regular file; the check is made on the opened descriptor, so the file
 *     cannot be swapped between the check and the read.
 *   - a huge file read whole into memory: a reader that loads the whole file names a byte limit; the
 *     size from fstat is checked before anything is allocated and the read stops at the limit even if
 *     the file grows while it is read. Readers that only seek (weights, safetensors, checkpoints) open
 *     with openRegularFile and check sizes against their own headers.
 *
 * Errors are one PonderError line naming the file: NOT_FOUND when it does not exist, BAD_INPUT
 * otherwise.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { PonderError } from '../errors.js';
import { formatBytes } from '../format.js';

/** Byte limits for whole-file reads, by kind of file (generous: far above any real file of the kind). */
export const READ_LIMITS = {
  /** recipe YAML, config.json, generation_config.json, indexes, tokenizer_config.json */
  small: 16 << 20,
  /** tokenizer.json (the largest real ones are ~35 MB) */
  tokenizer: 256 << 20,
  /** training / evaluation data files (JSONL, plain text) */
  data: 1 << 30,
  /** chat /load conversations, bench --compare files */
  document: 64 << 20,
} as const;

export interface ReadFileOptions {
  /** What the file is, for messages ("recipe file", "config file"). */
  what?: string;
  /** Refuse a file larger than this many bytes. */
  maxBytes: number;
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}

function bad(path: string, problem: string, hint?: string): PonderError {
  return new PonderError('BAD_INPUT', `${path}: ${problem}`, hint);
}

/** What a non-regular file is, for the refusal line. */
function kindOf(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Opens `path` read-only without blocking and returns its descriptor and size; refuses anything that
 * is not a regular file. The caller closes the descriptor.
 */
export function openRegularFile(path: string, what = 'file'): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT') throw new PonderError('NOT_FOUND', `${path}: no such ${what}`);
    if (code === 'EISDIR') throw bad(path, `is a directory, not a ${what}`);
    if (code === 'ENOTDIR') throw new PonderError('NOT_FOUND', `${path}: no such ${what} (a parent of it is not a directory)`);
    throw bad(path, `cannot open the ${what}: ${code ?? String(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = kindOf(st);
      throw bad(path, kind === 'a directory' ? `is a directory, not a ${what}` : `is ${kind}, not a regular file; ponder reads only regular files`);
    }
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Reads a whole regular file into memory, refusing non-regular files and files over `maxBytes`. */
export function readRegularFile(path: string, opts: ReadFileOptions): Buffer {
  const what = opts.what ?? 'file';
  const { fd, size } = openRegularFile(path, what);
  try {
    const tooBig = () => bad(path, `the ${what} is larger than ${formatBytes(opts.maxBytes)}, more than ponder reads for a ${what}`, 'is this the right file?');
    if (size > opts.maxBytes) throw tooBig();
    // read to EOF (the size can change under us), never past the limit
    let buf = Buffer.allocUnsafe(Math.max(1, Math.min(size, opts.maxBytes) + 1));
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        if (len > opts.maxBytes) throw tooBig();
        const next = Buffer.allocUnsafe(Math.min(buf.length * 2, opts.maxBytes + 1));
        buf.copy(next, 0, 0, len);
        buf = next;
      }
      let got: number;
      try {
        got = readSync(fd, buf, len, buf.length - len, null);
      } catch (e) {
        throw bad(path, `cannot read the ${what}: ${errnoOf(e) ?? String(e)}`);
      }
      if (got === 0) break;
      len += got;
    }
    if (len > opts.maxBytes) throw tooBig();
    return buf.subarray(0, len);
  } finally {
    closeSync(fd);
  }
}

/** As readRegularFile, decoded as UTF-8 (invalid sequences become U+FFFD; use `fatal` to refuse them). */
export function readTextFile(path: string, opts: ReadFileOptions & { fatal?: boolean }): string {
  const bytes = readRegularFile(path, opts);
  try {
    return new TextDecoder('utf-8', { fatal: opts.fatal ?? false }).decode(bytes);
  } catch {
    throw bad(path, `the ${opts.what ?? 'file'} is not valid UTF-8`, 'save the file as UTF-8');
  }
}
