import { Box, useApp, useInput } from 'ink';
import { useCallback, useState } from 'react';
import type { ChatSessionLike } from '../../engine/chat.js';
import { useTerminalSize } from '../use-terminal-size.js';
import { Input, MAX_ROWS } from './input.js';
import type { InputHistory } from './input-history.js';
import { LiveAnswerView, Transcript } from './message-list.js';
import { StatusBar } from './status-bar.js';
import { useChat } from './use-chat.js';

/**
 * `ponder chat`: the conversation printed into the terminal's scrollback as it happens (welcome,
 * messages, notices), and under it the only part that is redrawn: the answer being streamed, the
 * prompt line and a status bar. Keys: Esc / Ctrl-C stop the answer (never the app), Ctrl-D leaves,
 * Ctrl-T folds or shows reasoning. The app only draws what the session and useChat say.
 *
 * The redrawn part always fits the terminal (Ink clears the whole screen and scrollback when its frame
 * is taller than the screen): the streamed answer gets what the prompt line (at most MAX_ROWS rows
 * of text and 4 hint rows, in its border), the status bar and a spare row leave of the height.
 */
export interface AppProps {
  session: ChatSessionLike;
  /** the prompt line's history (the CLI passes the persistent one; default: in memory) */
  history?: InputHistory;
  /** called once when the user leaves (after Ink unmounts the app) */
  onExit?: () => void;
}

const INPUT_ROWS = MAX_ROWS + 1 /* "more lines" marker */ + 2 /* border */ + 4; /* hints */

export function App({ session, history, onExit }: AppProps) {
  const app = useApp();
  const { columns, rows } = useTerminalSize();
  const [showReasoning, setShowReasoning] = useState(true);
  const leave = useCallback(() => {
    session.stop();
    onExit?.();
    app.exit();
  }, [session, onExit, app]);
  const chat = useChat(session, leave);

  useInput((input, key) => {
    if (key.escape || (key.ctrl && input === 'c')) chat.stop();
    else if (key.ctrl && input === 'd') leave();
    else if (key.ctrl && input === 't') setShowReasoning((s) => !s);
  });

  const live = chat.live;
  const tokensPerSec = live?.tokensPerSec ?? session.lastStats?.tokens_per_s;
  // while streaming, the context is the prompt plus what has been generated so far
  const contextUsed = live ? live.promptTokens + live.tokens : session.contextUsed;
  const liveRows = Math.max(1, rows - 1 - INPUT_ROWS - 1 - 1);
  return (
    <Box flexDirection="column" width={columns}>
      <Transcript entries={chat.entries} info={session.info} showReasoning={showReasoning} width={columns} />
      {live ? <LiveAnswerView live={live} showReasoning={showReasoning} maxRows={liveRows} width={columns} /> : null}
      <Input onSubmit={chat.submit} width={columns} history={history} />
      <StatusBar
        info={session.info}
        settings={session.settings}
        contextUsed={contextUsed}
        tokensPerSec={tokensPerSec}
        mtpAcceptance={session.lastStats?.mtp?.acceptance}
        generating={live !== undefined}
        queued={chat.queued}
      />
    </Box>
  );
}
