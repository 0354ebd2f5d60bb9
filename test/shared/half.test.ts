/**
 * The float16 and bfloat16 conversions (src/shared/half.ts) against their definitions
 * (test/reference/half.ts) and against PyTorch's own rounding (fixtures/half/torch-rounding.json,
 * written by fixtures/half/generate.py with torch 1.13): every 16-bit pattern of both dtypes
 * widens exactly and rounds back to itself, and float32 and float64 values round to nearest,
 * ties to even, NaN, infinities and subnormals included.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { halfBitsOf, halfValues, roundToHalf, widenHalf, type HalfDType } from '../../src/shared/half.js';
import { halfValue, nearestHalf, nearestHalfBits } from '../reference/half.js';

const DTYPES: readonly HalfDType[] = ['float16', 'bfloat16'];
const ALL_BITS = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
const isNaNBits = (dtype: HalfDType, bits: number) => Number.isNaN(halfValue(dtype, bits));

const TORCH = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/half/torch-rounding.json', import.meta.url), 'utf8'),
) as { float32_bits: number[]; float16_bits: number[]; bfloat16_bits: number[] };

const float32OfBits = (bits: readonly number[]) => new Float32Array(Uint32Array.from(bits).buffer);

/** Numbers near a tie between two neighbours of `dtype` (the tie itself at nudge 0), `step` apart relative to it. */
const nearTies = (dtype: HalfDType, step: number) =>
  fc
    .tuple(
      fc.integer({ min: 0, max: dtype === 'float16' ? 0x7bfe : 0x7f7e }),
      fc.integer({ min: -3, max: 3 }),
      fc.boolean(),
    )
    .map(([bits, nudge, negative]) => {
      const tie = (halfValue(dtype, bits) + halfValue(dtype, bits + 1)) / 2;
      return (negative ? -1 : 1) * (tie + nudge * step * tie);
    });

for (const dtype of DTYPES) {
  test(`${dtype}: every 16-bit pattern widens to its defined value and rounds back to the same bits`, () => {
    const wide = new Float32Array(ALL_BITS.length);
    widenHalf(dtype, ALL_BITS, wide);
    const back = halfBitsOf(dtype, wide);
    const values = halfValues(dtype, ALL_BITS);
    for (let bits = 0; bits < ALL_BITS.length; bits++) {
      const want = halfValue(dtype, bits);
      if (Number.isNaN(want)) {
        assert.ok(Number.isNaN(wide[bits]) && Number.isNaN(values[bits]), `0x${bits.toString(16)} widens to NaN`);
        assert.ok(isNaNBits(dtype, back[bits]), `0x${bits.toString(16)} stays a NaN`);
        assert.equal(back[bits] & 0x8000, bits & 0x8000, `0x${bits.toString(16)} keeps its sign`);
        continue;
      }
      assert.ok(Object.is(wide[bits], want), `0x${bits.toString(16)} widens to ${want}, not ${wide[bits]}`);
      assert.ok(Object.is(values[bits], want), `0x${bits.toString(16)} reads as ${want}, not ${values[bits]}`);
      assert.equal(back[bits], bits, `0x${bits.toString(16)} rounds back to itself`);
    }
  });

  test(`${dtype}: float32 rounds as PyTorch rounds it (${TORCH.float32_bits.length} patterns: edges, ties, random)`, () => {
    const got = halfBitsOf(dtype, float32OfBits(TORCH.float32_bits));
    const want = dtype === 'float16' ? TORCH.float16_bits : TORCH.bfloat16_bits;
    for (let i = 0; i < want.length; i++) {
      const input = `float32 0x${TORCH.float32_bits[i].toString(16)}`;
      // a NaN's payload and sign are not arithmetic: PyTorch makes every bfloat16 NaN 0x7fc0
      if (isNaNBits(dtype, want[i])) assert.ok(isNaNBits(dtype, got[i]), `${input} -> a NaN`);
      else assert.equal(got[i], want[i], `${input} -> 0x${want[i].toString(16)}, not 0x${got[i].toString(16)}`);
    }
  });

  test(`${dtype}: float32 rounds to the nearest value, ties to even (against the definition)`, () => {
    fc.assert(
      fc.property(fc.oneof(fc.float(), nearTies(dtype, 2 ** -24).map(Math.fround)), (x) => {
        const [got] = halfBitsOf(dtype, Float32Array.of(x));
        const want = nearestHalfBits(dtype, x);
        if (Number.isNaN(x)) return isNaNBits(dtype, got);
        return got === want;
      }),
      { numRuns: 20_000 },
    );
  });

  test(`${dtype}: a JSON number (binary64) rounds once to the nearest value, ties to even`, () => {
    // near ties, closer than a float32 ulp: where rounding through float32 first goes wrong
    const doubles = fc.oneof(fc.double(), nearTies(dtype, 2 ** -40));
    fc.assert(
      fc.property(doubles, (x) => Object.is(roundToHalf(dtype, x), nearestHalf(dtype, x)) || Number.isNaN(x)),
      { numRuns: 20_000 },
    );
  });
}

