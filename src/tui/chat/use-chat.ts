import { useCallback, useRef, useState } from 'react';
import type { ChatSessionLike } from '../../engine/chat.js';
import { runSlashCommand } from './commands.js';

/**
 * The chat view's state: the lines on screen (messages and notices), the answer being streamed, and
 * the actions the keys and the input call. The session owns the conversation; this hook only mirrors
 * it for drawing. Messages typed while an answer streams wait in a queue and are sent in order.
 */
export interface Entry {
  id: number;
  role: 'user' | 'assistant' | 'system' | 'notice' | 'error';
  text: string;
  /** the answer was stopped by the user */
  stopped?: boolean;
}

export interface LiveAnswer {
  text: string;
  tokens: number;
  firstTokenAt?: number;
  tokensPerSec?: number;
}

export interface ChatState {
  entries: Entry[];
  live: LiveAnswer | undefined;
  queued: number;
  /** bumps when settings change so the status bar redraws */
  version: number;
  submit(line: string): void;
  stop(): void;
}

let nextId = 1;

function entriesFrom(session: ChatSessionLike): Entry[] {
  return session.messages.map((m): Entry => {
    const role: Entry['role'] = m.role === 'user' ? 'user' : m.role === 'assistant' ? 'assistant' : 'notice';
    return { id: nextId++, role, text: role === 'notice' ? `${m.role}: ${m.content ?? ''}` : (m.content ?? '') };
  });
}

export function useChat(session: ChatSessionLike, onExit: () => void): ChatState {
  const [entries, setEntries] = useState<Entry[]>(() => entriesFrom(session));
  const [live, setLive] = useState<LiveAnswer | undefined>(undefined);
  const [version, setVersion] = useState(0);
  const [queued, setQueued] = useState(0);
  const queue = useRef<string[]>([]);
  const running = useRef(false);

  const add = useCallback((role: Entry['role'], text: string, stopped?: boolean) => {
    setEntries((e) => [...e, { id: nextId++, role, text, stopped }]);
  }, []);

  const runTurn = useCallback(
    async (text: string): Promise<void> => {
      running.current = true;
      add('user', text);
      setLive({ text: '', tokens: 0 });
      try {
        for await (const ev of session.send(text)) {
          if (ev.type === 'notice') add('notice', ev.text);
          else if (ev.type === 'token') {
            const now = performance.now();
            setLive((l) => {
              const prev = l ?? { text: '', tokens: 0 };
              const first = prev.firstTokenAt ?? now;
              const tokens = prev.tokens + 1;
              const tokensPerSec = tokens > 1 && now > first ? ((tokens - 1) * 1000) / (now - first) : undefined;
              return { text: prev.text + ev.text, tokens, firstTokenAt: first, tokensPerSec };
            });
          } else if (ev.type === 'done') {
            setLive(undefined);
            add('assistant', ev.text, ev.stats.stop_reason === 'aborted');
          }
        }
      } catch (e) {
        setLive(undefined);
        add('error', e instanceof Error ? e.message.split('\n')[0]! : String(e));
      } finally {
        setLive(undefined);
        running.current = false;
        setVersion((v) => v + 1);
      }
      const next = queue.current.shift();
      setQueued(queue.current.length);
      if (next !== undefined) await runTurn(next);
    },
    [session, add],
  );

  const submit = useCallback(
    (line: string) => {
      if (line.trim() === '') return;
      if (line.trimStart().startsWith('/')) {
        void runSlashCommand(session, line).then((r) => {
          if (r.exit) {
            onExit();
            return;
          }
          if (r.reloaded) setEntries(entriesFrom(session));
          if (r.notice) add(r.error ? 'error' : 'notice', r.notice);
          setVersion((v) => v + 1);
        });
        return;
      }
      if (running.current) {
        queue.current.push(line);
        setQueued(queue.current.length);
        return;
      }
      void runTurn(line);
    },
    [session, onExit, add, runTurn],
  );

  const stop = useCallback(() => {
    queue.current = [];
    setQueued(0);
    session.stop();
  }, [session]);

  return { entries, live, queued, version, submit, stop };
}
