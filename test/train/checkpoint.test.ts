import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { PonderError, type ErrorCode } from '../../src/errors.js';
import {
  CHECKPOINT_FORMAT,
  checkpointsDir,
  listCheckpoints,
  loadLatestCheckpoint,
  readCheckpoint,
  writeCheckpoint,
  type Checkpoint,
  type CheckpointTensor,
} from '../../src/train/checkpoint.js';
import { rng as makeRng, testSeed } from '../helpers/random.js';

let root = '';
let counter = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-ckpt-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});
function fresh(): string {
  const d = join(root, String(counter++));
  mkdirSync(d);
  return d;
}

function throwsPonder(fn: () => unknown, code: ErrorCode, ...parts: string[]): PonderError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PonderError, `expected a PonderError, got ${err instanceof Error ? err.stack : String(err)}`);
  assert.equal(err.code, code, `code of: ${err.message}`);
  assert.ok(!err.message.includes('\n'), `message is one line: ${err.message}`);
  for (const p of parts) assert.ok(err.message.includes(p), `"${err.message}" should mention "${p}"`);
  return err;
}

const seed = testSeed;
const rand = makeRng(seed);

/** Random floats including awkward bit patterns (NaN payloads, -0, subnormals, ±Inf). */
function floats(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() - 0.5) * 10;
  const u = new Uint32Array(a.buffer);
  const special = [0x80000000, 0x00000001, 0x7f800000, 0xff800000, 0x7fc00001, 0x007fffff];
  for (let i = 0; i < Math.min(n, special.length); i++) u[i] = special[i]!;
  return a;
}

function tensor(name: string, shape: number[]): CheckpointTensor {
  return { name, shape, data: floats(shape.reduce((a, b) => a * b, 1)) };
}

function sample(step: number): Checkpoint {
  const tensors = [tensor('model.embed_tokens.weight', [7, 3]), tensor('model.norm.weight', [3]), tensor('model.layers.0.mlp.down_proj.weight', [3, 33]), tensor('empty', [0, 5])];
  return {
    config: { architectures: ['Qwen2ForCausalLM'], hidden_size: 3, rope_theta: 1000000.5, tie_word_embeddings: true, ponder: { tokenizer: 'bytes' } },
    tensors,
    optimizer: { m: tensors.map((t) => tensor(t.name, t.shape)), v: tensors.map((t) => tensor(t.name, t.shape)), step },
    rng: [0xdeadbeef, 12345, 2 ** 40 + 3, -7, 0.25],
    data_cursor: { file: 'data/train.jsonl', offset: 123456789012, epoch: 2, order: [3, 1, 2], done: false, note: null },
    stage: 1,
    step,
    recipe_hash: 'ab'.repeat(32),
  };
}

function bitsEqual(a: Float32Array | Uint32Array, b: Float32Array | Uint32Array, what: string): void {
  assert.equal(a.constructor, b.constructor, `${what}: array type`);
  assert.equal(a.length, b.length, `${what}: length`);
  assert.deepEqual(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length), `${what}: bits`);
}

function assertSame(got: Checkpoint, want: Checkpoint): void {
  assert.deepEqual(got.config, want.config);
  assert.deepEqual(got.rng, want.rng);
  assert.deepEqual(got.data_cursor, want.data_cursor);
  assert.equal(got.stage, want.stage);
  assert.equal(got.step, want.step);
  assert.equal(got.recipe_hash, want.recipe_hash);
  assert.equal(got.optimizer.step, want.optimizer.step);
  for (const [g, w, what] of [[got.tensors, want.tensors, 'tensors'], [got.optimizer.m, want.optimizer.m, 'm'], [got.optimizer.v, want.optimizer.v, 'v']] as const) {
    assert.equal(g.length, w.length, what);
    g.forEach((t, i) => {
      assert.equal(t.name, w[i]!.name);
      assert.deepEqual(t.shape, w[i]!.shape);
      bitsEqual(t.data, w[i]!.data, `${what} ${t.name}`);
    });
  }
}

