#!/usr/bin/env node
/**
 * How much of an eval's score comes from problems the model was trained on: splits a `ponder eval
 * --dump` file's greedy accuracy by whether each problem (its two operands and operation, however
 * phrased) appears as a user turn in the given chat JSONL training files. For arithmetic evals, whose
 * small levels have few distinct problems (1- and 2-digit + and -: ~20,000), so that a fresh seed
 * still repeats some training problems.
 *
 *   node scripts/eval-overlap.mjs DUMP.jsonl TRAIN.jsonl [TRAIN.jsonl ...] [--task-problems N:SEED ...]
 *
 * `--task-problems N:SEED` counts the N arithmetic-task problems (default level) drawn with SEED as
 * training problems too: an RL stage's (GRPO draws with recipe seed + 500,009 + stage index, the
 * rollout stages with recipe seed + 2,000,029 + stage index). Those need `npm run build` first.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const taskDraws = [];
for (let i = args.indexOf('--task-problems'); i >= 0; i = args.indexOf('--task-problems')) {
  const [n, seed] = (args[i + 1] ?? '').split(':').map(Number);
  if (!Number.isInteger(n) || !Number.isInteger(seed)) {
    console.error('--task-problems takes N:SEED, e.g. 2000:500029');
    process.exit(2);
  }
  taskDraws.push({ n, seed });
  args.splice(i, 2);
}
const [dump, ...train] = args;
if (!dump || (train.length === 0 && taskDraws.length === 0)) {
  console.error('usage: node scripts/eval-overlap.mjs DUMP.jsonl TRAIN.jsonl [TRAIN.jsonl ...] [--task-problems N:SEED ...]');
  process.exit(2);
}
const WORD_OPS = { plus: '+', minus: '-', times: '*', x: '*' };
/** "a op b" of the first sum in a text ("What's 12 minus 5?" -> "12-5"), or undefined. */
function problemKey(text) {
  const m = /(\d+)\s*(plus|minus|times|x|[+\-*])\s*(\d+)/.exec(text);
  return m ? `${m[1]}${WORD_OPS[m[2]] ?? m[2]}${m[3]}` : undefined;
}
const lines = (file) => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
const seenInTraining = new Set();
for (const file of train) {
  for (const line of lines(file)) {
    for (const m of JSON.parse(line).messages ?? []) if (m.role === 'user') seenInTraining.add(problemKey(m.content));
  }
}
if (taskDraws.length > 0) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const { arithmeticTask } = await import(`${root}/dist/src/tasks/arithmetic.js`);
  for (const { n, seed } of taskDraws) for (const p of arithmeticTask.generate(n, seed, {})) seenInTraining.add(problemKey(p.prompt));
}
const rows = lines(dump).map((l) => JSON.parse(l));
const accuracy = (rs) => (rs.length ? rs.filter((r) => r.samples[0].correct).length / rs.length : NaN);
const seen = rows.filter((r) => seenInTraining.has(problemKey(r.prompt)));
const unseen = rows.filter((r) => !seenInTraining.has(problemKey(r.prompt)));
const f = (x) => x.toFixed(3);
console.log(`${dump}: all ${rows.length} ${f(accuracy(rows))} | in training ${seen.length} ${f(accuracy(seen))} | not in training ${unseen.length} ${f(accuracy(unseen))}`);
