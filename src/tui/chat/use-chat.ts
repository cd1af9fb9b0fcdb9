import { useCallback, useRef, useState } from 'react';
import type { CutMark } from '../../engine/answer-budget.js';
import type { ChatSessionLike } from '../../engine/chat.js';
import { commandTiming, runSlashCommand } from './commands.js';

/**
 * The chat view's state: the lines printed so far (messages and notices), the answer being streamed,
 * and the actions the keys and the input call. The session owns the conversation; this hook only
 * mirrors it for drawing.
 *
 * The lines only ever grow: the app prints them once into the terminal's scrollback (Ink `<Static>`),
 * so /reset and /load add a marker and the new conversation instead of redrawing the screen.
 *
 * Messages typed while an answer streams wait in a queue and are sent in order; so do /save and /model
 * (see `commandTiming`). /reset and /load act at once: the answer is stopped, the queue emptied, and
 * nothing more of that turn is drawn (the session does not keep it either).
 */
export interface Entry {
  id: number;
  role: 'welcome' | 'user' | 'assistant' | 'system' | 'notice' | 'error';
  text: string;
  /** the answer was stopped by the user */
  stopped?: boolean;
  /** the answer hit its token budget */
  cut?: CutMark;
}

export interface LiveAnswer {
  text: string;
  tokens: number;
  /** tokens of the prompt this answer follows (for the live context count) */
  promptTokens: number;
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
  const [entries, setEntries] = useState<Entry[]>(() => [{ id: nextId++, role: 'welcome', text: '' }, ...entriesFrom(session)]);
  const [live, setLive] = useState<LiveAnswer | undefined>(undefined);
  const [version, setVersion] = useState(0);
  const [queued, setQueued] = useState(0);
  const queue = useRef<string[]>([]);
  const running = useRef(false);
  // bumped when the conversation is replaced (/reset, /load): a turn from an older one draws nothing more
  const conversation = useRef(0);

  const add = useCallback((role: Entry['role'], text: string, extra: Pick<Entry, 'stopped' | 'cut'> = {}) => {
    setEntries((e) => [...e, { id: nextId++, role, text, ...extra }]);
  }, []);

  const runTurn = useCallback(
    async (text: string): Promise<void> => {
      running.current = true;
      const mine = conversation.current;
      const current = () => conversation.current === mine;
      add('user', text);
      setLive({ text: '', tokens: 0, promptTokens: session.contextUsed });
      try {
        for await (const ev of session.send(text)) {
          if (!current()) continue; // the conversation was replaced: let the turn end unseen
          if (ev.type === 'notice') add('notice', ev.text);
          else if (ev.type === 'start') setLive((l) => ({ ...(l ?? { text: '', tokens: 0 }), promptTokens: ev.promptTokens }));
          else if (ev.type === 'token') {
            const now = performance.now();
            setLive((l) => {
              const prev = l ?? { text: '', tokens: 0, promptTokens: 0 };
              const first = prev.firstTokenAt ?? now;
              const tokens = prev.tokens + 1;
              const tokensPerSec = tokens > 1 && now > first ? ((tokens - 1) * 1000) / (now - first) : undefined;
              return { ...prev, text: prev.text + ev.text, tokens, firstTokenAt: first, tokensPerSec };
            });
          } else if (ev.type === 'done') {
            setLive(undefined);
            if (!ev.discarded) add('assistant', ev.text, { stopped: ev.stats.stop_reason === 'aborted', cut: ev.cut });
          }
        }
      } catch (e) {
        setLive(undefined);
        if (current()) add('error', e instanceof Error ? e.message.split('\n')[0]! : String(e));
      } finally {
        if (current()) setLive(undefined);
        running.current = false;
        setVersion((v) => v + 1);
      }
      await drain();
    },
    // drain (below) is a plain function: it only calls the stable callbacks command and runTurn
    [session, add],
  );

  const command = useCallback(
    async (line: string): Promise<void> => {
      const r = await runSlashCommand(session, line);
      if (r.exit) {
        onExit();
        return;
      }
      if (r.reloaded) {
        // the session stopped (and will discard) the answer; the queue belonged to the old conversation
        conversation.current++;
        queue.current = [];
        setQueued(0);
        setLive(undefined);
        const loaded = entriesFrom(session);
        setEntries((e) => [...e, { id: nextId++, role: 'notice', text: r.notice ?? 'new conversation' }, ...loaded]);
      } else if (r.notice) add(r.error ? 'error' : 'notice', r.notice);
      setVersion((v) => v + 1);
    },
    [session, onExit, add],
  );

  // runs what waited for the answer, in order: commands until the next message, then that message's turn
  async function drain(): Promise<void> {
    for (;;) {
      const next = queue.current.shift();
      setQueued(queue.current.length);
      if (next === undefined) return;
      if (next.trimStart().startsWith('/')) await command(next);
      else return runTurn(next);
    }
  }

  const submit = useCallback(
    (line: string) => {
      if (line.trim() === '') return;
      const isCommand = line.trimStart().startsWith('/');
      if (running.current && (!isCommand || commandTiming(line) === 'after-answer')) {
        queue.current.push(line);
        setQueued(queue.current.length);
        return;
      }
      if (isCommand) void command(line);
      else void runTurn(line);
    },
    [command, runTurn],
  );

  const stop = useCallback(() => {
    queue.current = [];
    setQueued(0);
    session.stop();
  }, [session]);

  return { entries, live, queued, version, submit, stop };
}
