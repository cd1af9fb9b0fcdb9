import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodePrompt } from '../../src/data/prompt.js';
import { SpeculativeDecoder } from '../../src/engine/speculative.js';
import { bundledModel } from '../helpers/decode.js';

/**
 * Greedy drafting records each round ahead, before the round before it is read back, on the
 * assumption that that one accepts all its drafts (its tokens then come from the GPU). On the bundled
 * model, whose module is right most of the time, the rounds recorded ahead are the common case and
 * rejections still happen: every round must draft, accept and emit exactly what a decoder that
 * records each round after the read-back does.
 */
const bundled = bundledModel();

describe('greedy drafting, each round recorded ahead', () => {
  for (const text of ['What is 47 * 38?', 'Sort these numbers: 5, 3, 9, 1']) {
    it(`rounds as recorded after each read-back: ${JSON.stringify(text)}`, async () => {
      const { gpu, model, tokenizer } = bundled;
      const prompt = encodePrompt(tokenizer, text, { chat: true });
      const n = 80;
      const ahead = new SpeculativeDecoder(gpu, model, prompt.length + n);
      const after = new SpeculativeDecoder(gpu, model, prompt.length + n, undefined, undefined, { ahead: false });
      try {
        assert.equal(await ahead.prefill(prompt), await after.prefill(prompt));
        let made = 1;
        while (made < n) {
          const [x, y] = [await ahead.step(), await after.step()];
          assert.deepEqual(ahead.lastRound, after.lastRound, `round ${ahead.stats.rounds}`);
          assert.deepEqual(x, y);
          made += x.length;
        }
        const { drafted, accepted } = ahead.stats;
        assert.ok(accepted > 0.6 * drafted, `accepted ${accepted} of ${drafted}: too few rounds were recorded ahead to test them`);
        assert.ok(accepted < drafted, 'no draft was rejected: no round recorded ahead was dropped');
      } finally {
        ahead.dispose();
        after.dispose();
      }
    });
  }
});
