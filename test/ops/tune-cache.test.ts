import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AdapterDescription } from '../../src/gpu/device.js';
import { defaultMatmulConfig, pickMatmulConfig, resetPickedMatmulConfig } from '../../src/ops/matmul-configs.js';
import { attentionTuning, resetAttentionTuning } from '../../src/ops/attention.js';
import {
  adapterKey,
  forgetTunedEntry,
  kernelSourceHash,
  lookupTuneEntry,
  saveTuneEntry,
  setTuneCacheWarningSink,
  tuneCachePath,
  type TuneEntry,
} from '../../src/ops/tune-cache.js';
import { testGpu } from '../helpers/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'ponder-tune-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const adapterA: AdapterDescription = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe A', backend: 'vulkan', software: true };
const adapterB: AdapterDescription = { ...adapterA, description: 'some GPU', software: false };

function entry(info: AdapterDescription, matmul: Record<string, unknown>, hash = kernelSourceHash()): TuneEntry {
  return { adapter: adapterKey(info), kernelHash: hash, tunedAt: '2025-01-01T00:00:00.000Z', matmul };
}

/** Runs `fn` with the tune cache enabled at `path` (the suite runs with PONDER_NO_TUNE_CACHE=1) and warnings captured. */
async function withCache<T>(path: string, fn: (warnings: string[]) => Promise<T> | T): Promise<T> {
  const saved = { dir: process.env.PONDER_CACHE_DIR, off: process.env.PONDER_NO_TUNE_CACHE };
  process.env.PONDER_CACHE_DIR = path;
  delete process.env.PONDER_NO_TUNE_CACHE;
  const warnings: string[] = [];
  const prev = setTuneCacheWarningSink((l) => warnings.push(l));
  const gpu = await testGpu();
  // a device that never ran any work can crash Dawn at process teardown on lavapipe: run a round trip
  await gpu.read(gpu.upload(new Float32Array([1]), [1]));
  const reset = () => (forgetTunedEntry(gpu), resetPickedMatmulConfig(gpu), resetAttentionTuning(gpu));
  reset();
  try {
    return await fn(warnings);
  } finally {
    setTuneCacheWarningSink(prev);
    if (saved.dir === undefined) delete process.env.PONDER_CACHE_DIR;
    else process.env.PONDER_CACHE_DIR = saved.dir;
    if (saved.off !== undefined) process.env.PONDER_NO_TUNE_CACHE = saved.off;
    reset();
  }
}

