import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PonderError } from '../../src/errors.js';
import { candidateUniform, drawU32, gumbelUniform, mulhilo, philox4x32, philoxGpu, RNG_DOMAIN, seedKey, u32ToUnit } from '../../src/sample/rng.js';
import { assertEqualInts } from '../helpers/compare.js';
import { poisoned, testGpu } from '../helpers/gpu.js';
import { randomInts, rng, testSeed } from '../helpers/random.js';

const hex = (a: ArrayLike<number>) => Array.from(a, (v) => v.toString(16).padStart(8, '0')).join(' ');

describe('Philox4x32-10 (CPU)', () => {
  it('matches the Random123 known-answer vectors', () => {
    assert.equal(hex(philox4x32(0, 0, 0, 0, 0, 0)), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    const f = 0xffffffff;
    assert.equal(hex(philox4x32(f, f, f, f, f, f)), '408f276d 41c83b0e a20bc7c6 6d5451fd');
    assert.equal(hex(philox4x32(0xa4093822, 0x299f31d0, 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344)), 'd16cfe09 94fdcceb 5001e420 24126ea1');
  });

  it('mulhilo equals the exact 64-bit product', () => {
    const r = rng();
    const edge = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
    const vals = [...edge, ...randomInts(200, r, 2 ** 32)];
    for (const a of vals) {
      for (const b of edge.concat(Array.from(randomInts(8, r, 2 ** 32)))) {
        const prod = BigInt(a) * BigInt(b);
        const [hi, lo] = mulhilo(a, b);
        assert.equal(hi, Number(prod >> 32n), `hi of ${a} * ${b}`);
        assert.equal(lo, Number(prod & 0xffffffffn), `lo of ${a} * ${b}`);
      }
    }
  });

  it('maps u32 to f32-exact uniforms strictly inside (0, 1)', () => {
    for (const x of [0, 1, 511, 512, 0x7fffffff, 0x80000000, 0xfffffe00, 0xffffffff]) {
      const u = u32ToUnit(x);
      assert.ok(u > 0 && u < 1, `u(${x}) = ${u}`);
      assert.equal(Math.fround(u), u, `u(${x}) is not an f32`);
      assert.ok(1 - u > 0 && Math.fround(1 - u) === 1 - u, `1 - u(${x}) is not an exact f32`);
    }
  });

  it('keys the seed as (lo, hi) words and rejects bad seeds', () => {
    assert.deepEqual(seedKey(5), [5, 0]);
    assert.deepEqual(seedKey(2 ** 40 + 7), [7, 256]);
    for (const bad of [-1, 1.5, NaN, 2 ** 53]) {
      assert.throws(() => seedKey(bad), (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && /seed/.test(e.message));
    }
  });

  it('helpers draw from the documented counters', () => {
    const seed = 2 ** 33 + 99;
    const words = philox4x32(99, 2, 3, 7, 11, RNG_DOMAIN.gumbel);
    assert.equal(gumbelUniform(seed, 11, 7, 14), u32ToUnit(words[2])); // token 14 = block 3, word 2
    assert.equal(candidateUniform(seed, 11, 7), u32ToUnit(philox4x32(99, 2, 0, 7, 11, RNG_DOMAIN.candidate)[0]));
    assert.deepEqual(drawU32(seed, 11, 7, 3, 0), words);
  });
});

describe('Philox4x32-10: CPU == GPU bit for bit', () => {
  for (const seed of [0, 123456789, 2 ** 32 - 1, 2 ** 52 + 2 ** 32 * 77 + 5, testSeed]) {
    it(`agrees on 4099 counters with seed ${seed} (raw words and f32 uniforms)`, async () => {
      const gpu = await testGpu();
      const r = rng(testSeed ^ seed);
      const n = 4099;
      const ctr = randomInts(4 * n, r, 2 ** 32);
      // Edge counters and the sampler's own layout (small index/step/stream, domain 0/1).
      const specials = [
        [0, 0, 0, 0],
        [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
        [1, 0, 0, 0],
        [0, 1, 0, 1],
      ];
      specials.forEach((c, i) => ctr.set(c, 4 * i));
      for (let i = specials.length; i < 1000; i++) ctr.set([i, i % 17, i % 5, i & 1], 4 * i);
      const tc = gpu.upload(ctr, [n, 4]);
      const out = poisoned(gpu, [n, 8], 'u32');
      philoxGpu(gpu, seed, tc, out);
      const got = await gpu.readU32(out);
      const [k0, k1] = seedKey(seed);
      const want = new Uint32Array(8 * n);
      const bits = new Uint32Array(new Float32Array(4).buffer);
      const f = new Float32Array(bits.buffer);
      for (let i = 0; i < n; i++) {
        const w = philox4x32(k0, k1, ctr[4 * i], ctr[4 * i + 1], ctr[4 * i + 2], ctr[4 * i + 3]);
        for (let j = 0; j < 4; j++) f[j] = u32ToUnit(w[j]);
        want.set(w, 8 * i);
        want.set(bits, 8 * i + 4);
      }
      assertEqualInts(`philox seed ${seed}`, got, want);
      tc.release();
      out.release();
    });
  }
});
