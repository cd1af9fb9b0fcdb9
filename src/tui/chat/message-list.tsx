import { Box, Text } from 'ink';
import { Markdown } from './markdown.js';
import { sanitize, splitReasoning } from './text.js';
import type { Entry, LiveAnswer } from './use-chat.js';

/**
 * The conversation, newest at the bottom. The box clips at its top, so a long conversation scrolls off
 * the screen instead of pushing the input away. Reasoning (<think>…</think>) is dimmed, and folded to
 * one line when `showReasoning` is off.
 */
export function MessageList({ entries, live, showReasoning }: { entries: Entry[]; live?: LiveAnswer; showReasoning: boolean }) {
  return (
    <Box flexDirection="column" flexGrow={1} flexShrink={1} justifyContent="flex-end" overflow="hidden">
      {entries.map((e) => (
        <Message key={e.id} entry={e} showReasoning={showReasoning} />
      ))}
      {live ? <Assistant text={live.text} showReasoning={showReasoning} streaming /> : null}
    </Box>
  );
}

function Message({ entry, showReasoning }: { entry: Entry; showReasoning: boolean }) {
  const text = sanitize(entry.text);
  switch (entry.role) {
    case 'user':
      return (
        <Box marginTop={1} flexShrink={0}>
          <Text color="green" bold>
            {'› '}
          </Text>
          <Text>{text}</Text>
        </Box>
      );
    case 'assistant':
      return <Assistant text={entry.text} showReasoning={showReasoning} stopped={entry.stopped} />;
    case 'error':
      return (
        <Box flexShrink={0}>
          <Text color="red">! {text}</Text>
        </Box>
      );
    default:
      return (
        <Box flexShrink={0}>
          <Text color="yellow">· {text}</Text>
        </Box>
      );
  }
}

function Assistant({ text, showReasoning, streaming = false, stopped = false }: { text: string; showReasoning: boolean; streaming?: boolean; stopped?: boolean }) {
  const { reasoning, thinking, answer } = splitReasoning(sanitize(text));
  return (
    <Box flexDirection="column" flexShrink={0}>
      {reasoning !== undefined ? <Reasoning text={reasoning} thinking={thinking && streaming} show={showReasoning} /> : null}
      {answer !== '' ? <Markdown text={answer} /> : null}
      {streaming && answer === '' && !thinking ? <Text dimColor>…</Text> : null}
      {stopped ? <Text dimColor>(stopped)</Text> : null}
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
