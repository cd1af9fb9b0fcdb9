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
  { name: '/show', args: '', help: 'show every sampling setting' },
  { name: '/set', args: 'NAME VALUE', help: 'change a setting (temperature, top-p, top-k, min-p, max-tokens, seed, think, mtp, system)' },
  { name: '/system', args: 'TEXT', help: 'set the system message (empty clears it)' },
  { name: '/temp', args: '[X]', help: 'sampling temperature (0 = greedy); no value shows it' },
  { name: '/top-p', args: '[X]', help: 'nucleus sampling threshold in (0, 1], or off' },
  { name: '/top-k', args: '[N]', help: 'sample from the N most likely tokens, or off' },
  { name: '/min-p', args: '[X]', help: 'drop tokens under X × the most likely one, or off' },
  { name: '/max-tokens', args: '[N]', help: 'longest answer in tokens, or auto (half the context, at most 512)' },
  { name: '/seed', args: '[N]', help: 'random seed for sampling' },
  { name: '/think', args: '[on|off]', help: 'ask the model for a reasoning block' },
  { name: '/mtp', args: '[on|off|greedy|N]', help: 'multi-token prediction drafting (greedy: only for greedy answers; N: with the first N modules)' },
  { name: '/reset', args: '', help: 'start a new conversation (stops and drops an answer being written)' },
  { name: '/save', args: 'FILE', help: 'append the conversation to a JSONL file (SFT format)' },
  { name: '/load', args: 'FILE', help: 'load the last conversation of a JSONL file' },
  { name: '/model', args: '[M]', help: 'switch to another model' },
  { name: '/stats', args: '', help: 'speed, time to first token and context of the last answer' },
  { name: '/exit', args: '', help: 'leave (also Ctrl-D)' },
];

export const KEY_HELP =
  'keys: Enter send · Ctrl-J new line (a paste stays one message) · Esc/Ctrl-C stop the answer · Ctrl-T fold reasoning · ↑/↓ history · Tab complete · Ctrl-D leave';

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
    case '/show':
      return { notice: SETTINGS.map((p) => `${p.name} ${p.show(session)}`).join('\n') };
    case '/set': {
      const m = /^(\S+)\s*([\s\S]*)$/.exec(arg);
      if (!m) return bad(`/set needs a name and a value: ${SETTINGS.map((p) => p.name).join(', ')}`);
      const p = findSetting(m[1]!);
      if (!p) return bad(`/set: unknown setting "${m[1]}" (one of ${SETTINGS.map((q) => q.name).join(', ')})`);
      return setSetting(session, p, m[2]!.trim(), true);
    }
    case '/system':
      return setSetting(session, findSetting('system')!, arg, false);
    case '/temp':
    case '/top-p':
    case '/top-k':
    case '/min-p':
    case '/max-tokens':
    case '/seed':
    case '/think':
    case '/mtp': {
      const p = findSetting(name.slice(1))!;
      if (arg === '') return { notice: `${p.name} ${p.show(session)}` };
      return setSetting(session, p, arg, false);
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
      const ttft = session.lastTimeToFirstTokenMs;
      return {
        notice:
          `prompt ${s.prompt_tokens} tok at ${s.prefill_tokens_per_s.toFixed(1)} tok/s · ` +
          (ttft !== undefined ? `first token after ${Math.round(ttft)} ms · ` : '') +
          `answer ${s.new_tokens} tok at ${s.tokens_per_s.toFixed(1)} tok/s · stop: ${s.stop_reason} · ${ctx}`,
      };
    }
    default:
      return bad(`unknown command ${name} (try /help)`);
  }
}

/**
 * The settings /set, /show and the per-setting commands (/temp, /top-p, ...) act on: how each shows
 * its value and how a typed value is read. Optional samplers take `off`; max-tokens takes `auto`.
 */
interface Setting {
  name: string;
  aliases: string[];
  show(session: ChatSessionLike): string;
  /** applies `value`, or returns the complaint (without the command's name) */
  set(session: ChatSessionLike, value: string): string | { notice: string };
}

const OFF = /^(off|none|default)$/i;

function optionalNumber(key: 'topP' | 'topK' | 'minP', name: string, lo: number, hi: number, integer: boolean, what: string): Setting {
  return {
    name,
    aliases: [],
    show: (s) => (s.settings[key] === undefined ? 'off' : String(s.settings[key])),
    set: (s, v) => {
      if (OFF.test(v)) {
        s.setSettings({ [key]: undefined });
        return { notice: `${name} off` };
      }
      const n = number(v, lo, hi, integer);
      if (n === undefined) return `needs ${what} or off, got "${v}"`;
      s.setSettings({ [key]: n });
      return { notice: `${name} ${n}` };
    },
  };
}

