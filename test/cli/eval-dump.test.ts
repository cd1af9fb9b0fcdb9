import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curveSampleCounts, majAtK, passAtK, wilsonInterval } from '../../src/engine/eval-metrics.js';
import { arithmeticTask } from '../../src/tasks/arithmetic.js';
import { runPonder } from '../helpers/cli.js';

/**
 * `ponder eval --dump` on the bundled model with several sampled answers per problem: the dump holds
 * the task's problems and every sample's text, and everything --json reports is recomputed from it
 * here, independently: each answer re-extracted from its text and re-verified, then accuracy, its
 * Wilson interval, pass@k by subset enumeration, maj@k by counting votes, best-of-N and the curve.
 */
let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-eval-dump-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

interface DumpLine {
  index: number;
  prompt: string;
  answer: string;
  samples: { text: string; predicted?: string; correct: boolean; finish: string }[];
}

/** Fraction of j-subsets of the samples holding a correct one (enumerated). */
function subsetPass(flags: boolean[], j: number): number {
  let hits = 0;
  let all = 0;
  const walk = (start: number, left: number, hit: boolean) => {
    if (left === 0) {
      all++;
      if (hit) hits++;
      return;
    }
    for (let i = start; i <= flags.length - left; i++) walk(i + 1, left - 1, hit || flags[i]!);
  };
  walk(0, j, false);
  return hits / all;
}

/** Majority of the first j answers by counting; ties to the earliest; no answer never votes. */
function voteCorrect(line: DumpLine, j: number): number {
  const first = line.samples.slice(0, j);
  const counts = new Map<string, number>();
  for (const s of first) if (s.predicted !== undefined) counts.set(s.predicted, (counts.get(s.predicted) ?? 0) + 1);
  let winner: string | undefined;
  for (const s of first) {
    if (s.predicted === undefined) continue;
    if (winner === undefined || counts.get(s.predicted)! > counts.get(winner)!) winner = s.predicted;
  }
  return winner !== undefined && arithmeticTask.verify({ id: '', prompt: line.prompt, answer: line.answer }, winner) ? 1 : 0;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

describe('ponder eval --dump', () => {
  it('the dump recomputes to every figure of --json', () => {
    const dump = join(root, 'samples.jsonl');
    const K = 4;
    const r = runPonder(['eval', '--n', '4', '--samples', String(K), '--seed', '7', '--think', 'off', '--max-tokens', '40', '--curve', '--json', '--dump', dump]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout.trim());
    const lines: DumpLine[] = readFileSync(dump, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(readdirSync(root), ['samples.jsonl'], 'no temporary file left');

    const problems = arithmeticTask.generate(4, 7);
    assert.deepEqual(lines.map((l) => [l.prompt, l.answer]), problems.map((p) => [p.prompt, p.answer]));
    for (const [i, l] of lines.entries()) {
      assert.equal(l.samples.length, K);
      for (const smp of l.samples) {
        assert.equal(smp.predicted, arithmeticTask.extractAnswer(smp.text));
        assert.equal(smp.correct, arithmeticTask.verify(problems[i]!, smp.predicted));
      }
    }
    const flags = lines.map((l) => l.samples.map((x) => x.correct));
    const accuracy = mean(flags.map((f) => f.filter(Boolean).length / K));
    near(s.accuracy, accuracy, 'accuracy');
    const [lo, hi] = wilsonInterval(accuracy, lines.length);
    near(s.ci95[0], lo, 'ci95 lo');
    near(s.ci95[1], hi, 'ci95 hi');
    near(s.pass_at_k, mean(flags.map((f) => subsetPass(f, K))), 'pass@k');
    near(s.maj_at_k, mean(lines.map((l) => voteCorrect(l, K))), 'maj@k');
    near(s.best_of_n, mean(flags.map((f) => (f.some(Boolean) ? 1 : 0))), 'best-of-N');
    assert.deepEqual(s.curve.map((p: { samples: number }) => p.samples), curveSampleCounts(K));
    for (const p of s.curve) {
      near(p.pass_at_k, mean(flags.map((f) => subsetPass(f, p.samples))), `pass@${p.samples}`);
      near(p.maj_at_k, mean(lines.map((l) => voteCorrect(l, p.samples))), `maj@${p.samples}`);
      // the estimator in src/ agrees with the enumeration too
      near(p.pass_at_k, mean(flags.map((f) => passAtK(K, f.filter(Boolean).length, p.samples))), `pass@${p.samples} (estimator)`);
      near(p.maj_at_k, mean(lines.map((l) => majAtK(l.samples, p.samples))), `maj@${p.samples} (majAtK)`);
    }
  });

});
