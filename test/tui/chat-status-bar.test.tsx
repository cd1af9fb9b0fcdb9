import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import { DEFAULT_CHAT_SETTINGS } from '../../src/engine/chat.js';
import { StatusBar } from '../../src/tui/chat/status-bar.js';

/** The chat status bar's MTP part: shown only for a model with MTP layers, with the last answer's acceptance. */
afterEach(() => cleanup());

const info = { model: 'default', adapter: 'fake adapter', contextLimit: 384 };

describe('chat status bar: MTP drafting', () => {
  it('says on/off for a model with MTP layers, with the last answer\'s acceptance; nothing for a model without', () => {
    const bar = (mtpLayers: number, mtp: boolean | 'greedy', mtpAcceptance?: number, temperature = 0.7) =>
      render(<StatusBar info={{ ...info, mtpLayers }} settings={{ ...DEFAULT_CHAT_SETTINGS, mtp, temperature }} contextUsed={0} mtpAcceptance={mtpAcceptance} generating={false} queued={0} />).lastFrame()!;
    assert.match(bar(1, true, 0.884), /mtp on \(88% accepted\)/);
    assert.match(bar(1, true), /mtp on(?! \()/);
    assert.match(bar(1, false, 0.9), /mtp off(?! \()/);
    assert.doesNotMatch(bar(0, true, 0.9), /mtp/);
    // 'greedy' (the default) drafts only at temperature 0
    assert.match(bar(1, 'greedy', 0.9, 0), /mtp on \(90% accepted\)/);
    assert.match(bar(1, 'greedy', 0.9, 0.7), /mtp off(?! \()/);
  });
});