const SETTINGS: readonly Setting[] = [
  {
    name: 'temperature',
    aliases: ['temp', 't'],
    show: (s) => String(s.settings.temperature) + (s.settings.temperature === 0 ? ' (greedy)' : ''),
    set: (s, v) => {
      const t = number(v, 0, 100);
      if (t === undefined) return `needs a number in [0, 100], got "${v}"`;
      s.setSettings({ temperature: t });
      return { notice: `temperature ${t}` };
    },
  },
  optionalNumber('topP', 'top-p', 1e-9, 1, false, 'a number in (0, 1]'),
  optionalNumber('topK', 'top-k', 1, 1e9, true, 'a positive integer'),
  optionalNumber('minP', 'min-p', 0, 0.999999, false, 'a number in [0, 1)'),
  {
    name: 'max-tokens',
    aliases: ['n'],
    show: (s) => `${s.maxTokens}${s.settings.maxTokens === undefined ? ' (auto: half the context, at most 512)' : ''}`,
    set: (s, v) => {
      if (/^(auto|default)$/i.test(v)) {
        s.setSettings({ maxTokens: undefined });
        return { notice: `max tokens auto (${s.maxTokens})` };
      }
      const n = number(v, 1, 1e9, true);
      if (n === undefined) return `needs a positive integer or auto, got "${v}"`;
      s.setSettings({ maxTokens: n });
      const cap = n > s.info.contextLimit ? ` (an answer still ends at the context's end, ${s.info.contextLimit} tokens)` : '';
      return { notice: `max tokens ${n}${cap}` };
    },
  },
  {
    name: 'seed',
    aliases: [],
    show: (s) => String(s.settings.seed),
    set: (s, v) => {
      const n = number(v, 0, Number.MAX_SAFE_INTEGER, true);
      if (n === undefined) return `needs a non-negative integer, got "${v}"`;
      s.setSettings({ seed: n });
      return { notice: `seed ${n}` };
    },
  },
  {
    name: 'think',
    aliases: ['thinking'],
    show: (s) => (s.settings.think ? 'on' : 'off'),
    set: (s, v) => {
      const on = onOff(v);
      if (on === undefined) return 'needs on or off';
      s.setSettings({ think: on });
      return { notice: `thinking ${on ? 'on' : 'off'}` };
    },
  },
  {
    name: 'mtp',
    aliases: [],
    show: (s) => {
      const n = s.info.mtpLayers;
      if (n === 0) return 'off (the model has no MTP layers)';
      const m = s.settings.mtp;
      const modules = `${n} module${n > 1 ? 's' : ''}`;
      if (m === 'greedy') return `greedy (${modules}: drafts when the temperature is 0)`;
      return m === false ? `off (${modules})` : m === true || m >= n ? `on (${modules})` : `on (the first ${m} of ${n} modules)`;
    },
    set: (s, v) => {
      // on, off, greedy (the default: drafting for greedy answers only), or N: the first N modules, as --mtp N
      if (v.trim() === 'greedy') {
        if (s.info.mtpLayers === 0) return 'this model has no MTP layers: answers use plain decoding';
        s.setSettings({ mtp: 'greedy' });
        return { notice: 'MTP drafting for greedy answers (temperature 0); sampled ones decode plainly' };
      }
      const count = /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
      const on = count !== undefined ? count > 0 : onOff(v);
      if (on === undefined) return 'needs on, off, greedy or a number of modules';
      if (!on) {
        s.setSettings({ mtp: false });
        return { notice: 'MTP drafting off' };
      }
      const n = s.info.mtpLayers;
      if (n === 0) return 'this model has no MTP layers: answers use plain decoding';
      if (count !== undefined && count > n) return `the model has ${n} MTP module${n > 1 ? 's' : ''}`;
      const used = count ?? n;
      s.setSettings({ mtp: count === undefined || count === n ? true : count });
      return { notice: `MTP drafting on with ${used === n ? '' : 'the first '}${used} module${used > 1 ? 's' : ''}${used === n ? '' : ` of ${n}`}` };
    },
  },
  {
    name: 'system',
    aliases: [],
    show: (s) => (s.settings.system === undefined ? '(none)' : JSON.stringify(s.settings.system)),
    set: (s, v) => {
      s.setSettings({ system: v === '' ? undefined : v });
      return { notice: v === '' ? 'system message cleared' : `system message set (${v.length} chars)` };
    },
  },
];

function findSetting(name: string): Setting | undefined {
  const n = name.toLowerCase().replace(/_/g, '-');
  return SETTINGS.find((p) => p.name === n || p.aliases.includes(n) || p.name.replace('-', '') === n);
}

function setSetting(session: ChatSessionLike, p: Setting, value: string, viaSet: boolean): CommandResult {
  const r = p.set(session, value);
  if (typeof r !== 'string') return r;
  // the error names the command the user typed: "/temp needs ..." or "/set temperature needs ..."
  const cmd = viaSet ? `/set ${p.name}` : `/${p.name === 'temperature' ? 'temp' : p.name}`;
  return { notice: /^needs/.test(r) ? `${cmd} ${r}` : r, error: true };
}
