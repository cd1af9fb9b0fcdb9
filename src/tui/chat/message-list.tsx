import { Box, Static, Text } from 'ink';
import type { ChatInfo } from '../../engine/chat.js';
import { Markdown } from './markdown.js';
import { sanitize, splitReasoning } from './text.js';
import type { Entry, LiveAnswer } from './use-chat.js';

/**
 * The conversation. Finished lines (the welcome, messages, notices) are printed once, in order, into
 * the terminal's scrollback with Ink's `<Static>`: nothing is lost off screen and the terminal's own
 * scrolling and search work. Only the answer being streamed is redrawn, and it shows at most
 * `maxRows` rows (its newest ones): Ink clears the whole screen when its live frame grows taller than
 * the terminal, so the live part must always fit. Reasoning (<think>…</think>) is dimmed, and folded
 * to one line when `showReasoning` is off (for what is printed from then on).
 */
export function Transcript({ entries, info, showReasoning, width }: { entries: Entry[]; info: ChatInfo; showReasoning: boolean; width: number }) {
  return (
    <Static items={entries}>
      {(e) => (
        <Box key={e.id} width={width} flexDirection="column">
          {e.role === 'welcome' ? <Welcome info={info} /> : <Message entry={e} showReasoning={showReasoning} />}
        </Box>
      )}
    </Static>
  );
}

/** The first screen: which model, what it is for (its card) and a prompt to try. */
export function Welcome({ info }: { info: ChatInfo }) {
  const { summary, example } = info.card ?? {};
  return (
    <Box flexDirection="column" marginBottom={1}>
      <Text bold>ponder chat · {info.model}</Text>
      {summary ? <Text>{sanitize(summary)}</Text> : <Text dimColor>(the model has no card saying what it is for)</Text>}
      {example ? (
        <Text>
          Try: <Text color="green">{sanitize(example)}</Text>
        </Text>
      ) : null}
      <Text dimColor>Type a message and press Enter (Ctrl-J for a new line); /help lists the commands.</Text>
    </Box>
  );
}

function Message({ entry, showReasoning }: { entry: Entry; showReasoning: boolean }) {
  const text = sanitize(entry.text);
  switch (entry.role) {
    case 'user':
      return (
        <Box marginTop={1}>
          <Text color="green" bold>
            {'› '}
          </Text>
          <Text>{text}</Text>
        </Box>
      );
    case 'assistant':
      return <Assistant text={entry.text} showReasoning={showReasoning} stopped={entry.stopped} cut={entry.cut} />;
    case 'error':
      return <Text color="red">! {text}</Text>;
    default:
      return <Text color="yellow">· {text}</Text>;
  }
}

function Assistant({ text, showReasoning, stopped = false, cut }: { text: string; showReasoning: boolean; stopped?: boolean; cut?: string }) {
  const { reasoning, answer } = splitReasoning(sanitize(text));
  return (
    <Box flexDirection="column">
      {reasoning !== undefined ? <Reasoning text={reasoning} thinking={false} show={showReasoning} /> : null}
      {answer !== '' ? <Markdown text={answer} /> : null}
      {stopped ? <Text dimColor>(stopped)</Text> : null}
      {cut ? (
        <Text color="yellow" dimColor>
          {cut}
        </Text>
      ) : null}
    </Box>
  );
}

/**
 * The answer being streamed, cut to its newest `maxRows` rows at `width` columns. While it fits it is
 * drawn as it will be printed (markdown); once it does not, the tail is drawn as plain lines (a
 * fence or list cut in half would otherwise be misread) under a "… N earlier lines" marker.
 */
export function LiveAnswerView({ live, showReasoning, maxRows, width }: { live: LiveAnswer; showReasoning: boolean; maxRows: number; width: number }) {
  const { reasoning, thinking, answer } = splitReasoning(sanitize(live.text));
  const lines: { text: string; dim: boolean }[] = [];
  if (reasoning !== undefined) {
    const n = reasoning === '' ? 0 : reasoning.split('\n').length;
    lines.push({ text: `${showReasoning ? '▾' : '▸'} ${thinking ? 'thinking…' : `reasoning (${n} line${n === 1 ? '' : 's'})`} · Ctrl-T to ${showReasoning ? 'fold' : 'show'}`, dim: true });
    if (showReasoning && reasoning !== '') for (const l of reasoning.split('\n')) lines.push({ text: '  ' + l, dim: true });
  }
  if (answer !== '') for (const l of answer.split('\n')) lines.push({ text: l, dim: false });
  if (lines.length === 0) lines.push({ text: '…', dim: true });
  const rowsOf = (l: string) => Math.max(1, Math.ceil(l.length / Math.max(1, width)));
  const total = lines.reduce((n, l) => n + rowsOf(l.text), 0);
  const budget = Math.max(1, maxRows);
  if (total <= budget) {
    return (
      <Box flexDirection="column" width={width}>
        {reasoning !== undefined ? <Reasoning text={reasoning} thinking={thinking} show={showReasoning} /> : null}
        {answer !== '' ? <Markdown text={answer} /> : null}
        {answer === '' && !thinking ? <Text dimColor>…</Text> : null}
      </Box>
    );
  }
  // newest lines first until the rows run out (one row kept for the marker); a line longer than
  // what is left shows its end
  const shown: { text: string; dim: boolean }[] = [];
  let left = budget - 1;
  for (let i = lines.length - 1; i >= 0 && left > 0; i--) {
    const l = lines[i]!;
    const rows = rowsOf(l.text);
    if (rows <= left) {
      shown.unshift(l);
      left -= rows;
    } else {
      shown.unshift({ text: l.text.slice(l.text.length - left * width), dim: l.dim });
      left = 0;
    }
  }
  const hidden = lines.length - shown.length;
  return (
    <Box flexDirection="column" width={width}>
      <Text dimColor>… {hidden > 0 ? `${hidden} earlier line${hidden === 1 ? '' : 's'}` : 'earlier text'} (printed in full when the answer ends)</Text>
      {shown.map((l, i) => (
        <Text key={i} dimColor={l.dim} wrap="wrap">
          {l.text === '' ? ' ' : l.text}
        </Text>
      ))}
    </Box>
  );
}

function Reasoning({ text, thinking, show }: { text: string; thinking: boolean; show: boolean }) {
  const lines = text === '' ? 0 : text.split('\n').length;
  const title = thinking ? 'thinking…' : `reasoning (${lines} line${lines === 1 ? '' : 's'})`;
  if (!show) {
    return (
      <Text dimColor italic>
        ▸ {title} · Ctrl-T to show
      </Text>
    );
  }
  return (
    <Box flexDirection="column">
      <Text dimColor italic>
        ▾ {title} · Ctrl-T to fold
      </Text>
      {text !== '' ? (
        <Box paddingLeft={2}>
          <Markdown text={text} dim />
        </Box>
      ) : null}
    </Box>
  );
}
