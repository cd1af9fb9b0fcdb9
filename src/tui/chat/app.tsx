import { Box, Text, useApp, useInput } from 'ink';
import { useCallback, useState } from 'react';
import type { ChatSessionLike } from '../../engine/chat.js';
import { useTerminalSize } from '../use-terminal-size.js';
import { Input } from './input.js';
import { MessageList } from './message-list.js';
import { StatusBar } from './status-bar.js';
import { useChat } from './use-chat.js';

/**
 * `ponder chat`: the conversation, the prompt line and a status bar, filling the terminal and
 * following its size. Keys: Esc / Ctrl-C stop the answer (never the app), Ctrl-D leaves, Ctrl-T folds
 * or shows reasoning. The app only draws what the session and useChat say.
 */
export interface AppProps {
  session: ChatSessionLike;
  /** called once when the user leaves (after Ink unmounts the app) */
  onExit?: () => void;
}

export function App({ session, onExit }: AppProps) {
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

  const tokensPerSec = chat.live?.tokensPerSec ?? session.lastStats?.tokens_per_s;
  // one row short of the terminal: Ink redraws a frame as tall as the screen by clearing it (flicker)
  return (
    <Box flexDirection="column" width={columns} height={Math.max(6, rows - 1)}>
      {chat.entries.length === 0 && !chat.live ? (
        <Box flexGrow={1} flexDirection="column" justifyContent="flex-end">
          <Text dimColor>
            Chatting with {session.info.model}. Type a message and press Enter; /help lists the commands.
          </Text>
        </Box>
      ) : (
        <MessageList entries={chat.entries} live={chat.live} showReasoning={showReasoning} />
      )}
      <Input onSubmit={chat.submit} width={columns} />
      <StatusBar
        info={session.info}
        settings={session.settings}
        contextUsed={session.contextUsed}
        tokensPerSec={tokensPerSec}
        mtpAcceptance={session.lastStats?.mtp?.acceptance}
        generating={chat.live !== undefined}
        queued={chat.queued}
      />
    </Box>
  );
}

