import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  bestOfNLogprob,
  bestOfNVerifier,
  curveSampleCounts,
  majAtK,
  majorityVote,
  meanAccuracy,
  meanMajAtK,
  meanPassAtK,
  passAtK,
  scalingCurve,
  wilsonInterval,
  type ScoredSample,
} from '../../src/engine/eval-metrics.js';
import { PonderError } from '../../src/errors.js';
import { rng, testSeed } from '../helpers/random.js';

/**
 * The evaluation figures against brute force: pass@k against the fraction of k-subsets (enumerated)
 * holding a correct sample; maj@k against a plain vote count over the first k answers (ties and
 * samples without an answer included); the Wilson interval against values worked out by hand.
 */
const seedNote = `PONDER_TEST_SEED=${testSeed}`;

/** Every k-subset of {0..n-1}, as index arrays. */
function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const pick = (start: number, chosen: number[]) => {
    if (chosen.length === k) return void out.push([...chosen]);
    for (let i = start; i < n; i++) pick(i + 1, [...chosen, i]);
  };
  pick(0, []);
  return out;
}

/** Shuffled n samples of which c are correct. */
function correctness(n: number, c: number, rand: () => number): boolean[] {
  const flags = Array.from({ length: n }, (_, i) => i < c);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [flags[i], flags[j]] = [flags[j]!, flags[i]!];
  }
  return flags;
}

/** The majority answer's verdict by counting: the most votes, ties to the smallest first index. */
function bruteMaj(answers: (string | undefined)[], correct: boolean[], k: number): number {
  let best: { count: number; first: number } | undefined;
  for (let i = 0; i < k; i++) {
    const a = answers[i];
    if (a === undefined) continue;
    let count = 0;
    let first = -1;
    for (let j = 0; j < k; j++) {
      if (answers[j] !== a) continue;
      count++;
      if (first < 0) first = j;
    }
    if (!best || count > best.count || (count === best.count && first < best.first)) best = { count, first };
  }
  return best !== undefined && correct[best.first] ? 1 : 0;
}

const samplesOf = (answers: (string | undefined)[], gold: string): ScoredSample[] => answers.map((predicted) => ({ predicted, correct: predicted === gold }));

describe('pass@k (unbiased)', () => {
  it('equals the fraction of k-subsets holding a correct sample, for random (n, c, k)', () => {
    const rand = rng(testSeed);
    for (let t = 0; t < 200; t++) {
      const n = 1 + Math.floor(rand() * 12);
      const c = Math.floor(rand() * (n + 1));
      const k = 1 + Math.floor(rand() * n);
      const flags = correctness(n, c, rand);
      const all = subsets(n, k);
      const hits = all.filter((s) => s.some((i) => flags[i])).length;
      const got = passAtK(n, c, k);
      assert.ok(Math.abs(got - hits / all.length) < 1e-12, `n ${n} c ${c} k ${k}: ${got} vs ${hits}/${all.length} (${seedNote})`);
    }
  });

  it('is 1 when fewer than k samples are wrong, c/n at k = 1, and the mean over problems', () => {
    assert.equal(passAtK(5, 3, 3), 1);
    assert.equal(passAtK(5, 0, 5), 0);
    assert.ok(Math.abs(passAtK(7, 3, 1) - 3 / 7) < 1e-15);
    const problems = [samplesOf(['1', '2', '2', '3'], '2'), samplesOf(['1', '1', '1', '1'], '2')];
    assert.ok(Math.abs(meanPassAtK(problems, 2) - (passAtK(4, 2, 2) + 0) / 2) < 1e-15);
    assert.ok(Math.abs(meanAccuracy(problems) - (2 / 4 + 0) / 2) < 1e-15);
  });

  it('stays accurate for large n (product form, no overflowing binomials)', () => {
    // C(1000-1, 10)/C(1000, 10) = 990/1000 exactly
    assert.ok(Math.abs(passAtK(1000, 1, 10) - 0.01) < 1e-12);
  });

  it('rejects k > n and counts out of range', () => {
    assert.throws(() => passAtK(3, 1, 4), PonderError);
    assert.throws(() => passAtK(3, 4, 1), PonderError);
    assert.throws(() => passAtK(0, 0, 1), PonderError);
  });
});