describe('tune cache', () => {
  it('lives under PONDER_CACHE_DIR, else XDG_CACHE_HOME/ponder, else ~/.cache/ponder', () => {
    assert.equal(tuneCachePath({ PONDER_CACHE_DIR: '/x', XDG_CACHE_HOME: '/y' }), '/x/tune.json');
    assert.equal(tuneCachePath({ XDG_CACHE_HOME: '/y' }), '/y/ponder/tune.json');
    assert.match(tuneCachePath({}), /\.cache\/ponder\/tune\.json$/);
  });

  it('round-trips entries keyed by adapter, replacing an adapter’s old entry, with no temp file left', () => {
    const path = join(dir, 'rt', 'tune.json');
    saveTuneEntry(entry(adapterA, { smallM: 4 }), path);
    saveTuneEntry(entry(adapterB, { smallM: 2 }), path);
    saveTuneEntry(entry(adapterA, { smallM: 6 }), path);
    const a = lookupTuneEntry(adapterA, path);
    const b = lookupTuneEntry(adapterB, path);
    assert.deepEqual(a.entry?.matmul, { smallM: 6 });
    assert.deepEqual(b.entry?.matmul, { smallM: 2 });
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).entries.length, 2);
    assert.deepEqual(lookupTuneEntry({ ...adapterA, backend: 'd3d12' }, path), {}, 'another backend is another key');
    assert.deepEqual(readdirSync(join(dir, 'rt')), ['tune.json']);
  });

  it('ignores a corrupt or foreign file with a reason, and a save replaces it', () => {
    const path = join(dir, 'corrupt.json');
    writeFileSync(path, '{"version": 1, "entr');
    assert.match(lookupTuneEntry(adapterA, path).warning ?? '', /corrupt\.json.*not valid JSON/);
    writeFileSync(path, JSON.stringify({ version: 99, entries: [] }));
    assert.match(lookupTuneEntry(adapterA, path).warning ?? '', /not a version 1 tune cache/);
    writeFileSync(path, JSON.stringify({ version: 1, entries: [{ adapter: 'x' }] }));
    assert.match(lookupTuneEntry(adapterA, path).warning ?? '', /adapter/);
    saveTuneEntry(entry(adapterA, { smallM: 4 }), path);
    assert.deepEqual(lookupTuneEntry(adapterA, path).entry?.matmul, { smallM: 4 });
    assert.deepEqual(lookupTuneEntry(adapterA, join(dir, 'missing.json')), {}, 'a missing file is silent');
  });

  it('a FIFO or a directory at the cache path is ignored with one warning, never read (no hang)', () => {
    const fifo = join(dir, 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    assert.match(lookupTuneEntry(adapterA, fifo).warning ?? '', /fifo\.json.*not a regular file/);
    assert.match(lookupTuneEntry(adapterA, dir).warning ?? '', /not a regular file/);
  });

  it('ignores an entry tuned for other kernel sources', () => {
    const path = join(dir, 'stale.json');
    saveTuneEntry(entry(adapterA, { smallM: 4 }, '0000000000000000'), path);
    const r = lookupTuneEntry(adapterA, path);
    assert.equal(r.entry, undefined);
    assert.match(r.warning ?? '', /kernels changed.*ponder bench --tune/);
  });

  it('is applied to matmul and attention on a Gpu of that adapter', async () => {
    const gpu = await testGpu();
    const cacheDir = join(dir, 'applied');
    const tiles = { RM: 2, RG: 4, TPR: 16, BK: 32, SHAREKV: false };
    saveTuneEntry({ ...entry(gpu.info, { smallM: 3, tiled: { tx: 4, ty: 4, bk: 8 } }), attention: { prefill: { '64': tiles }, decodeKeySplit: { '64': 2 } } }, join(cacheDir, 'tune.json'));
    await withCache(cacheDir, (warnings) => {
      const cfg = pickMatmulConfig(gpu);
      assert.equal(cfg.smallM, 3);
      assert.deepEqual(cfg.tiled, { tx: 4, ty: 4, bk: 8 });
      assert.deepEqual(attentionTuning(gpu), { prefill: { '64': tiles }, decodeKeySplit: { '64': 2 } });
      assert.deepEqual(warnings, []);
    });
    assert.deepEqual(pickMatmulConfig(gpu), defaultMatmulConfig(gpu), 'PONDER_NO_TUNE_CACHE=1 (the suite) ignores it');
  });

  it('falls back to the defaults with one warning for a corrupt file or a config the device rejects', async () => {
    const gpu = await testGpu();
    const corrupt = join(dir, 'bad1');
    saveTuneEntry(entry(gpu.info, {}), join(corrupt, 'tune.json'));
    writeFileSync(join(corrupt, 'tune.json'), 'not json at all');
    await withCache(corrupt, (warnings) => {
      assert.deepEqual(pickMatmulConfig(gpu), defaultMatmulConfig(gpu));
      assert.deepEqual(attentionTuning(gpu), {});
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0], /ignoring the tune cache .*tune\.json: not valid JSON/);
    });
    const rejected = join(dir, 'bad2');
    saveTuneEntry({ ...entry(gpu.info, { subgroup: { rows: 96 }, kernel: 'nope' }), attention: { decodeKeySplit: { '64': 1e6 } } }, join(rejected, 'tune.json'));
    await withCache(rejected, (warnings) => {
      assert.deepEqual(pickMatmulConfig(gpu), defaultMatmulConfig(gpu));
      assert.deepEqual(attentionTuning(gpu), {});
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(warnings[0], /ignoring the tuned matmul config: matmul config: kernel must be/);
      assert.match(warnings[1], /ignoring the tuned attention settings: decode key split/);
    });
  });
});
