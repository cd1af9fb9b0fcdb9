import { Box, Text, useInput, type Key } from 'ink';
import { useReducer, useRef } from 'react';
import { completions } from './commands.js';
import { memoryHistory, type InputHistory } from './input-history.js';
import { sanitize } from './text.js';

/**
 * The prompt line: a small line editor (←/→, Home/End, Ctrl-A/E/U, Backspace), history on ↑/↓, and
 * slash-command hints under it with Tab to complete. It stays active while an answer streams, so the
 * next message (or /stats, or Esc) can be typed at any time. Ctrl-key chords are left to the app.
 *
 * Multi-line messages: Ctrl-J (a bare line feed; Enter sends a carriage return) adds a new line, and a
 * bracketed paste (the terminal wraps it in ESC[200~ … ESC[201~ once the app has asked for it with
 * ESC[?2004h) is inserted as it is, newlines included, so a pasted block stays one message. The
 * editor shows at most `MAX_ROWS` lines of the value (those around the cursor), so the live frame
 * keeps fitting the terminal.
 */
const PASTE_START = '[200~';
const PASTE_END = '[201~';
export const MAX_ROWS = 4;
const MAX_HINTS = 4;

interface EditorState {
  value: string;
  cursor: number;
  /** position in history while browsing with ↑/↓, and the line that was being edited */
  browse: { index: number; draft: string } | undefined;
  /** inside a bracketed paste */
  pasting: boolean;
}

export function Input({ onSubmit, width, history }: { onSubmit: (line: string) => void; width: number; history?: InputHistory }) {
  // The editor state lives in a ref, not in closures: keys can arrive faster than React re-renders (a
  // paste followed by Enter), and each key must see the result of the one before it.
  const editor = useRef<EditorState>({ value: '', cursor: 0, browse: undefined, pasting: false });
  const past = useRef<InputHistory>(history ?? memoryHistory());
  const [, redraw] = useReducer((n: number) => n + 1, 0);

  const onKey = (input: string, key: Key) => {
    const st = editor.current;
    const set = (v: string, c = v.length) => {
      st.value = v;
      st.cursor = Math.max(0, Math.min(c, v.length));
    };
    const insert = (text: string) => set(st.value.slice(0, st.cursor) + text + st.value.slice(st.cursor), st.cursor + text.length);
    if (input === PASTE_START || input === '\u001b' + PASTE_START) {
      st.pasting = true;
      return;
    }
    if (input === PASTE_END || input === '\u001b' + PASTE_END) {
      st.pasting = false;
      return;
    }
    if (st.pasting) {
      // everything until the paste ends is text: its Enters are new lines, not "send"
      const text = key.return ? '\n' : sanitize(input.replace(/\r\n?/g, '\n'));
      if (text !== '') insert(text);
      redraw();
      return;
    }
    // A terminal can deliver several keys in one read (fast typing, tmux send-keys, a paste ending in
    // Enter): Ink then reports them as one string. Replay its Enter and Tab as keys, in order.
    if (input.length > 1 && /[\r\t]/.test(input) && !key.ctrl && !key.meta) {
      for (const part of input.split(/([\r\t])/)) {
        if (part === '\r') onKey('', { ...key, return: true });
        else if (part === '\t') onKey('', { ...key, tab: true });
        else if (part !== '') onKey(part, key);
      }
      return;
    }
    const entries = past.current.entries;
    if (key.return) {
      const line = st.value;
      set('');
      st.browse = undefined;
      redraw();
      if (line.trim() === '') return;
      past.current.add(line);
      onSubmit(line);
      return;
    }
    if (key.upArrow || key.downArrow) {
      if (entries.length === 0) return;
      const at = st.browse?.index ?? entries.length;
      const next = key.upArrow ? Math.max(0, at - 1) : Math.min(entries.length, at + 1);
      const draft = st.browse?.draft ?? st.value;
      st.browse = next === entries.length ? undefined : { index: next, draft };
      set(next === entries.length ? draft : entries[next]!);
    } else if (key.tab) {
      const c = completions(st.value);
      if (c.length === 1) set(c[0]!.name + (c[0]!.args ? ' ' : ''));
    } else if (key.leftArrow) st.cursor = Math.max(0, st.cursor - 1);
    else if (key.rightArrow) st.cursor = Math.min(st.value.length, st.cursor + 1);
    else if (key.home || (key.ctrl && input === 'a')) st.cursor = 0;
    else if (key.end || (key.ctrl && input === 'e')) st.cursor = st.value.length;
    else if (key.ctrl && input === 'u') set('');
    else if (key.backspace || key.delete) {
      if (st.cursor > 0) set(st.value.slice(0, st.cursor - 1) + st.value.slice(st.cursor), st.cursor - 1);
    } else if (input === '\n' || (key.ctrl && input === 'j')) insert('\n'); // Ctrl-J
    else if (!key.ctrl && !key.meta && !key.escape) {
      const typed = sanitize(input.replace(/\r\n?/g, '\n'));
      if (typed === '') return;
      insert(typed);
    } else return;
    redraw();
  };
  useInput(onKey);

  const { value, cursor } = editor.current;
  const hints = completions(value);
  // the rows around the cursor, at most MAX_ROWS of them
  const lines = value.split('\n');
  let row = 0;
  let col = cursor;
  while (row < lines.length - 1 && col > lines[row]!.length) {
    col -= lines[row]!.length + 1;
    row++;
  }
  const first = Math.max(0, Math.min(row - MAX_ROWS + 1, lines.length - MAX_ROWS));
  const shown = lines.slice(first, first + MAX_ROWS);
  // each row is one terminal line: a longer line shows the window around the cursor (the border, the
  // padding and the "› " prefix take 6 columns, the cursor one more at the end)
  const room = Math.max(4, width - 7);
  const windowOf = (l: string, c: number) => {
    const start = l.length <= room ? 0 : Math.max(0, Math.min(c - Math.floor(room / 2), l.length - room + 1));
    return { start, text: l.slice(start, start + room) };
  };
  return (
    <Box flexDirection="column" width={width} flexShrink={0}>
      <Box borderStyle="round" borderColor="gray" paddingX={1} flexDirection="column">
        {first > 0 ? <Text dimColor>↑ {first} more line{first === 1 ? '' : 's'}</Text> : null}
        {shown.map((l, i) => {
          const r = first + i;
          const prefix = r === 0 ? <Text color="green">› </Text> : <Text>{'  '}</Text>;
          if (r !== row) {
            const w = windowOf(l, l.length);
            return (
              <Text key={r} wrap="truncate-end">
                {prefix}
                {w.text === '' ? ' ' : w.text}
              </Text>
            );
          }
          const w = windowOf(l, col);
          const c = col - w.start;
          return (
            <Text key={r} wrap="truncate-end">
              {prefix}
              {w.text.slice(0, c)}
              <Text inverse>{w.text[c] ?? ' '}</Text>
              {w.text.slice(c + 1)}
            </Text>
          );
        })}
      </Box>
      {hints.length > 0 ? (
        <Box flexDirection="column" paddingX={2}>
          {hints.slice(0, MAX_HINTS).map((h) => (
            <Text key={h.name} dimColor wrap="truncate-end">
              {h.name}
              {h.args ? ' ' + h.args : ''} — {h.help}
            </Text>
          ))}
        </Box>
      ) : null}
    </Box>
  );
}
