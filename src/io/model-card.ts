/**
 * What a model is for, from its card (`README.md` in the model directory), for the chat's first
 * screen and `ponder models`-style listings. A card may open with front matter (as Hugging Face model
 * cards do) naming `summary:` and `example:` (a prompt worth trying); without them the summary is the
 * card's first paragraph of prose (headings, lists, tables and code skipped), shortened to one or two
 * sentences. A model without a card has no summary; nothing here ever fails.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ModelCardSummary {
  summary?: string;
  example?: string;
}

const MAX_SUMMARY_CHARS = 240;

export function readModelCard(dir: string): ModelCardSummary {
  let text: string;
  try {
    text = readFileSync(join(dir, 'README.md'), 'utf8');
  } catch {
    return {};
  }
  return parseModelCard(text);
}

export function parseModelCard(text: string): ModelCardSummary {
  const out: ModelCardSummary = {};
  let body = text.replace(/\r\n?/g, '\n');
  const front = /^---\n([\s\S]*?)\n---\n/.exec(body);
  if (front) {
    body = body.slice(front[0].length);
    for (const line of front[1]!.split('\n')) {
      const m = /^(summary|example):\s*(.*)$/.exec(line);
      if (m && m[2]!.trim() !== '') out[m[1] as keyof ModelCardSummary] = unquote(m[2]!.trim());
    }
  }
  out.summary ??= firstParagraph(body);
  for (const k of Object.keys(out) as (keyof ModelCardSummary)[]) if (out[k] === undefined) delete out[k];
  return out;
}

function unquote(s: string): string {
  return /^(["']).*\1$/.test(s) ? s.slice(1, -1) : s;
}

function firstParagraph(body: string): string | undefined {
  let inCode = false;
  let para: string[] = [];
  for (const line of body.split('\n')) {
    if (/^\s*```/.test(line)) {
      inCode = !inCode;
      continue;
    }
    if (inCode) continue;
    const prose = line.trim() !== '' && !/^\s*(#|[-*+] |\d+[.)] |\||>|<)/.test(line);
    if (prose) para.push(line.trim());
    else if (para.length > 0) break;
  }
  if (para.length === 0) return undefined;
  const text = para.join(' ').replace(/[*_`]/g, '');
  if (text.length <= MAX_SUMMARY_CHARS) return text;
  // whole sentences up to the limit, else a cut with an ellipsis
  const sentences = text.match(/[^.!?]+[.!?]+(\s|$)/g) ?? [];
  let short = '';
  for (const s of sentences) {
    if ((short + s).trim().length > MAX_SUMMARY_CHARS) break;
    short += s;
  }
  return short.trim() !== '' ? short.trim() : text.slice(0, MAX_SUMMARY_CHARS - 1).trimEnd() + '…';
}
