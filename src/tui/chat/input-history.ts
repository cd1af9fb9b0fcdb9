/**
 * The prompt line's history, kept across sessions like a shell's: one file, `history` in ponder's
 * state directory — `$PONDER_STATE_DIR` (tests point it at a temporary directory), else
 * `$XDG_STATE_HOME/ponder`, else `~/.local/state/ponder`. One entry per line, each a JSON string
 * (a message may hold newlines). The newest `MAX_ENTRIES` are kept: the file is rewritten whole when it
 * has grown to twice that. History is a convenience: a file that cannot be read or written is
 * skipped silently, and a line that is not a JSON string is ignored.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const MAX_ENTRIES = 1000;

export interface InputHistory {
  /** oldest first */
  readonly entries: readonly string[];
  add(line: string): void;
}

export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PONDER_STATE_DIR) return env.PONDER_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'ponder');
  return join(homedir(), '.local', 'state', 'ponder');
}

export function historyFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'history');
}

/** History in memory only (tests, or when no file should be touched). */
export function memoryHistory(initial: string[] = []): InputHistory {
  const entries = [...initial];
  return {
    entries,
    add(line) {
      if (entries[entries.length - 1] !== line) entries.push(line);
    },
  };
}

/** History backed by `file` (created on the first entry). */
export function fileHistory(file: string): InputHistory {
  let lines: string[] = [];
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    // no history yet (or unreadable): start empty
  }
  const entries: string[] = [];
  for (const l of lines) {
    if (l.trim() === '') continue;
    try {
      const v: unknown = JSON.parse(l);
      if (typeof v === 'string') entries.push(v);
    } catch {
      // not one of ours: skip it
    }
  }
  let onDisk = entries.length;
  entries.splice(0, Math.max(0, entries.length - MAX_ENTRIES));
  return {
    entries,
    add(line) {
      if (entries[entries.length - 1] === line) return;
      entries.push(line);
      try {
        mkdirSync(dirname(file), { recursive: true });
        if (onDisk + 1 >= 2 * MAX_ENTRIES) {
          entries.splice(0, Math.max(0, entries.length - MAX_ENTRIES));
          const tmp = `${file}.${process.pid}.tmp`;
          writeFileSync(tmp, entries.map((e) => JSON.stringify(e) + '\n').join(''));
          renameSync(tmp, file);
          onDisk = entries.length;
        } else {
          appendFileSync(file, JSON.stringify(line) + '\n');
          onDisk++;
        }
      } catch {
        // a read-only home or a full disk must not break the chat
      }
    },
  };
}
