import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseModelCard, readModelCard } from '../../src/io/model-card.js';
import { modelsDir } from '../../src/paths.js';

/** What a model is for, read from its card: front matter first, else the first paragraph of prose. */
describe('model card summary', () => {
  it('front matter gives summary and example', () => {
    assert.deepEqual(parseModelCard('---\nsummary: Adds numbers.\nexample: "What is 1 + 2?"\nlicense: mit\n---\n# Title\n\nOther text.\n'), {
      summary: 'Adds numbers.',
      example: 'What is 1 + 2?',
    });
  });

  it('without front matter: the first prose paragraph (headings, lists and code skipped), shortened by whole sentences', () => {
    assert.deepEqual(parseModelCard('# A model\n\n```sh\nrun it\n```\n- a list\n\nIt writes **poems**\nabout cats. Nothing else.\n\nSecond paragraph.\n'), {
      summary: 'It writes poems about cats. Nothing else.',
    });
    const long = parseModelCard('# T\n\n' + 'This sentence is long enough to count. '.repeat(20)).summary!;
    assert.ok(long.length <= 240 && long.endsWith('.'), long);
    assert.deepEqual(parseModelCard('# only a heading\n'), {});
    assert.deepEqual(readModelCard('/nonexistent/dir'), {});
  });

  it('the bundled model says what it is for and gives an example', () => {
    const card = readModelCard(join(modelsDir, 'default'));
    assert.match(card.summary ?? '', /sums/);
    assert.match(card.example ?? '', /^What is \d+ [-+*] \d+\?$/);
  });
});
