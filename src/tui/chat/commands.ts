import type { ChatSessionLike } from '../../engine/chat.js';

/**
 * The chat's slash commands: each reads its argument, changes the session and returns the one line
 * the view shows. Unknown commands and bad values are notices too, never exceptions: a typo must not
 * end a conversation.
 */
export interface SlashCommand {
  name: string;
  args: string;
  help: string;
}

export const SLASH_COMMANDS: readonly SlashCommand[] = [
  { name: '/help', args: '', help: 'list the commands and keys' },
  { name: '/system', args: 'TEXT', help: 'set the system message (empty clears it)' },
  { name: '/temp', args: 'X', help: 'sampling temperature (0 = greedy)' },
  { name: '/top-p', args: 'X', help: 'nucleus sampling threshold in (0, 1]' },
  { name: '/max-tokens', args: 'N', help: 'longest answer in tokens' },
  { name: '/think', args: 'on|off', help: 'ask the model for a reasoning block' },
  { name: '/mtp', args: 'on|off', help: 'multi-token prediction drafting' },
  { name: '/reset', args: '', help: 'start a new conversation' },
  { name: '/save', args: 'FILE', help: 'append the conversation to a JSONL file (SFT format)' },
  { name: '/load', args: 'FILE', help: 'load the last conversation of a JSONL file' },
  { name: '/model', args: 'M', help: 'switch to another model' },
  { name: '/stats', args: '', help: 'speed and context of the last answer' },
  { name: '/exit', args: '', help: 'leave (also Ctrl-D)' },
];

export const KEY_HELP = 'keys: Enter send · Esc/Ctrl-C stop the answer · Ctrl-T fold reasoning · ↑/↓ history · Tab complete · Ctrl-D leave';

export interface CommandResult {
  /** the line to show (absent: nothing to say) */
  notice?: string;
  /** notice is an error */
  error?: boolean;
  exit?: boolean;
  /** the conversation changed under the view (reset/load): redraw it from session.messages */
  reloaded?: boolean;
}

/**
 * When a command typed during an answer acts: `now` (settings, /stats, /help: they never touch the
 * conversation), `after-answer` (/save, /model: queued like a message, so /save gets the whole turn
 * and /model never frees the model under a running answer), or `discard-answer` (/reset, /load: the
 * answer is stopped and dropped with everything queued, so nothing of it reaches the new conversation).
 */
export type CommandTiming = 'now' | 'after-answer' | 'discard-answer';

export function commandTiming(line: string): CommandTiming {
  const name = line.trim().split(/\s+/, 1)[0]!.toLowerCase();
  if (name === '/reset' || name === '/load') return 'discard-answer';
  if (name === '/save' || name === '/model') return 'after-answer';
  return 'now';
}

/** Commands whose name starts with what was typed (for the hint line and Tab). */
export function completions(typed: string): SlashCommand[] {
  if (!typed.startsWith('/') || typed.includes(' ')) return [];
  return SLASH_COMMANDS.filter((c) => c.name.startsWith(typed));
}

function onOff(value: string): boolean | undefined {
  if (/^(on|true|1|yes)$/i.test(value)) return true;
  if (/^(off|false|0|no)$/i.test(value)) return false;
  return undefined;
}

function number(value: string, lo: number, hi: number, integer = false): number | undefined {
  const n = Number(value);
  if (value === '' || !Number.isFinite(n) || n < lo || n > hi || (integer && !Number.isInteger(n))) return undefined;
  return n;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

export async function runSlashCommand(session: ChatSessionLike, line: string): Promise<CommandResult> {
  const trimmed = line.trim();
  const space = trimmed.indexOf(' ');
  const name = (space < 0 ? trimmed : trimmed.slice(0, space)).toLowerCase();
  const arg = space < 0 ? '' : trimmed.slice(space + 1).trim();
  const bad = (text: string): CommandResult => ({ notice: text, error: true });
  switch (name) {
    case '/help':
      return { notice: [...SLASH_COMMANDS.map((c) => `${c.name}${c.args ? ' ' + c.args : ''} — ${c.help}`), KEY_HELP].join('\n') };
    case '/exit':
    case '/quit':
      return { exit: true };
    case '/system':
      session.setSettings({ system: arg === '' ? undefined : arg });
      return { notice: arg === '' ? 'system message cleared' : `system message set (${arg.length} chars)` };
    case '/temp': {
      const t = number(arg, 0, 100);
      if (t === undefined) return bad(`/temp needs a number in [0, 100], got "${arg}"`);
      session.setSettings({ temperature: t });
      return { notice: `temperature ${t}` };
    }
    case '/top-p': {
      const p = number(arg, 1e-9, 1);
      if (p === undefined) return bad(`/top-p needs a number in (0, 1], got "${arg}"`);
      session.setSettings({ topP: p });
      return { notice: `top-p ${p}` };
    }
    case '/max-tokens': {
      const n = number(arg, 1, 1e9, true);
      if (n === undefined) return bad(`/max-tokens needs a positive integer, got "${arg}"`);
      session.setSettings({ maxTokens: n });
      return { notice: `max tokens ${n}` };
    }
    case '/think': {
      const on = onOff(arg);
      if (on === undefined) return bad('/think needs on or off');
      session.setSettings({ think: on });
      return { notice: `thinking ${on ? 'on' : 'off'}` };
    }
    case '/mtp': {
      const on = onOff(arg);
      if (on === undefined) return bad('/mtp needs on or off');
      if (!on) {
        session.setSettings({ mtp: false });
        return { notice: 'MTP drafting off' };
      }
      const n = session.info.mtpLayers;
      if (n === 0) return { notice: 'this model has no MTP layers: answers use plain decoding', error: true };
      session.setSettings({ mtp: true });
      return { notice: `MTP drafting on with ${n} module${n > 1 ? 's' : ''}` };
    }
    case '/reset':
      session.reset();
      return { notice: 'new conversation', reloaded: true };
    case '/save':
      if (arg === '') return bad('/save needs a file name');
      try {
        const n = session.save(arg);
        return { notice: `saved ${n} messages to ${arg}` };
      } catch (e) {
        return bad(`/save: ${message(e)}`);
      }
    case '/load':
      if (arg === '') return bad('/load needs a file name');
      try {
        const n = session.load(arg);
        return { notice: `loaded ${n} messages from ${arg}`, reloaded: true };
      } catch (e) {
        return bad(`/load: ${message(e)}`);
      }
    case '/model':
      if (arg === '') return { notice: `model ${session.info.model} (context ${session.info.contextLimit} tokens)` };
      try {
        await session.switchModel(arg);
        return { notice: `model ${arg} loaded (context ${session.info.contextLimit} tokens)` };
      } catch (e) {
        return bad(`/model: ${message(e)}`);
      }
    case '/stats': {
      const s = session.lastStats;
      const ctx = `context ${session.contextUsed}/${session.info.contextLimit}`;
      if (!s) return { notice: `no answer yet · ${ctx}` };
      return {
        notice:
          `prompt ${s.prompt_tokens} tok at ${s.prefill_tokens_per_s.toFixed(1)} tok/s · ` +
          `answer ${s.new_tokens} tok at ${s.tokens_per_s.toFixed(1)} tok/s · stop: ${s.stop_reason} · ${ctx}`,
      };
    }
    default:
      return bad(`unknown command ${name} (try /help)`);
  }
}