describe(`checkpoints (seed ${seed})`, () => {
  it('round-trips exactly: floats bit-identical, u32 tensors, JSON fields', () => {
    const run = fresh();
    const ck = sample(123);
    ck.tensors.push({ name: 'counters', shape: [4], data: new Uint32Array([0, 1, 0xffffffff, 0x80000000]) });
    const path = writeCheckpoint(run, ck);
    assert.equal(path, join(checkpointsDir(run), 'step-000123.ckpt'));
    assert.deepEqual(readdirSync(checkpointsDir(run)), ['step-000123.ckpt']);
    const { ckpt, warnings } = loadLatestCheckpoint(run);
    assert.deepEqual(warnings, []);
    assertSame(ckpt, ck);
    assert.match(ckpt.created_at!, /^\d{4}-\d\d-\d\dT/);
    assert.ok(ckpt.tensors[0]!.data instanceof Float32Array);
    assert.ok(ckpt.tensors.at(-1)!.data instanceof Uint32Array);
  });

  it('is plain msgpack that another library reads, checksum last', () => {
    const run = fresh();
    const path = writeCheckpoint(run, sample(5));
    const raw = unpack(readFileSync(path)) as Record<string, unknown>;
    assert.equal(raw.format, CHECKPOINT_FORMAT);
    assert.equal(raw.version, 1);
    assert.equal(raw.step, 5);
    assert.deepEqual(Object.keys(raw).at(-1), 'checksum');
    assert.match(raw.checksum as string, /^[0-9a-f]{64}$/);
    const t = (raw.tensors as { name: string; data: Uint8Array }[])[1]!;
    assert.equal(t.name, 'model.norm.weight');
    assert.equal(t.data.length, 12);
  });

  it('names files with six-digit steps and lists them by step', () => {
    const run = fresh();
    assert.deepEqual(listCheckpoints(run), []);
    writeCheckpoint(run, sample(999999));
    writeCheckpoint(run, sample(1234567));
    assert.deepEqual(listCheckpoints(run).map((c) => c.step), [999999, 1234567]);
    assert.ok(existsSync(join(checkpointsDir(run), 'step-1234567.ckpt')));
  });

  it('keeps the two most recent, deleting older ones only after the new one is in place', () => {
    const run = fresh();
    for (const s of [10, 20]) writeCheckpoint(run, sample(s));
    assert.deepEqual(listCheckpoints(run).map((c) => c.step), [10, 20]);
    writeCheckpoint(run, sample(30));
    assert.deepEqual(listCheckpoints(run).map((c) => c.step), [20, 30]);
    writeCheckpoint(run, sample(40));
    assert.deepEqual(readdirSync(checkpointsDir(run)).sort(), ['step-000030.ckpt', 'step-000040.ckpt']);
    // A failed save (bad input) leaves the existing checkpoints untouched.
    const broken = sample(50);
    broken.tensors[0]!.shape = [99];
    throwsPonder(() => writeCheckpoint(run, broken), 'SHAPE', 'model.embed_tokens.weight', '[99]');
    assert.deepEqual(listCheckpoints(run).map((c) => c.step), [30, 40]);
    assert.deepEqual(readdirSync(checkpointsDir(run)).sort(), ['step-000030.ckpt', 'step-000040.ckpt']);
  });

  it('after a resume from an older checkpoint, a new save drops the stale later ones', () => {
    const run = fresh();
    for (const s of [10, 20]) writeCheckpoint(run, sample(s));
    writeCheckpoint(run, sample(15));
    assert.deepEqual(listCheckpoints(run).map((c) => c.step), [10, 15]);
  });

  it('ignores and cleans a leftover .tmp from an interrupted save', () => {
    const run = fresh();
    writeCheckpoint(run, sample(10));
    const tmp = join(checkpointsDir(run), 'step-000020.ckpt.tmp');
    writeFileSync(tmp, readFileSync(join(checkpointsDir(run), 'step-000010.ckpt')).subarray(0, 100));
    assert.deepEqual(listCheckpoints(run).map((c) => c.step), [10]);
    const { ckpt, warnings } = loadLatestCheckpoint(run);
    assert.equal(ckpt.step, 10);
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]!.includes('step-000020.ckpt.tmp'), warnings[0]);
    assert.ok(!existsSync(tmp));
    // writeCheckpoint cleans them too.
    writeFileSync(tmp, 'partial');
    writeCheckpoint(run, sample(11));
    assert.ok(!existsSync(tmp));
  });

  it('falls back to the previous checkpoint when the newest is truncated', () => {
    const run = fresh();
    writeCheckpoint(run, sample(10));
    const want = sample(20);
    writeCheckpoint(run, want);
    const newest = join(checkpointsDir(run), 'step-000020.ckpt');
    // Newest truncated (e.g. disk full mid-copy); the previous one is intact.
    writeCheckpoint(run, sample(30));
    const p30 = join(checkpointsDir(run), 'step-000030.ckpt');
    for (const keep of [statSync(p30).size - 1, Math.floor(statSync(p30).size / 2), 40, 0]) {
      truncateSync(p30, keep);
      const { ckpt, warnings } = loadLatestCheckpoint(run);
      assert.equal(ckpt.step, 20);
      assertSame(ckpt, want);
      assert.equal(warnings.length, 1);
      assert.ok(!warnings[0]!.includes('\n'));
      assert.ok(warnings[0]!.includes(p30) && warnings[0]!.includes(newest), warnings[0]);
      throwsPonder(() => readCheckpoint(p30), 'BAD_INPUT', p30);
    }
  });

  it('a flipped byte anywhere fails the checksum and falls back', () => {
    const run = fresh();
    const want = sample(1);
    writeCheckpoint(run, want);
    const p2 = writeCheckpoint(run, sample(2));
    const good = readFileSync(p2);
    // In the header, in tensor data, in the last payload byte, in the stored checksum.
    for (const at of [3, Math.floor(good.length / 2), good.length - 76, good.length - 1]) {
      const b = Buffer.from(good);
      b[at] ^= 0x10;
      writeFileSync(p2, b);
      const err = throwsPonder(() => readCheckpoint(p2), 'BAD_INPUT', p2);
      assert.ok(/checksum|corrupt|truncated/.test(err.message), err.message);
      const { ckpt, warnings } = loadLatestCheckpoint(run);
      assertSame(ckpt, want);
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]!.includes(p2));
    }
  });

  it('none valid -> one-line BAD_INPUT; none at all -> NOT_FOUND', () => {
    const run = fresh();
    throwsPonder(() => loadLatestCheckpoint(run), 'NOT_FOUND', 'no checkpoints');
    const a = writeCheckpoint(run, sample(1));
    const b = writeCheckpoint(run, sample(2));
    truncateSync(a, 10);
    writeFileSync(b, 'not msgpack at all, just some text that is long enough to have a tail of 75 bytes .........');
    throwsPonder(() => loadLatestCheckpoint(run), 'BAD_INPUT', 'no valid checkpoint', b);
  });

  it('rejects files that are valid msgpack with a valid checksum but the wrong structure', async () => {
    const { createHash } = await import('node:crypto');
    const { pack } = await import('msgpackr');
    const run = fresh();
    const dir = checkpointsDir(run);
    mkdirSync(dir, { recursive: true });
    // Builds {...fields, checksum} with a correct checksum over the bytes before the checksum key.
    const forge = (fields: Record<string, unknown>): Buffer => {
      const n = Object.keys(fields).length + 1;
      const body = Buffer.concat([Buffer.from([0x80 | n]), ...Object.entries(fields).flatMap(([k, v]) => [pack(k), pack(v)])]);
      const digest = createHash('sha256').update(body).digest('hex');
      return Buffer.concat([body, Buffer.from([0xa8]), Buffer.from('checksum'), Buffer.from([0xd9, 64]), Buffer.from(digest)]);
    };
    const base = () => ({ format: CHECKPOINT_FORMAT, version: 1, config: {}, tensors: [] as unknown[], optimizer: { m: [], v: [], step: 0 }, rng: [], data_cursor: null, stage: 0, step: 0, recipe_hash: 'x', created_at: 'now' });
    const file = join(dir, 'step-000001.ckpt');
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base(), format: 'ponder-weights' }, 'not a ponder checkpoint'],
      [{ ...base(), version: 2 }, 'unsupported checkpoint version 2'],
      [{ ...base(), tensors: [{ name: 'w', dtype: 'f32', shape: [1000000, 1000000], data: Buffer.alloc(8) }] }, 'needs 4000000000000 bytes but its data has 8'],
      [{ ...base(), tensors: [{ name: 'w', dtype: 'f64', shape: [1], data: Buffer.alloc(8) }] }, 'unsupported dtype'],
      [{ ...base(), tensors: [{ name: 'w', dtype: 'f32', shape: [2], data: Buffer.alloc(8) }], optimizer: { m: [{ name: 'w', dtype: 'f32', shape: [1], data: Buffer.alloc(4) }], v: [{ name: 'w', dtype: 'f32', shape: [1], data: Buffer.alloc(4) }], step: 0 } }, 'optimizer.m tensor "w" has shape [1] but the parameter has [2]'],
      [{ ...base(), step: -1 }, 'step must be a non-negative integer'],
      [{ ...base(), data_cursor: Buffer.alloc(3) }, 'data_cursor holds binary data'],
    ];
    for (const [fields, msg] of cases) {
      writeFileSync(file, forge(fields));
      throwsPonder(() => readCheckpoint(file), 'BAD_INPUT', file, msg);
    }
    throwsPonder(() => readCheckpoint(join(dir, 'nope.ckpt')), 'NOT_FOUND', 'nope.ckpt');
  });

  it('refuses bad inputs to writeCheckpoint with one-line errors', () => {
    const run = fresh();
    const c1 = sample(1);
    c1.optimizer.m = c1.optimizer.m.slice(1);
    throwsPonder(() => writeCheckpoint(run, c1), 'BAD_INPUT', 'optimizer.m has 3 tensors but optimizer.v has 4');
    const c2 = sample(1);
    c2.optimizer.v[0] = tensor('nope', [2]);
    throwsPonder(() => writeCheckpoint(run, c2), 'BAD_INPUT', '"nope"', 'not a parameter');
    const c3 = sample(1);
    c3.step = 1.5;
    throwsPonder(() => writeCheckpoint(run, c3), 'BAD_INPUT', 'step');
    const c4 = sample(1);
    c4.data_cursor = { big: 1n } as never;
    throwsPonder(() => writeCheckpoint(run, c4), 'BAD_INPUT', 'data_cursor is not JSON-serializable');
    assert.deepEqual(listCheckpoints(run), []);
  });
});
