import { Box, Text } from 'ink';
import { parseInline, parseMarkdown } from './text.js';

/** Light markdown: fenced code in a side-ruled block, bullets and numbers, headings, **bold**, `code`. */
export function Markdown({ text, dim = false }: { text: string; dim?: boolean }) {
  const blocks = parseMarkdown(text);
  return (
    <Box flexDirection="column">
      {blocks.map((b, i) => {
        switch (b.kind) {
          case 'blank':
            return <Text key={i}> </Text>;
          case 'heading':
            return (
              <Text key={i} bold dimColor={dim}>
                {b.text}
              </Text>
            );
          case 'code':
            return (
              <Box key={i} flexDirection="column" borderStyle="single" borderTop={false} borderRight={false} borderBottom={false} borderColor="gray" paddingLeft={1}>
                {b.lang ? <Text dimColor>{b.lang}</Text> : null}
                {b.lines.map((l, j) => (
                  <Text key={j} color="cyan" dimColor={dim}>
                    {l === '' ? ' ' : l}
                  </Text>
                ))}
              </Box>
            );
          case 'item':
            return (
              <Box key={i} paddingLeft={b.indent}>
                <Text dimColor={dim}>{b.marker} </Text>
                <Box flexShrink={1}>
                  <Inline text={b.text} dim={dim} />
                </Box>
              </Box>
            );
          default:
            return <Inline key={i} text={b.text} dim={dim} />;
        }
      })}
    </Box>
  );
}

function Inline({ text, dim }: { text: string; dim: boolean }) {
  return (
    <Text dimColor={dim}>
      {parseInline(text).map((s, i) =>
        s.kind === 'bold' ? (
          <Text key={i} bold>
            {s.text}
          </Text>
        ) : s.kind === 'code' ? (
          <Text key={i} color="cyan">
            {s.text}
          </Text>
        ) : (
          s.text
        ),
      )}
    </Text>
  );
}
