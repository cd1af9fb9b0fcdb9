import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonderError } from '../../src/errors.js';
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32FromBits,
  f32ToBf16Array,
  f32ToBf16Bits,
  f32ToF16Array,
  f32ToF16Bits,
} from '../../src/io/bf16.js';
import {
  openSafetensorsModel,
  readSafetensorsHeader,
  readSafetensorsIndex,
  readTensorF32,
  writeSafetensors,
  type TensorToWrite,
} from '../../src/io/safetensors.js';
import { rng } from '../helpers/random.js';

let root = '';
let counter = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ponder-safetensors-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A fresh path (or directory) under the test's temp dir. */
function fresh(name = 'x.safetensors'): string {
  const d = join(root, String(counter++));
  mkdirSync(d);
  return join(d, name);
}

/** Writes a raw safetensors file: u64 length (or the given one), the header text, then `data` bytes. */
function rawFile(header: unknown, dataBytes: number, opts: { headerLen?: bigint; path?: string } = {}): string {
  const path = opts.path ?? fresh();
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(opts.headerLen ?? BigInt(text.length));
  writeFileSync(path, Buffer.concat([prefix, text, Buffer.alloc(dataBytes)]));
  return path;
}

function throwsPonder(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PonderError, `expected a PonderError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), `message should be one line: ${e.message}`);
    return true;
  });
}

function randomValues(n: number, scale = 4): Float32Array {
  const r = rng(1234);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

function readAll(path: string): Map<string, Float32Array> {
  const h = readSafetensorsHeader(path);
  return new Map(h.tensors.map((t) => [t.name, readTensorF32(t)]));
}

describe('half-precision conversions', () => {
  it('F16 → f32 → F16 is the identity on all 65536 bit patterns (NaNs stay NaN)', () => {
    for (let h = 0; h < 65536; h++) {
      const x = f16BitsToF32(h);
      if (Number.isNaN(x)) assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(x))), `nan ${h}`);
      else assert.equal(f32ToF16Bits(x), h, `f16 bits 0x${h.toString(16)}`);
    }
  });

  it('BF16 → f32 is bits << 16 and round-trips all 65536 bit patterns', () => {
    for (let h = 0; h < 65536; h++) {
      const x = bf16BitsToF32(h);
      assert.ok(Object.is(x, f32FromBits(h << 16)) || (Number.isNaN(x) && Number.isNaN(f32FromBits(h << 16))));
      if (Number.isNaN(x)) assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(x))));
      else assert.equal(f32ToBf16Bits(x), h, `bf16 bits 0x${h.toString(16)}`);
    }
  });

  it('F16 known values: subnormals, max, overflow, ties to even', () => {
    assert.equal(f16BitsToF32(0x0001), 2 ** -24);
    assert.equal(f16BitsToF32(0x03ff), 1023 * 2 ** -24);
    assert.equal(f16BitsToF32(0x7bff), 65504);
    assert.equal(f16BitsToF32(0x7c00), Infinity);
    assert.equal(f16BitsToF32(0xfc00), -Infinity);
    assert.ok(Object.is(f16BitsToF32(0x8000), -0));
    assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even (down)
    assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
    assert.equal(f32ToF16Bits(65519), 0x7bff);
    assert.equal(f32ToF16Bits(65520), 0x7c00); // tie between 65504 and 2^16 → Infinity
    assert.equal(f32ToF16Bits(1e9), 0x7c00);
    assert.equal(f32ToF16Bits(-1e9), 0xfc00);
    assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // tie → 0
    assert.equal(f32ToF16Bits(2 ** -25 * 1.0001), 0x0001);
    assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002); // 1.5 ulp tie → even
    assert.equal(f32ToF16Bits(-(2 ** -30)), 0x8000);
    assert.equal(f32ToF16Bits(2 ** -14 * (1 - 2 ** -12)), 0x0400); // rounds up into the smallest normal
    assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
  });

  it('BF16 known values: ties to even, overflow, NaN', () => {
    assert.equal(f32ToBf16Bits(1), 0x3f80);
    assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie → even (down)
    assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie → even (up)
    assert.equal(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81);
    assert.equal(f32ToBf16Bits(f32FromBits(0x7f7fffff)), 0x7f80); // largest float32 → Infinity
    assert.equal(f32ToBf16Bits(-Infinity), 0xff80);
    assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
    assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(f32FromBits(0x7f800001))))); // signalling NaN stays NaN
  });

  it('f32 → F16/BF16 picks the nearest value (ties to even) for random inputs', () => {
    const r = rng(7);
    const xs = new Float32Array(20000);
    for (let i = 0; i < xs.length; i++) xs[i] = (r() * 2 - 1) * 2 ** Math.floor(r() * 40 - 30);
    const h16 = f32ToF16Array(xs);
    const b16 = f32ToBf16Array(xs);
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      for (const [bits, dec] of [
        [h16[i]!, f16BitsToF32],
        [b16[i]!, bf16BitsToF32],
      ] as const) {
        const y = dec(bits);
        const err = Math.abs(y - x);
        for (const nb of [bits - 1, bits + 1]) {
          if ((nb & 0x7fff) >= (dec === f16BitsToF32 ? 0x7c00 : 0x7f80) || nb < 0 || (nb & 0x7fff) === 0x7fff) continue;
          if (((nb ^ bits) & 0x8000) !== 0) continue;
          const e2 = Math.abs(dec(nb) - x);
          assert.ok(err < e2 || (err === e2 && (bits & 1) === 0), `x=${x} got ${y}, neighbour ${dec(nb)} is closer`);
        }
      }
    }
  });
});

describe('writeSafetensors / readSafetensorsHeader / readTensorF32', () => {
  it('round-trips F32 exactly, special values and odd shapes included', () => {
    const path = fresh();
    const special = new Float32Array([0, -0, 1, -1, Infinity, -Infinity, NaN, 3.4028234663852886e38, 1.401298464324817e-45, 1 / 3]);
    const tensors: TensorToWrite[] = [
      { name: 'special', dtype: 'F32', shape: [2, 5], data: special },
      { name: 'random', dtype: 'F32', shape: [3, 7, 11], data: randomValues(231) },
      { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([42.5]) },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      { name: 'odd name ünïcode.weight', dtype: 'F32', shape: [1], data: new Float32Array([7]) },
    ];
    writeSafetensors(path, tensors);
    const h = readSafetensorsHeader(path);
    assert.deepEqual(h.metadata, {});
    assert.deepEqual(h.tensors.map((t) => t.name), tensors.map((t) => t.name));
    const byName = new Map(h.tensors.map((t) => [t.name, t]));
    for (const t of tensors) {
      const e = byName.get(t.name)!;
      assert.ok(e, t.name);
      assert.equal(e.dtype, 'F32');
      assert.deepEqual(e.shape, t.shape);
      assert.equal(e.byteLength, t.data.length * 4);
      assert.equal(e.file, path);
      const back = readTensorF32(e);
      assert.equal(back.length, t.data.length);
      for (let i = 0; i < back.length; i++) assert.ok(Object.is(back[i], t.data[i]), `${t.name}[${i}]: ${back[i]} vs ${t.data[i]}`);
    }
    assert.ok(!existsSync(path + '.tmp'));
  });

  it('round-trips F16 and BF16 within their rounding, exactly where representable', () => {
    const path = fresh();
    const exact = new Float32Array([0, -0, 1, -2, 0.5, 65504, 2 ** -24, -(2 ** -14), 1024 + 1, Infinity, -Infinity]);
    const exactBf = new Float32Array([0, -0, 1, -2, 0.5, 2 ** 100, 2 ** -126, 3.140625, 256 + 2, Infinity, -Infinity]);
    const rand = randomValues(5000, 100);
    writeSafetensors(path, [
      { name: 'h.exact', dtype: 'F16', shape: [exact.length], data: exact },
      { name: 'b.exact', dtype: 'BF16', shape: [exactBf.length], data: exactBf },
      { name: 'h.rand', dtype: 'F16', shape: [50, 100], data: rand },
      { name: 'b.rand', dtype: 'BF16', shape: [100, 50], data: rand },
      { name: 'h.nan', dtype: 'F16', shape: [1], data: new Float32Array([NaN]) },
      { name: 'b.nan', dtype: 'BF16', shape: [1], data: new Float32Array([NaN]) },
    ]);
    const got = readAll(path);
    assert.deepEqual([...got.get('h.exact')!], [...exact]);
    assert.ok(Object.is(got.get('h.exact')![1], -0));
    assert.deepEqual([...got.get('b.exact')!], [...exactBf]);
    for (const [name, relTol] of [
      ['h.rand', 2 ** -11],
      ['b.rand', 2 ** -8],
    ] as const) {
      const y = got.get(name)!;
      for (let i = 0; i < rand.length; i++) {
        const x = rand[i]!;
        const tol = Math.max(Math.abs(x) * relTol, name === 'h.rand' ? 2 ** -25 : 0);
        assert.ok(Math.abs(y[i]! - x) <= tol, `${name}[${i}]: ${y[i]} vs ${x}`);
      }
    }
    assert.ok(Number.isNaN(got.get('h.nan')![0]));
    assert.ok(Number.isNaN(got.get('b.nan')![0]));
    const h = readSafetensorsHeader(path);
    assert.equal(h.tensors.find((t) => t.name === 'h.rand')!.byteLength, 10000);
    assert.equal(h.tensors.find((t) => t.name === 'b.rand')!.byteLength, 10000);
  });

  it('round-trips metadata', () => {
    const path = fresh();
    const metadata = { format: 'pt', 'ponder.step': '1200', note: 'línea "quoted"\nsecond line' };
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }], metadata);
    assert.deepEqual(readSafetensorsHeader(path).metadata, metadata);
  });

  it('writes tensors in the given order, with the header padded with spaces to a multiple of 8', () => {
    for (const name of ['a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh']) {
      const path = fresh();
      writeSafetensors(path, [
        { name: 'zeta', dtype: 'BF16', shape: [3], data: new Float32Array([1, 2, 3]) },
        { name, dtype: 'F32', shape: [1], data: new Float32Array([4]) },
        { name: 'alpha', dtype: 'F16', shape: [2], data: new Float32Array([5, 6]) },
      ]);
      const buf = readFileSync(path);
      const n = Number(buf.readBigUInt64LE(0));
      assert.equal(n % 8, 0);
      const text = buf.subarray(8, 8 + n).toString('utf8');
      assert.match(text, /^\{.*\} *$/);
      const json = JSON.parse(text) as Record<string, { data_offsets: [number, number] }>;
      assert.deepEqual(Object.keys(json), ['zeta', name, 'alpha']);
      assert.deepEqual(json.zeta!.data_offsets, [0, 6]);
      assert.deepEqual(json[name]!.data_offsets, [6, 10]);
      assert.deepEqual(json.alpha!.data_offsets, [10, 14]);
      assert.equal(buf.length, 8 + n + 14);
      const h = readSafetensorsHeader(path);
      assert.deepEqual(h.tensors.map((t) => t.name), ['zeta', name, 'alpha']);
      assert.deepEqual(h.tensors.map((t) => t.byteOffset), [8 + n, 8 + n + 6, 8 + n + 10]);
    }
  });

  it('writes and reads tensors larger than one chunk', () => {
    const path = fresh();
    const n = (1 << 22) + 12345; // > the 1M-element write chunk and the 4M-element read chunk
    const data = randomValues(n);
    writeSafetensors(path, [
      { name: 'big16', dtype: 'F16', shape: [n], data },
      { name: 'big32', dtype: 'F32', shape: [n], data },
    ]);
    const got = readAll(path);
    const h16 = f32ToF16Array(data);
    const y16 = got.get('big16')!;
    for (let i = 0; i < n; i += 997) assert.equal(f32ToF16Bits(y16[i]!), h16[i], `big16[${i}]`);
    assert.equal(y16[n - 1], f16BitsToF32(h16[n - 1]!));
    assert.deepEqual(got.get('big32'), data);
  });

  it('refuses to write a path in a directory that does not exist, leaving nothing behind', () => {
    const dir = join(root, 'no-such-dir');
    const path = join(dir, 'model.safetensors');
    throwsPonder(() => writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]), 'NOT_FOUND', /no-such-dir.*does not exist/);
    assert.ok(!existsSync(dir));
  });

  it('refuses data that does not match the shape before creating any file', () => {
    const path = fresh();
    throwsPonder(() => writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [2, 3], data: new Float32Array(5) }]), 'SHAPE', /"w".*\[2, 3\].*6 elements.*5 values/);
    throwsPonder(() => writeSafetensors(path, [{ name: 'w', dtype: 'I64' as 'F32', shape: [1], data: new Float32Array(1) }]), 'BAD_INPUT', /I64.*F32, F16, BF16/);
    throwsPonder(
      () =>
        writeSafetensors(path, [
          { name: 'w', dtype: 'F32', shape: [1], data: new Float32Array(1) },
          { name: 'w', dtype: 'F32', shape: [1], data: new Float32Array(1) },
        ]),
      'BAD_INPUT',
      /"w" is given twice/,
    );
    assert.deepEqual(readdirSync(join(path, '..')), []);
  });

  it('leaves an existing file intact when writing fails midway', () => {
    const path = fresh();
    const original = new Float32Array([1, 2, 3, 4]);
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4], data: original }]);
    const before = readFileSync(path);
    /** Data whose bytes cannot be produced: the failure happens after the header and first tensor were written. */
    class Exploding extends Float32Array {
      override subarray(): Float32Array<ArrayBuffer> {
        throw new Error('simulated I/O failure');
      }
    }
    assert.throws(
      () =>
        writeSafetensors(path, [
          { name: 'w', dtype: 'F32', shape: [4], data: new Float32Array([9, 9, 9, 9]) },
          { name: 'v', dtype: 'BF16', shape: [2], data: new Exploding(2) },
        ]),
      /simulated I\/O failure/,
    );
    assert.deepEqual(readFileSync(path), before);
    assert.ok(!existsSync(path + '.tmp'));
    assert.deepEqual(readTensorF32(readSafetensorsHeader(path).tensors[0]!), original);
  });
});

describe('readSafetensorsHeader refuses malformed files', () => {
  const okEntry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

  it('a missing file (NOT_FOUND)', () => {
    throwsPonder(() => readSafetensorsHeader(join(root, 'nope.safetensors')), 'NOT_FOUND', /nope\.safetensors.*no such/);
  });

  it('a file shorter than 8 bytes', () => {
    const path = fresh('short.safetensors');
    writeFileSync(path, Buffer.from([1, 2, 3]));
    throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', /short\.safetensors.*only 3 bytes/);
  });

  it('an absurd header size (u64 = 2^40)', () => {
    const path = rawFile({ w: okEntry }, 8, { headerLen: 2n ** 40n });
    throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', /x\.safetensors: header length 1099511627776 bytes is absurd/);
  });

  it('a header size larger than the file', () => {
    const path = rawFile({ w: okEntry }, 8, { headerLen: 5000n });
    throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', /header length 5000 bytes is more than the \d+ bytes that follow/);
  });

  it('a header that is not UTF-8', () => {
    const path = fresh();
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(4n);
    writeFileSync(path, Buffer.concat([prefix, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]));
    throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', /not valid UTF-8/);
  });

  it('a header that is not valid JSON', () => {
    const path = rawFile('{"w": {"dtype": "F32", ', 8);
    throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', /x\.safetensors: the header is not valid JSON/);
  });

  it('a header that is not an object', () => {
    throwsPonder(() => readSafetensorsHeader(rawFile('[1, 2]', 0)), 'BAD_INPUT', /must be a JSON object, but it is an array/);
    throwsPonder(() => readSafetensorsHeader(rawFile('null', 0)), 'BAD_INPUT', /must be a JSON object, but it is null/);
  });

  it('entries missing dtype, shape or data_offsets, or with the wrong types', () => {
    const { dtype: _d, ...noDtype } = okEntry;
    const { shape: _s, ...noShape } = okEntry;
    const { data_offsets: _o, ...noOffsets } = okEntry;
    const cases: [unknown, RegExp][] = [
      [noDtype, /tensor "w" has no dtype/],
      [noShape, /tensor "w" has no shape/],
      [noOffsets, /tensor "w" has no data_offsets/],
      [5, /tensor "w" must be an object/],
      [{ ...okEntry, dtype: 32 }, /"w": dtype must be a string/],
      [{ ...okEntry, shape: '2' }, /"w": shape must be an array/],
      [{ ...okEntry, shape: [-2] }, /"w": shape \[-2\] has number -2 — dimensions must be non-negative integers/],
      [{ ...okEntry, shape: [1.5] }, /"w": shape \[1\.5\].*non-negative integers/],
      [{ ...okEntry, shape: ['2'] }, /"w": shape .*the string "2"/],
      [{ ...okEntry, data_offsets: [0] }, /"w": data_offsets must be \[begin, end\].*\[0\]/],
      [{ ...okEntry, data_offsets: [0, 8.5] }, /"w": data_offsets must be \[begin, end\]/],
      [{ ...okEntry, data_offsets: [-1, 7] }, /"w": data_offsets must be \[begin, end\]/],
      [{ ...okEntry, data_offsets: 'x' }, /"w": data_offsets must be \[begin, end\]/],
      [{ ...okEntry, data_offsets: [8, 0] }, /"w": data_offsets \[8, 0\] begins after it ends/],
    ];
    for (const [entry, re] of cases) throwsPonder(() => readSafetensorsHeader(rawFile({ w: entry }, 8)), 'BAD_INPUT', re);
  });

  it('unknown or unsupported dtypes, naming them and the supported ones', () => {
    for (const [dtype, kind] of [
      ['I64', 'unsupported'],
      ['F64', 'unsupported'],
      ['U8', 'unsupported'],
      ['Q4_K', 'unknown'],
    ]) {
      const path = rawFile({ w: { ...okEntry, dtype } }, 8);
      throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', new RegExp(`tensor "w" has ${kind} dtype ${dtype} \\(supported: F32, F16, BF16\\)`));
    }
  });

  it('a header offset past the end of the data', () => {
    const path = rawFile({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 10);
    throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', /tensor "w" ends at byte 16 but the data section is only 10 bytes \(6 bytes missing\) — the file is truncated\?/);
  });

  it('a truncated file (last bytes cut)', () => {
    const path = fresh();
    writeSafetensors(path, [
      { name: 'a', dtype: 'F32', shape: [8], data: new Float32Array(8) },
      { name: 'b', dtype: 'BF16', shape: [8], data: new Float32Array(8) },
    ]);
    const size = readFileSync(path).length;
    truncateSync(path, size - 5);
    throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', /tensor "b" ends at byte 48 but the data section is only 43 bytes \(5 bytes missing\) — the file is truncated\?/);
  });

  it('a shape that does not match the byte size', () => {
    const path = rawFile({ w: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 8] } }, 8);
    throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', /"w": shape \[2, 3\] of BF16 needs 12 bytes but data_offsets \[0, 8\] span 8/);
  });

  it('overlapping tensors', () => {
    const path = rawFile(
      {
        a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
      },
      24,
    );
    throwsPonder(() => readSafetensorsHeader(path), 'BAD_INPUT', /tensors "a" \(data_offsets \[0, 16\]\) and "b" \(data_offsets \[12, 20\]\) overlap/);
  });

  it('accepts empty tensors sharing an offset, and tensors listed out of data order', () => {
    const path = rawFile(
      {
        __metadata__: { format: 'pt' },
        b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
        e: { dtype: 'F16', shape: [0], data_offsets: [8, 8] },
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      },
      12,
    );
    const h = readSafetensorsHeader(path);
    assert.deepEqual(h.tensors.map((t) => t.name), ['a', 'e', 'b']);
    assert.deepEqual(h.metadata, { format: 'pt' });
    assert.equal(readTensorF32(h.tensors[1]!).length, 0);
  });

  it('metadata that is not an object of strings', () => {
    throwsPonder(() => readSafetensorsHeader(rawFile({ __metadata__: { step: 3 }, w: okEntry }, 8)), 'BAD_INPUT', /__metadata__ value "step" must be a string/);
    throwsPonder(() => readSafetensorsHeader(rawFile({ __metadata__: [], w: okEntry }, 8)), 'BAD_INPUT', /__metadata__ must be an object/);
  });
});

describe('openSafetensorsModel', () => {
  function shardedDir(): { dir: string; index: Record<string, unknown> } {
    const dir = join(root, `model-${counter++}`);
    mkdirSync(dir);
    writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), [
      { name: 'embed.weight', dtype: 'BF16', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { name: 'layers.0.w', dtype: 'F32', shape: [3], data: new Float32Array([0.1, 0.2, 0.3]) },
    ]);
    writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), [
      { name: 'layers.1.w', dtype: 'F16', shape: [2], data: new Float32Array([-1.5, 8]) },
    ]);
    const index = {
      metadata: { total_size: 26 },
      weight_map: {
        'embed.weight': 'model-00001-of-00002.safetensors',
        'layers.0.w': 'model-00001-of-00002.safetensors',
        'layers.1.w': 'model-00002-of-00002.safetensors',
      },
    };
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index, null, 2));
    return { dir, index };
  }

  it('opens a sharded directory through model.safetensors.index.json', () => {
    const { dir } = shardedDir();
    const m = openSafetensorsModel(dir);
    assert.deepEqual(
      m.files,
      [join(dir, 'model-00001-of-00002.safetensors'), join(dir, 'model-00002-of-00002.safetensors')],
    );
    assert.deepEqual([...m.tensors.keys()].sort(), ['embed.weight', 'layers.0.w', 'layers.1.w']);
    assert.deepEqual([...readTensorF32(m.tensors.get('embed.weight')!)], [1, 2, 3, 4]);
    assert.deepEqual(readTensorF32(m.tensors.get('layers.0.w')!), new Float32Array([0.1, 0.2, 0.3]));
    assert.deepEqual([...readTensorF32(m.tensors.get('layers.1.w')!)], [-1.5, 8]);
    assert.equal(m.tensors.get('layers.1.w')!.file, join(dir, 'model-00002-of-00002.safetensors'));
    const idx = readSafetensorsIndex(join(dir, 'model.safetensors.index.json'));
    assert.equal(idx.weightMap.get('layers.1.w'), join(dir, 'model-00002-of-00002.safetensors'));
  });

  it('opens a single model.safetensors, or a .safetensors file named directly', () => {
    const path = fresh('model.safetensors');
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [1], data: new Float32Array([3]) }]);
    for (const p of [join(path, '..'), path]) {
      const m = openSafetensorsModel(p);
      assert.deepEqual(m.files, [path]);
      assert.deepEqual([...readTensorF32(m.tensors.get('w')!)], [3]);
    }
  });

  it('a missing directory, or one without safetensors weights (NOT_FOUND)', () => {
    throwsPonder(() => openSafetensorsModel(join(root, 'missing-model')), 'NOT_FOUND', /missing-model: model directory does not exist/);
    const empty = join(fresh(), '..');
    throwsPonder(() => openSafetensorsModel(empty), 'NOT_FOUND', /no model\.safetensors or model\.safetensors\.index\.json/);
  });

  it('an index that is not valid JSON or has no weight_map', () => {
    const { dir } = shardedDir();
    const indexPath = join(dir, 'model.safetensors.index.json');
    writeFileSync(indexPath, '{"weight_map": {');
    throwsPonder(() => openSafetensorsModel(dir), 'BAD_INPUT', /index\.json: the index is not valid JSON/);
    writeFileSync(indexPath, JSON.stringify({ metadata: {} }));
    throwsPonder(() => openSafetensorsModel(dir), 'BAD_INPUT', /index\.json: the index has no weight_map/);
    writeFileSync(indexPath, JSON.stringify({ weight_map: { a: 5 } }));
    throwsPonder(() => openSafetensorsModel(dir), 'BAD_INPUT', /weight_map entry for tensor "a" must be a shard file name/);
    writeFileSync(indexPath, JSON.stringify({ weight_map: { a: '../evil.safetensors' } }));
    throwsPonder(() => openSafetensorsModel(dir), 'BAD_INPUT', /outside the model directory/);
  });

  it('a missing shard (NOT_FOUND naming it)', () => {
    const { dir } = shardedDir();
    rmSync(join(dir, 'model-00002-of-00002.safetensors'));
    throwsPonder(() => openSafetensorsModel(dir), 'NOT_FOUND', /model-00002-of-00002\.safetensors: shard file listed in model\.safetensors\.index\.json does not exist/);
  });

  it('a tensor listed in weight_map that its shard does not contain', () => {
    const { dir, index } = shardedDir();
    const wm = index.weight_map as Record<string, string>;
    wm['lm_head.weight'] = 'model-00002-of-00002.safetensors';
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    throwsPonder(() => openSafetensorsModel(dir), 'BAD_INPUT', /tensor "lm_head\.weight" is listed in weight_map for model-00002-of-00002\.safetensors, but that shard does not contain it/);
    // Listed under the wrong shard.
    delete wm['lm_head.weight'];
    wm['layers.0.w'] = 'model-00002-of-00002.safetensors';
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    throwsPonder(() => openSafetensorsModel(dir), 'BAD_INPUT', /"layers\.0\.w" is listed .* for model-00002-of-00002\.safetensors.*\(it is in model-00001-of-00002\.safetensors\)/);
  });

  it('a tensor present in two shards', () => {
    const { dir } = shardedDir();
    writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), [
      { name: 'layers.1.w', dtype: 'F16', shape: [2], data: new Float32Array([-1.5, 8]) },
      { name: 'embed.weight', dtype: 'F32', shape: [1], data: new Float32Array([0]) },
    ]);
    throwsPonder(() => openSafetensorsModel(dir), 'BAD_INPUT', /tensor "embed\.weight" is in two shards: model-00001-of-00002\.safetensors and model-00002-of-00002\.safetensors/);
  });

  it('a malformed shard is reported with the shard’s own path', () => {
    const { dir } = shardedDir();
    const shard = join(dir, 'model-00002-of-00002.safetensors');
    truncateSync(shard, readFileSync(shard).length - 1);
    throwsPonder(() => openSafetensorsModel(dir), 'BAD_INPUT', /model-00002-of-00002\.safetensors: tensor "layers\.1\.w" ends at byte 4 .* truncated/);
  });
});
