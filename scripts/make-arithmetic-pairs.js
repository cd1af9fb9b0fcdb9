#!/usr/bin/env node
/**
 * Writes the preference pairs of recipes/exaone-style.yaml's DPO stage (recipes/data/arithmetic-pairs.jsonl):
 * TRL conversational pairs from ponder's arithmetic task, in the bundled model's chat format.
 *
 *   npm run build && node scripts/make-arithmetic-pairs.js [--n 300] [--seed 13] [--out FILE]
 *
 *   chosen     the gold column working inside <think>...</think>, then "a op b = value."
 *   rejected   the same working up to one step (drawn per pair), whose result is off by 1..3; the
 *              error is carried into the final answer. So the pair shares the prefix before the
 *              wrong step and differs from it on: DPO's signal sits on the step that goes wrong.
 * Deterministic: the same seed writes the same file.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { arithmeticTask, parsePrompt, evaluate } = await import(`${root}/dist/src/tasks/arithmetic.js`);
const { drawU32 } = await import(`${root}/dist/src/sample/rng.js`);

function flag(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const N = Number(flag('--n', '300'));
const SEED = Number(flag('--seed', '13'));
const OUT = resolve(flag('--out', `${root}/recipes/data/arithmetic-pairs.jsonl`));

const problems = arithmeticTask.generate(N, SEED, { digits: 2, ops: ['+', '-'] });
const lines = problems.map((p, i) => {
  const [u0, u1] = drawU32(SEED, i, 0, 0, 0x70616972); // "pair"
  const parsed = parsePrompt(p.prompt);
  const value = evaluate(parsed);
  const steps = arithmeticTask.goldCot(p).split('\n').filter((l) => !l.startsWith('Answer:'));
  const delta = 1 + (u1 % 3);
  // the wrong step: a line with "= number", its number moved by delta
  const claims = steps.map((l, k) => (/= \d+/.test(l) ? k : -1)).filter((k) => k >= 0);
  const k = claims.length > 0 ? claims[u0 % claims.length] : -1;
  const bad = steps.map((l, j) => (j === k ? l.replace(/= (\d+)/, (_, n) => `= ${Number(n) + delta}`) : l));
  const say = (v, working) => `<think>\n${working.join('\n')}\n</think>\n${parsed.a} ${parsed.op} ${parsed.b} = ${v}.`;
  return JSON.stringify({
    prompt: [{ role: 'user', content: p.prompt }],
    chosen: [{ role: 'assistant', content: say(value, steps) }],
    rejected: [{ role: 'assistant', content: say(value + BigInt(delta), bad) }],
  });
});
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(`${OUT}.tmp`, `${lines.join('\n')}\n`);
renameSync(`${OUT}.tmp`, OUT);
console.log(`${OUT}: ${lines.length} pairs`);