describe('maj@k (self-consistency)', () => {
  it('equals a brute-force vote count over the first k answers, ties and missing answers included', () => {
    const rand = rng(testSeed ^ 0x5a5a);
    const alphabet = ['1', '2', '3', undefined];
    for (let t = 0; t < 500; t++) {
      const n = 1 + Math.floor(rand() * 9);
      const answers = Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]);
      const samples = samplesOf(answers, '2');
      for (let k = 1; k <= n; k++) {
        assert.equal(majAtK(samples, k), bruteMaj(answers, samples.map((s) => s.correct), k), `${JSON.stringify(answers)} k ${k} (${seedNote})`);
      }
    }
  });

  it('breaks ties by the earliest first occurrence; answerless samples never vote', () => {
    assert.equal(majAtK(samplesOf(['3', '2', '2', '3'], '2')), 0, 'tie 2:2, "3" came first');
    assert.equal(majAtK(samplesOf(['2', '3', '3', '2'], '2')), 1, 'tie 2:2, "2" came first');
    assert.equal(majAtK(samplesOf([undefined, undefined, '2'], '2')), 1, 'one vote beats two abstentions');
    assert.equal(majAtK(samplesOf([undefined, undefined], '2')), 0, 'no answer at all is wrong');
    assert.deepEqual(majorityVote(samplesOf(['4', '5', '5', '4', '4'], '4')), { answer: '4', first: 0 });
    assert.equal(majAtK(samplesOf(['1', '2', '2'], '2'), 1), 0, 'maj@1 reads the first sample only');
    assert.equal(meanMajAtK([samplesOf(['2'], '2'), samplesOf(['1'], '2')], 1), 0.5);
  });
});

describe('best-of-N', () => {
  it('with the verifier: any correct among the first N, which is pass@n at N = n', () => {
    const rand = rng(testSeed ^ 0x1234);
    for (let t = 0; t < 100; t++) {
      const n = 1 + Math.floor(rand() * 8);
      const flags = correctness(n, Math.floor(rand() * (n + 1)), rand);
      const samples = flags.map((correct) => ({ correct }));
      for (let N = 1; N <= n; N++) assert.equal(bestOfNVerifier(samples, N), flags.slice(0, N).some(Boolean) ? 1 : 0, seedNote);
      assert.equal(bestOfNVerifier(samples), passAtK(n, flags.filter(Boolean).length, n));
    }
  });

  it("by the model's mean log-prob: the most likely sample's verdict, ties to the earliest", () => {
    const s: ScoredSample[] = [
      { correct: false, meanLogprob: -1.5 },
      { correct: true, meanLogprob: -0.5 },
      { correct: false, meanLogprob: -0.5 },
      { correct: false },
    ];
    assert.equal(bestOfNLogprob(s), 1);
    assert.equal(bestOfNLogprob(s, 1), 0);
    assert.equal(bestOfNLogprob([{ correct: true }]), undefined);
  });
});

describe('Wilson 95% interval', () => {
  // worked by hand with z = 1.96, z² = 3.8416: p̂ = 0 → [0, z²/(n+z²)], p̂ = 1 → [n/(n+z²), 1],
  // p̂ = 1/2 → 1/2 ± z / (2·√(n+z²))
  const close = (got: [number, number], want: [number, number]) =>
    assert.ok(Math.abs(got[0] - want[0]) < 1e-8 && Math.abs(got[1] - want[1]) < 1e-8, `${got} vs ${want}`);
  it('p̂ = 0 and p̂ = 1 over 10 problems', () => {
    close(wilsonInterval(0, 10), [0, 3.8416 / 13.8416]);
    close(wilsonInterval(0, 10), [0, 0.27754017]);
    close(wilsonInterval(1, 10), [10 / 13.8416, 1]);
  });
  it('p̂ = 0.5 over 400 problems is 50% ± 4.88 pp', () => {
    close(wilsonInterval(0.5, 400), [0.5 - 0.04876638, 0.5 + 0.04876638]);
  });
  it('no problems: [0, 1]; a proportion outside [0, 1] is an error', () => {
    assert.deepEqual(wilsonInterval(0, 0), [0, 1]);
    assert.throws(() => wilsonInterval(1.5, 10), PonderError);
  });
});

describe('the test-time-scaling curve', () => {
  it('samples 1, 2, 4, … below k, then k', () => {
    assert.deepEqual(curveSampleCounts(1), [1]);
    assert.deepEqual(curveSampleCounts(8), [1, 2, 4, 8]);
    assert.deepEqual(curveSampleCounts(6), [1, 2, 4, 6]);
  });
  it('each point is maj@j over the first j samples and pass@j over all of them', () => {
    const problems = [samplesOf(['1', '2', '2', '2', '3', '2'], '2'), samplesOf([undefined, '7', '7', '2', '2', '2'], '2')];
    const curve = scalingCurve(problems, 6);
    assert.deepEqual(curve.map((p) => p.samples), [1, 2, 4, 6]);
    for (const p of curve) {
      assert.equal(p.maj_at_k, (bruteMaj(problems[0]!.map((s) => s.predicted), problems[0]!.map((s) => s.correct), p.samples) + bruteMaj(problems[1]!.map((s) => s.predicted), problems[1]!.map((s) => s.correct), p.samples)) / 2);
      assert.ok(Math.abs(p.pass_at_k - (passAtK(6, 4, p.samples) + passAtK(6, 3, p.samples)) / 2) < 1e-15);
    }
  });
});
