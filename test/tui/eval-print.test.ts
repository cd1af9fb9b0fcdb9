import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CurvePoint } from '../../src/engine/eval-metrics.js';
import type { TaskEvalSummary } from '../../src/engine/evaluate.js';
import { formatCurveChart, formatCurveTable, formatEvalSummary, headline } from '../../src/tui/eval-print.js';

/**
 * `ponder eval`'s printers: the summary's lines and headline, the curve as a table and as braille
 * charts (a rising curve starts at the bottom left and ends at the top right; labels give the range).
 */
const curve: CurvePoint[] = [
  { samples: 1, pass_at_k: 0.25, maj_at_k: 0.25 },
  { samples: 2, pass_at_k: 0.5, maj_at_k: 0.3 },
  { samples: 4, pass_at_k: 0.75, maj_at_k: 0.4 },
];

const summary: TaskEvalSummary = {
  task: 'arithmetic',
  n: 20,
  samples: 4,
  temperature: 1,
  accuracy: 0.25,
  ci95: [0.1, 0.5],
  pass_at_k: 0.75,
  maj_at_k: 0.4,
  best_of_n: 0.75,
  curve,
};

const BLANK = '\u2800';

describe('eval printers', () => {
  it('the summary: a header with the headline, then accuracy, pass@k, maj@k, best-of-N', () => {
    const lines = formatEvalSummary(summary, 'best', 'seed 3');
    assert.equal(lines[0], 'arithmetic (seed 3): 20 problems, 4 samples at temperature 1; best-of-4 75.0% (--vote best)');
    assert.equal(lines[1], 'accuracy   avg@4 25.0%  95% CI [10.0%, 50.0%]');
    assert.equal(lines[2], 'pass@4     75.0%');
    assert.match(lines[3]!, /^maj@4 {6}40\.0% {2}95% CI \[/);
    assert.match(lines[4]!, /^best-of-4 {2}75\.0% {2}95% CI \[.*pass@4 by the plug-in rule/);
    assert.equal(lines.length, 5);
    assert.equal(headline(summary, 'majority').value, 0.4);
    assert.equal(headline(summary, 'best').name, 'best-of-4');
  });

  it('the curve as a table', () => {
    assert.deepEqual(formatCurveTable(curve), ['samples  pass@j  maj@j', '      1   25.0%  25.0%', '      2   50.0%  30.0%', '      4   75.0%  40.0%']);
  });

  it('the curve as braille charts: pass@j, then maj@j, each rising from bottom left to top right', () => {
    const width = 20;
    const lines = formatCurveChart(curve, width, 3);
    assert.equal(lines.length, 2 * (1 + 3 + 1));
    for (const [at, name, top, bottom] of [
      [0, 'pass@j', '75.0%', '25.0%'],
      [5, 'maj@j', '40.0%', '25.0%'],
    ] as const) {
      assert.equal(lines[at], name);
      const rows = lines.slice(at + 1, at + 4);
      assert.ok(rows[0]!.startsWith(top) && rows[2]!.startsWith(bottom), rows.join('\n'));
      const cells = rows.map((r) => [...r.slice(6)]);
      for (const c of cells) assert.equal(c.length, width);
      assert.notEqual(cells[2]![0], BLANK, 'bottom left set');
      assert.notEqual(cells[0]![width - 1], BLANK, 'top right set');
      assert.equal(cells[0]![0], BLANK, 'top left empty');
      assert.equal(cells[2]![width - 1], BLANK, 'bottom right empty');
      assert.match(lines[at + 4]!, /^ {6}1 +2 +4 {2}samples$/);
    }
  });
});
