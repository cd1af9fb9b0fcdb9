/**
 * Pure text helpers for the chat views: what may reach the terminal (no control characters, no
 * escape sequences from model output or pasted text), where the reasoning block is, and a light
 * markdown reading (fenced code, lists, headings, **bold**, `code`) good enough for a chat answer.
 */

// CSI / OSC / other ESC sequences first (so their parameters do not survive as text), then the C0/C1
// controls themselves. Newlines stay; tabs become spaces (their width is the terminal's business).
const ESCAPE_SEQUENCE = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[@-_])/g;
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function sanitize(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, '').replace(/\r\n?/g, '\n').replace(/\t/g, '  ').replace(CONTROL, '');
}

export interface ReasoningSplit {
  /** text inside <think>...</think> (undefined when there is none) */
  reasoning?: string;
  /** true while the reasoning block is still open (the model is thinking) */
  thinking: boolean;
  /** the text outside the reasoning block */
  answer: string;
}

/** Splits an assistant message into its reasoning block and its answer. */
export function splitReasoning(text: string): ReasoningSplit {
  const open = text.indexOf('<think>');
  if (open < 0) {
    // a template may open the block in the prompt: text that has only </think> starts inside it
    const close = text.indexOf('</think>');
    if (close < 0) return { thinking: false, answer: text };
    return { reasoning: text.slice(0, close).trim(), thinking: false, answer: (text.slice(close + 8)).replace(/^\s+/, '') };
  }
  const before = text.slice(0, open);
  const rest = text.slice(open + 7);
  const close = rest.indexOf('</think>');
  if (close < 0) return { reasoning: rest.trim(), thinking: true, answer: before.trim() };
  return { reasoning: rest.slice(0, close).trim(), thinking: false, answer: (before + rest.slice(close + 8)).replace(/^\s+/, '') };
}

export type MarkdownBlock =
  | { kind: 'paragraph'; text: string }
  | { kind: 'heading'; text: string }
  | { kind: 'item'; marker: string; indent: number; text: string }
  | { kind: 'code'; lang: string; lines: string[] }
  | { kind: 'blank' };

/** Line-based markdown: fenced code blocks (an unclosed fence runs to the end, as while streaming), list items, headings. */
export function parseMarkdown(text: string): MarkdownBlock[] {
  const blocks: MarkdownBlock[] = [];
  let code: { kind: 'code'; lang: string; lines: string[] } | undefined;
  for (const line of text.split('\n')) {
    const fence = /^\s*```\s*([\w+-]*)/.exec(line);
    if (code) {
      if (fence && line.trim() === '```') code = undefined;
      else code.lines.push(line);
      continue;
    }
    if (fence) {
      code = { kind: 'code', lang: fence[1] ?? '', lines: [] };
      blocks.push(code);
      continue;
    }
    const bullet = /^(\s*)[-*+]\s+(.*)$/.exec(line);
    const numbered = /^(\s*)(\d+[.)])\s+(.*)$/.exec(line);
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (bullet) blocks.push({ kind: 'item', marker: '•', indent: bullet[1]!.length, text: bullet[2]! });
    else if (numbered) blocks.push({ kind: 'item', marker: numbered[2]!, indent: numbered[1]!.length, text: numbered[3]! });
    else if (heading) blocks.push({ kind: 'heading', text: heading[1]! });
    else if (line.trim() === '') blocks.push({ kind: 'blank' });
    else blocks.push({ kind: 'paragraph', text: line });
  }
  return blocks;
}

export type InlineSpan = { kind: 'text' | 'bold' | 'code'; text: string };

/** **bold** and `code` spans; an unclosed marker stays literal text. */
export function parseInline(text: string): InlineSpan[] {
  const spans: InlineSpan[] = [];
  const re = /\*\*([^*]+)\*\*|`([^`]+)`/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) spans.push({ kind: 'text', text: text.slice(last, m.index) });
    spans.push(m[1] !== undefined ? { kind: 'bold', text: m[1] } : { kind: 'code', text: m[2]! });
    last = m.index + m[0].length;
  }
  if (last < text.length) spans.push({ kind: 'text', text: text.slice(last) });
  return spans;
}
