#!/usr/bin/env node
/**
 * How much of an eval's score comes from problems the model was trained on: splits a `ponder eval
 * --dump` file's greedy accuracy by whether each problem (its two operands and operation, however
 * phrased) appears as a user turn in the given chat JSONL training files. For arithmetic evals, whose
 * small levels have few distinct problems (1- and 2-digit + and -: ~20,000), so that a fresh seed
 * still repeats some training problems.
 *
 *   node scripts/eval-overlap.mjs DUMP.jsonl TRAIN.jsonl [TRAIN.jsonl ...]
 */
import { readFileSync } from 'node:fs';

const [dump, ...train] = process.argv.slice(2);
if (!dump || train.length === 0) {
  console.error('usage: node scripts/eval-overlap.mjs DUMP.jsonl TRAIN.jsonl [TRAIN.jsonl ...]');
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
const rows = lines(dump).map((l) => JSON.parse(l));
const accuracy = (rs) => (rs.length ? rs.filter((r) => r.samples[0].correct).length / rs.length : NaN);
const seen = rows.filter((r) => seenInTraining.has(problemKey(r.prompt)));
const unseen = rows.filter((r) => !seenInTraining.has(problemKey(r.prompt)));
const f = (x) => x.toFixed(3);
console.log(`${dump}: all ${rows.length} ${f(accuracy(rows))} | in training ${seen.length} ${f(accuracy(seen))} | not in training ${unseen.length} ${f(accuracy(unseen))}`);
