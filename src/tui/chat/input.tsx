import { Box, Text, useInput, type Key } from 'ink';
import { useReducer, useRef } from 'react';
import { completions } from './commands.js';
import { sanitize } from './text.js';

/**
 * The prompt line: a small line editor (←/→, Home/End, Ctrl-A/E/U, Backspace), history on ↑/↓, and
 * slash-command hints under it with Tab to complete. It stays active while an answer streams, so the
 * next message (or /stats, or Esc) can be typed at any time. Ctrl-key chords are left to the app.
 */
interface EditorState {
  value: string;
  cursor: number;
  history: string[];
  /** position in history while browsing with ↑/↓, and the line that was being edited */
  browse: { index: number; draft: string } | undefined;
}

export function Input({ onSubmit, width }: { onSubmit: (line: string) => void; width: number }) {
  // The editor state lives in a ref, not in closures: keys can arrive faster than React re-renders (a
  // paste followed by Enter), and each key must see the result of the one before it.
  const editor = useRef<EditorState>({ value: '', cursor: 0, history: [], browse: undefined });
  const [, redraw] = useReducer((n: number) => n + 1, 0);

  const onKey = (input: string, key: Key) => {
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
    const st = editor.current;
    const set = (v: string, c = v.length) => {
      st.value = v;
      st.cursor = Math.max(0, Math.min(c, v.length));
    };
    if (key.return) {
      const line = st.value;
      set('');
      st.browse = undefined;
      redraw();
      if (line.trim() === '') return;
      if (st.history[st.history.length - 1] !== line) st.history.push(line);
      onSubmit(line);
      return;
    }
    if (key.upArrow || key.downArrow) {
      if (st.history.length === 0) return;
      const at = st.browse?.index ?? st.history.length;
      const next = key.upArrow ? Math.max(0, at - 1) : Math.min(st.history.length, at + 1);
      const draft = st.browse?.draft ?? st.value;
      st.browse = next === st.history.length ? undefined : { index: next, draft };
      set(next === st.history.length ? draft : st.history[next]!);
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
    } else if (!key.ctrl && !key.meta && !key.escape) {
      const typed = sanitize(input).replace(/\n/g, ' ');
      if (typed === '') return;
      set(st.value.slice(0, st.cursor) + typed + st.value.slice(st.cursor), st.cursor + typed.length);
    } else return;
    redraw();
  };
  useInput(onKey);

  const { value, cursor } = editor.current;
  const hints = completions(value);
  const before = value.slice(0, cursor);
  const at = value[cursor] ?? ' ';
  const after = value.slice(cursor + 1);
  return (
    <Box flexDirection="column" width={width} flexShrink={0}>
      <Box borderStyle="round" borderColor="gray" paddingX={1}>
        <Text color="green">› </Text>
        <Text wrap="wrap">
          {before}
          <Text inverse>{at}</Text>
          {after}
        </Text>
      </Box>
      {hints.length > 0 ? (
        <Box flexDirection="column" paddingX={2}>
          {hints.slice(0, 6).map((h) => (
            <Text key={h.name} dimColor>
              {h.name}
              {h.args ? ' ' + h.args : ''} — {h.help}
            </Text>
          ))}
        </Box>
      ) : null}
    </Box>
  );
}
