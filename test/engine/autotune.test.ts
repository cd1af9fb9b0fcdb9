import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { autotune, type AutotuneEvent } from '../../src/engine/bench/autotune.js';
import { attentionTuning, setAttentionTuning } from '../../src/ops/attention.js';
import { chooseMatmulKernel } from '../../src/ops/matmul.js';
import { pickMatmulConfig, setMatmulConfig } from '../../src/ops/matmul-configs.js';
import { lookupTuneEntry } from '../../src/ops/tune-cache.js';
import { testGpu } from '../helpers/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'ponder-autotune-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('autotune measures two candidates per part on tiny shapes, installs and saves the picks', async () => {
  const gpu = await testGpu();
  const path = join(dir, 'tune.json');
  const tiles = (RG: number) => ({ RM: 2, RG, TPR: 8, BK: 16, SHAREKV: false });
  const events: AutotuneEvent[] = [];
  for await (const ev of autotune(gpu, {
    mainShapes: [{ M: 24, N: 20, K: 12, transB: true }],
    smallShapes: [{ M: 1, N: 20, K: 12, transB: true }],
    prefillShapes: [{ B: 1, T: 6, past: 0, Hq: 2, Hkv: 1, D: 16 }],
    decodeShapes: [{ B: 1, T: 1, past: 9, Hq: 2, Hkv: 1, D: 16 }],
    matmulCandidates: [
      { name: 'tiled 4x4', part: 'main', patch: { kernel: 'tiled', tiled: { tx: 4, ty: 4, bk: 8 } } },
      { name: 'tiled 8x8', part: 'main', patch: { kernel: 'tiled', tiled: { tx: 8, ty: 8, bk: 8 } } },
      { name: 'gemv', part: 'smallM', patch: { smallMKernel: 'gemv' } },
      { name: 'same', part: 'smallM', patch: { smallMKernel: 'same' } },
    ],
    attentionCandidates: [
      { name: 'rg2', part: 'prefill', tuning: { prefill: { '16': tiles(2) } } },
      { name: 'rg4', part: 'prefill', tuning: { prefill: { '16': tiles(4) } } },
      { name: 'ks1', part: 'decode', tuning: { decodeKeySplit: { '16': 1 } } },
      { name: 'ks2', part: 'decode', tuning: { decodeKeySplit: { '16': 2 } } },
    ],
    rounds: 1,
    sampleMs: 1,
    save: path,
  })) {
    events.push(ev);
  }
  try {
    const candidates = events.filter((e) => e.type === 'candidate');
    assert.equal(candidates.length, 8);
    for (const c of candidates) {
      assert.equal(c.error, undefined, `${c.candidate}: ${c.error}`);
      assert.ok(c.score !== null && c.score >= 1, `${c.candidate} score ${c.score}`);
      assert.ok(c.ms.every((m) => m !== null && m > 0));
    }
    const picked = new Map(events.flatMap((e) => (e.type === 'picked' ? [[e.part, e.candidate] as const] : [])));
    assert.deepEqual([...picked.keys()], ['matmul main', 'matmul smallM', 'attention prefill', 'attention decode']);
    for (const [part, name] of picked) {
      const best = candidates.filter((c) => c.part === part).reduce((a, b) => (a.score! <= b.score! ? a : b));
      assert.equal(name, best.candidate, `${part} picks its lowest score`);
    }

    // the picks are installed: matmul now chooses the picked kernels
    const cfg = pickMatmulConfig(gpu);
    assert.deepEqual(cfg.tiled, picked.get('matmul main') === 'tiled 4x4' ? { tx: 4, ty: 4, bk: 8 } : { tx: 8, ty: 8, bk: 8 });
    const small = chooseMatmulKernel(cfg, { batch: 1, M: 1, N: 20, K: 12, transA: false, transB: true });
    assert.equal(small, picked.get('matmul smallM') === 'gemv' ? 'gemv' : 'tiled');
    assert.equal(attentionTuning(gpu).prefill?.['16']?.RG, picked.get('attention prefill') === 'rg2' ? 2 : 4);

    // and saved for this adapter
    const saved = events.find((e) => e.type === 'saved');
    assert.equal(saved?.type === 'saved' && saved.path, path);
    const entry = lookupTuneEntry(gpu.info, path).entry;
    assert.ok(entry, 'the saved entry is found for this adapter');
    assert.deepEqual(entry.matmul?.tiled, cfg.tiled);
  } finally {
    setMatmulConfig(gpu, undefined);
    setAttentionTuning(gpu, undefined);
  }
});
