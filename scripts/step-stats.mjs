#!/usr/bin/env node
/**
 * Step-checker statistics of an arithmetic eval dump (`ponder eval --task arithmetic --dump FILE`):
 * the share of working lines that match the gold working (either form: columns or scratchpad), how
 * often the first line is right (the one that must read digits out of the question) and how many
 * workings are right throughout. Used for the working-format experiments in bench/RESULTS.md.
 *
 *   npm run build && node scripts/step-stats.mjs DUMP.jsonl
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { arithmeticTask: task } = await import(`${root}/dist/src/tasks/arithmetic.js`);
const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/step-stats.mjs DUMP.jsonl');
  process.exit(2);
}
const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
let steps = 0;
let correct = 0;
let firstRight = 0;
let allRight = 0;
for (const r of rows) {
  const check = task.checkSteps({ id: String(r.index), prompt: r.prompt, answer: r.answer }, r.samples[0].text);
  steps += check.steps;
  correct += check.correct;
  if (check.firstWrong === undefined || check.firstWrong > 0) firstRight++;
  if (check.firstWrong === undefined && check.steps > 0) allRight++;
}
const pct = (x, n) => `${((100 * x) / Math.max(1, n)).toFixed(1)}%`;
console.log(`${rows.length} problems: ${pct(correct, steps)} of ${steps} working lines right; first line right ${pct(firstRight, rows.length)}; whole working right ${allRight}`);