test('the edges, by hand: overflow, ties, subnormals, NaN', () => {
  const f16 = (x: number) => halfBitsOf('float16', Float32Array.of(x))[0];
  const bf16 = (x: number) => halfBitsOf('bfloat16', Float32Array.of(x))[0];
  assert.equal(f16(65504), 0x7bff); // the largest float16
  assert.equal(f16(65519), 0x7bff); // below the overflow threshold 65520
  assert.equal(f16(65520), 0x7c00); // the threshold itself: the tie goes to the even "next value", infinity
  assert.equal(f16(2 ** -24), 0x0001); // the smallest subnormal
  assert.equal(f16(2 ** -25), 0x0000); // a tie with 0: to even
  assert.equal(f16(3 * 2 ** -25), 0x0002); // a tie between 1 and 2 subnormal ulps: to even
  assert.equal(f16(-0), 0x8000);
  assert.equal(bf16(1 + 2 ** -8), 0x3f80); // a tie: to even (1.0)
  assert.equal(bf16(1 + 3 * 2 ** -8), 0x3f82); // a tie: to even (1 + 2^-6)
  assert.equal(bf16(3.4028234663852886e38), 0x7f80); // float32's largest rounds up past bfloat16's
  assert.equal(bf16(2 ** -133), 0x0001); // bfloat16's smallest subnormal
  assert.equal(bf16(NaN) & 0x7fc0, 0x7fc0);
  assert.equal(bf16(-Infinity), 0xff80);
  // through float32 the first of these would land on a tie and go to even (1.0); once, it goes up
  assert.equal(roundToHalf('bfloat16', 1 + 2 ** -8 + 2 ** -40), 1 + 2 ** -7);
  assert.equal(roundToHalf('bfloat16', 1 + 2 ** -8), 1);
  assert.equal(roundToHalf('float16', 1e6), Infinity);
});

test('conversions read and write views at any offset, of shared memory too (split requests)', () => {
  for (const dtype of DTYPES) {
    const shared = new Float32Array(new SharedArrayBuffer(4 * 6), 8, 3);
    shared.set([0.1, -2.5, 65504]);
    const bits = halfBitsOf(dtype, shared);
    const want = Array.from(shared, (v) => nearestHalfBits(dtype, v));
    assert.deepEqual(Array.from(bits), want, dtype);
    const holder = new Uint16Array(5);
    holder.set(bits, 1);
    const out = new Float32Array(new SharedArrayBuffer(4 * 5), 4, 3);
    widenHalf(dtype, holder.subarray(1, 4), out);
    assert.deepEqual(
      Array.from(out),
      Array.from(bits, (b) => halfValue(dtype, b)),
      dtype,
    );
  }
});
