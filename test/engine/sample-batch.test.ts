import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BYTE_VOCAB_SIZE, ByteTokenizer } from '../../src/data/byte-tokenizer.js';
import { generate } from '../../src/engine/generate.js';
import { rowStream, sampleBatch, type BatchCompletion, type BatchSampleOptions } from '../../src/engine/sample-batch.js';
import { PonderError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { Transformer } from '../../src/model/transformer.js';
import { setMatmulConfig } from '../../src/ops/matmul.js';
import type { SamplingOptions } from '../../src/sample/sampler.js';
import { testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';
import { tinyModelConfig, tinyModelWeights } from '../reference/transformer.js';

/**
 * sampleBatch against the one-sequence path and against itself: the tokens of sample j of a prompt
 * depend only on (seed, the prompt's stream, j), never on what else is in the batch, the waves, or
 * maxRows; greedy equals generate; budgets, stop ids, the context end and abort end rows with the
 * right reason. A tiny random qwen2 over the byte tokenizer; its embedding is scaled down so the
 * next-token distributions are broad (different seeds really draw different tokens).
 */
const tok = new ByteTokenizer();
const config = tinyModelConfig('qwen2', { vocab_size: BYTE_VOCAB_SIZE, max_position_embeddings: 48 });

async function tinyModel(): Promise<{ gpu: Gpu; model: Transformer }> {
  const gpu = await testGpu();
  const w = tinyModelWeights(config, testSeed);
  const e = w.get('model.embed_tokens.weight')!;
  e.data = e.data.map((x) => x * 0.15);
  return { gpu, model: Transformer.load(gpu, config, w) };
}

/** Prompts of different lengths (three by default), ids outside the stop tokens. */
function prompts(seed = testSeed, lengths = [3, 8, 5]): number[][] {
  const r = rng(seed);
  return lengths.map((n) => Array.from(randomInts(n, r, 256)));
}

/** Completions keyed by (stream, sample), for comparing runs that lay the prompts out differently. */
function byStream(out: BatchCompletion[], streams: number[]): Map<string, { ids: number[]; finish: string }> {
  return new Map(out.map((c) => [`${streams[c.prompt]}/${c.sample}`, { ids: c.ids, finish: c.finish }]));
}

const modes: SamplingOptions[] = [{ temperature: 1 }, { temperature: 0.9, topK: 40, topP: 0.95 }];

describe('sampleBatch', () => {
  for (const mode of modes) {
    it(`the same tokens all at once, prompt by prompt, in waves and in another order: ${JSON.stringify(mode)}`, async () => {
      const { gpu, model } = await tinyModel();
      // one matmul kernel for every row count: the small-M kernel (up to smallM rows) sums in another
      // order than the tiled one, and a top-k or top-p boundary between two nearly equal logits of
      // these broad distributions then falls differently (sampleBatch's header: the floating-point
      // caveat). The draws' independence of the batch is what this test is about.
      setMatmulConfig(gpu, { smallMKernel: 'same' });
      try {
        // the 43-token prompt reaches the context end (48) after 5 tokens, the others run 7: in waves,
        // rows that entered at different steps decode side by side
        const ps = prompts(testSeed, [3, 43, 8, 5]);
        const base: BatchSampleOptions = { ...mode, seed: testSeed % 2 ** 31, samples: 3, maxTokens: 7 };
        const streams = [5, 11, 2, 0];
        const all = await sampleBatch(gpu, model, tok, ps, { ...base, streams });
        assert.deepEqual(
          all.map((c) => [c.prompt, c.sample]),
          ps.flatMap((_, p) => [0, 1, 2].map((j) => [p, j])),
          'ordered by (prompt, sample)',
        );
        const want = byStream(all, streams);
        // the samples of a prompt are different draws (7 tokens from broad distributions)
        assert.ok(new Set(all.map((c) => c.ids.join(','))).size > 6, `the 12 rows drew near-identical tokens: ${all.map((c) => c.ids.join(',')).join(' | ')}`);
        assert.deepEqual(all.slice(3, 6).map((c) => c.finish === 'stop' || (c.finish === 'context' && c.ids.length === 5)), [true, true, true]);

        const alone: BatchCompletion[] = [];
        for (const [p, ids] of ps.entries()) {
          for (const c of await sampleBatch(gpu, model, tok, [ids], { ...base, streams: [streams[p]!] })) alone.push({ ...c, prompt: p });
        }
        assert.deepEqual(byStream(alone, streams), want, 'each prompt alone');

        // 2 slots for 12 rows: rows enter as others finish, rows of different token indices share steps
        assert.deepEqual(byStream(await sampleBatch(gpu, model, tok, ps, { ...base, streams, maxRows: 2 }), streams), want, 'maxRows 2');
        assert.deepEqual(byStream(await sampleBatch(gpu, model, tok, ps, { ...base, streams, maxRows: 4 }), streams), want, 'maxRows 4');

        const order = [2, 0, 3, 1];
        const reordered = await sampleBatch(gpu, model, tok, order.map((p) => ps[p]!), { ...base, streams: order.map((p) => streams[p]!) });
        assert.deepEqual(byStream(reordered, order.map((p) => streams[p]!)), want, 'prompts in another order');

        // sample j of a stream does not depend on k
        const k5 = await sampleBatch(gpu, model, tok, ps, { ...base, streams, samples: 5 });
        for (const [key, c] of want) assert.deepEqual(byStream(k5, streams).get(key), c, `k = 5, ${key}`);
      } finally {
        setMatmulConfig(gpu, undefined);
        model.dispose();
      }
    });
  }

  it('greedy: every sample is what generate decodes greedily, text included', async () => {
    const { gpu, model } = await tinyModel();
    const ps = prompts(testSeed + 1);
    const out = await sampleBatch(gpu, model, tok, ps, { temperature: 0, samples: 2, maxTokens: 9 });
    for (const [p, ids] of ps.entries()) {
      let done: { ids: number[]; text: string; stop: string } | undefined;
      for await (const ev of generate(gpu, model, tok, ids, { temperature: 0, maxTokens: 9 })) if (ev.type === 'done') done = { ids: ev.ids, text: ev.text, stop: ev.stats.stop_reason };
      for (const j of [0, 1]) {
        const c = out[p * 2 + j]!;
        assert.deepEqual(c.ids, done!.ids, `prompt ${p} sample ${j}`);
        assert.equal(c.text, done!.text);
        assert.equal(c.finish, done!.stop);
      }
    }
    model.dispose();
  });

  it('sample 0 of stream 0 draws what generate draws with the same seed', async () => {
    const { gpu, model } = await tinyModel();
    const [p] = prompts(testSeed + 2);
    const seed = (testSeed + 7) % 2 ** 31;
    const [c] = await sampleBatch(gpu, model, tok, [p!], { temperature: 1, seed, samples: 1, maxTokens: 8 });
    let ids: number[] = [];
    for await (const ev of generate(gpu, model, tok, p!, { temperature: 1, seed, maxTokens: 8 })) if (ev.type === 'done') ids = ev.ids;
    assert.deepEqual(c!.ids, ids);
    assert.equal(rowStream(0, 0), 0);
    assert.equal(rowStream(3, 2), 3 + 2 * 2 ** 22);
    model.dispose();
  });

  it('stop ids end a row before the stop token; budgets and the context end give their reasons', async () => {
    const { gpu, model } = await tinyModel();
    const ps = prompts(testSeed + 3);
    const opts: BatchSampleOptions = { temperature: 1, seed: 3, samples: 3, maxTokens: 8 };
    const free = await sampleBatch(gpu, model, tok, ps, opts);
    // the stop id: a token some row draws as its 3rd; every row must end just before its first one
    const stopId = free[1]!.ids[2]!;
    const stopped = await sampleBatch(gpu, model, tok, ps, { ...opts, stopIds: [stopId] });
    free.forEach((c, i) => {
      const at = c.ids.indexOf(stopId);
      const s = stopped[i]!;
      if (at >= 0) assert.deepEqual([s.ids, s.finish], [c.ids.slice(0, at), 'stop'], `row ${i}`);
      else assert.deepEqual([s.ids, s.finish], [c.ids, c.finish], `row ${i}`);
    });
    // row 1 ends before its first stopId: at index 2, or earlier where it drew the same token before
    assert.equal(stopped[1]!.ids.length, free[1]!.ids.indexOf(stopId));
    // budgets: maxTokens rows end by length (unless an EOS came first)
    for (const c of free) {
      if (c.finish === 'length') assert.equal(c.ids.length, 8);
      else assert.equal(c.finish, 'stop');
    }
    // the context end: 48 positions, a 44-token prompt has room for 4 tokens
    const long = Array.from(randomInts(44, rng(testSeed + 4), 256));
    const near = await sampleBatch(gpu, model, tok, [long, ps[0]!], { temperature: 0, samples: 2, maxTokens: 8 });
    for (const c of near.slice(0, 2)) {
      if (c.finish !== 'stop') assert.deepEqual([c.ids.length, c.finish], [4, 'context']);
    }
    for (const c of near.slice(2)) if (c.finish !== 'stop') assert.deepEqual([c.ids.length, c.finish], [8, 'length']);
    model.dispose();
  });

  it('a seed repeats its tokens, another seed draws others; k = 1 works', async () => {
    const { gpu, model } = await tinyModel();
    const ps = prompts(testSeed + 5);
    const opts: BatchSampleOptions = { temperature: 1, seed: 11, samples: 1, maxTokens: 8 };
    const a = await sampleBatch(gpu, model, tok, ps, opts);
    assert.equal(a.length, 3);
    assert.deepEqual(await sampleBatch(gpu, model, tok, ps, opts), a);
    const b = await sampleBatch(gpu, model, tok, ps, { ...opts, seed: 12 });
    assert.notDeepEqual(b.map((c) => c.ids), a.map((c) => c.ids));
    model.dispose();
  });

  it('abort ends the unfinished rows with "aborted", pending ones with no tokens', async () => {
    const { gpu, model } = await tinyModel();
    const ps = prompts(testSeed + 6);
    const ac = new AbortController();
    const progress: number[][] = [];
    const out = await sampleBatch(gpu, model, tok, ps, {
      temperature: 1, samples: 2, maxTokens: 8, maxRows: 2, signal: ac.signal,
      onProgress: (done, total) => {
        progress.push([done, total]);
        ac.abort();
      },
    });
    assert.deepEqual(progress, [[out.filter((c) => c.finish !== 'aborted').length, 6]]);
    // one step ran: the first two rows have their first token (unless it was a stop id), the rest none
    for (const c of out.slice(0, 2)) assert.ok(c.finish === 'aborted' ? c.ids.length === 1 : c.finish === 'stop' && c.ids.length === 0);
    for (const c of out.slice(2)) assert.deepEqual([c.ids, c.finish], [[], 'aborted']);
    model.dispose();
  });

  it('progress counts finished rows up to the total', async () => {
    const { gpu, model } = await tinyModel();
    const seen: number[] = [];
    await sampleBatch(gpu, model, tok, prompts(testSeed + 7), { temperature: 0, samples: 2, maxTokens: 3, maxRows: 4, onProgress: (d, t) => (assert.equal(t, 6), seen.push(d)) });
    assert.equal(seen.at(-1), 6);
    assert.ok(seen.every((d, i) => i === 0 || d >= seen[i - 1]!));
    model.dispose();
  });

  it('rejects bad requests with one line naming the problem', async () => {
    const { gpu, model } = await tinyModel();
    const bad = (ps: number[][], o: Partial<BatchSampleOptions>, re: RegExp) =>
      assert.rejects(sampleBatch(gpu, model, tok, ps, { samples: 1, maxTokens: 4, ...o }), (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message));
    await bad([[1], []], {}, /prompt 1 is empty/);
    await bad([new Array(48).fill(1)], {}, /prompt 0 is 48 tokens; this model's context is 48/);
    await bad([[1, 999]], {}, /prompt 0 has token id 999/);
    await bad([[1]], { samples: 0 }, /samples must be an integer in 1\.\.1024/);
    await bad([[1]], { maxTokens: 0 }, /max tokens must be a positive integer/);
    await bad([[1]], { streams: [2 ** 22] }, /stream 4194304 of prompt 0/);
    await bad([[1], [2]], { streams: [0] }, /1 streams for 2 prompts/);
    await bad([[1]], { maxRows: 0 }, /maxRows must be a positive integer/);
    await bad([[1]], { topP: 2 }, /topP/);
    assert.deepEqual(await sampleBatch(gpu, model, tok, [], { samples: 2, maxTokens: 3 }), []);
    model.dispose();
  });
});
